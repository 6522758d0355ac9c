"""What a run is, for the faces: its journal read as frozen records, its events, and the view a face shows.

:func:`view` reduces a :class:`RunInfo` and the events that followed into a :class:`RunView` (each step's
state, the current step's percent, rate and time left, the overall percent, whether the point of no
return has passed, what a face may offer), so the CLI and the window show the same thing and keep no
state of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..context import Context
from ..inventory.models import UpgradeRun
from . import journal
from .states import TERMINAL, TITLES


@dataclass(frozen=True)
class StepInfo:
    name: str
    title: str
    state: str  # waiting, running, done, failed, rolled_back, skipped
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    message: str
    data: dict[str, Any]


@dataclass(frozen=True)
class RunInfo:
    id: int
    source: str
    target: str
    target_server: str | None
    state: str  # running, failed, rolling_back, rolled_back, done
    step: str
    keep_days: int
    deploys: tuple[tuple[str, str], ...]
    actor: str
    created_at: datetime
    finished_at: datetime | None
    switched_at: datetime | None
    maintenance_seconds: float | None
    backup_path: str | None
    error: str
    stats: dict[str, Any]
    steps: tuple[StepInfo, ...]
    maintenance_started_at: datetime | None = None  # for a face that shows the window as it runs

    @property
    def switched(self) -> bool:
        return self.switched_at is not None

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL


@dataclass(frozen=True)
class RunEvent:
    """One thing that happened in a run, for a face to show: a step changed state, or progressed."""

    run_id: int
    step: str
    state: str  # running, progress, done, failed, retrying, rolled_back, switched
    message: str = ""
    done: int = 0
    total: int | None = None
    unit: str = ""


EventSink = Callable[[RunEvent], None]


def no_events(event: RunEvent) -> None:
    pass


def run_info(run: UpgradeRun) -> RunInfo:
    return RunInfo(
        id=run.id,
        source=run.source.name,
        target=run.target_name,
        target_server=run.target_server,
        state=run.state,
        step=run.step,
        keep_days=run.keep_days,
        deploys=tuple((d["deploy"], d["env_var"]) for d in run.deploys or []),
        actor=run.actor,
        created_at=run.created_at,
        finished_at=run.finished_at,
        switched_at=run.switched_at,
        maintenance_seconds=journal.elapsed(run.maintenance_started_at, run.maintenance_ended_at),
        backup_path=run.backup_path,
        error=run.error,
        stats=dict(run.stats or {}),
        steps=tuple(
            StepInfo(
                s.name, TITLES[s.name], s.state, s.attempts, s.started_at, s.finished_at, s.message, dict(s.data or {})
            )
            for s in run.steps
        ),
        maintenance_started_at=run.maintenance_started_at,
    )


def list_runs(ws: Context, *, unfinished: bool = False) -> list[RunInfo]:
    with ws.session() as session:
        query = select(UpgradeRun).order_by(UpgradeRun.id.desc())
        if unfinished:
            query = query.where(UpgradeRun.state.not_in(TERMINAL))
        return [run_info(r) for r in session.scalars(query)]


def show_run(ws: Context, run_id: int) -> RunInfo:
    with ws.session() as session:
        return run_info(journal.get_run(session, run_id))
