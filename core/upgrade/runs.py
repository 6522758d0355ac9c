"""What a run is, for the faces: its journal read as frozen records, its events, and the view a face shows.

:func:`view` reduces a :class:`RunInfo` and the events that followed into a :class:`RunView` (each step's
state, the current step's percent, rate and time left, the overall percent, whether the point of no
return has passed, what a face may offer), so the CLI and the window show the same thing and keep no
state of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ..context import Context
from ..inventory.models import UpgradeRun
from ..jobs import RateMeter
from . import journal
from .states import STEPS, TERMINAL, TITLES, WEIGHTS, RunState, Step, StepState, after_rollback


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
    route: str = "copy"  # how the run carries the database over (states.ROUTES)

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
        route=str((run.options or {}).get("route") or "copy"),
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


# -- the view a face shows ----------------------------------------------------------------------------


@dataclass
class RunProgress:
    """A run as a face shows it, kept from the journal (:meth:`sync`) and the events that follow (:meth:`apply`).

    Each step's state and message, the current step with its percent, rate and time left, the overall
    share done (weighted by step), whether the point of no return has passed, the maintenance window,
    and what the face may offer. The window and the CLI both render this; neither keeps state of its own.
    """

    #: each step of the run's route (the copy route's until :meth:`sync` or :meth:`for_steps` says otherwise)
    steps: dict[str, tuple[str, str]] = field(default_factory=lambda: {n: (StepState.WAITING, "") for n in STEPS})
    current: str = ""
    fraction: float = 0.0  # of the current step, when it reports a total
    switched: bool = False
    state: str = RunState.RUNNING
    maintenance_started: datetime | None = None
    maintenance_ended: datetime | None = None
    meter: RateMeter = field(default_factory=RateMeter)

    @classmethod
    def for_steps(cls, names: tuple[str, ...] | list[str]) -> RunProgress:
        """A view of a run not yet journaled, whose route has these steps (a plan's)."""
        return cls(steps={n: (StepState.WAITING, "") for n in names})

    def sync(self, run: RunInfo) -> None:
        """Take the journal's view of ``run`` (after a job, or when a face opens on an unfinished run)."""
        if [s.name for s in run.steps] != list(self.steps):  # the run's own route
            self.steps = {}
        for step in run.steps:
            self.steps[step.name] = (step.state, step.message)
        self.current, self.state, self.switched = run.step, run.state, run.switched
        self.fraction = 0.0
        self.meter.reset()
        if run.maintenance_started_at is not None:
            self.maintenance_started = run.maintenance_started_at
            if run.maintenance_seconds is not None:
                self.maintenance_ended = run.maintenance_started_at + timedelta(seconds=run.maintenance_seconds)

    def interrupted(self) -> None:
        """A run read after Changeover was stopped: its running steps are marked interrupted, not running."""
        for name, (state, message) in self.steps.items():
            if state in (StepState.RUNNING, StepState.RETRYING):
                self.steps[name] = (INTERRUPTED, message)

    def apply(self, event: RunEvent, at: datetime | None = None) -> None:
        """Fold one event into the view (``at``: when it arrived, for the maintenance window)."""
        at = at or datetime.now(UTC)
        if event.state == PROGRESS:
            if event.step == self.current:
                self.meter.update(event.done, event.total, event.unit)
                percent = self.meter.percent
                self.fraction = 0.0 if percent is None else percent / 100
            return
        if event.state == SWITCHED:
            self.switched = True
        elif event.state == StepState.ROLLED_BACK and event.step not in self.steps:  # the whole run
            for name, (state, message) in self.steps.items():
                self.steps[name] = (after_rollback(INTERRUPTED_AS.get(state, state)), message)
            self.state = RunState.ROLLED_BACK
            self.window_closes(at)
        elif event.step in self.steps:
            self.steps[event.step] = (event.state, event.message)
            if event.state == StepState.RUNNING:
                self.current, self.fraction = event.step, 0.0
                self.meter.reset()
                if event.step == Step.MAINTENANCE_ON and self.maintenance_started is None:
                    self.maintenance_started = at
            elif event.state == StepState.DONE:
                if event.step == self.current:
                    self.fraction = 1.0
                if event.step == Step.MAINTENANCE_OFF:
                    self.window_closes(at)

    def window_closes(self, at: datetime) -> None:
        if self.maintenance_started is not None and self.maintenance_ended is None:
            self.maintenance_ended = at

    @property
    def overall(self) -> float:
        """The share of the whole run done, 0 to 1, each step weighted by its usual share of the time."""
        done: float = sum(WEIGHTS[n] for n, (s, _) in self.steps.items() if s in (StepState.DONE, StepState.SKIPPED))
        if self.current and self.steps.get(self.current, ("", ""))[0] in (StepState.RUNNING, StepState.RETRYING):
            done += WEIGHTS[self.current] * self.fraction
        return done / sum(WEIGHTS[n] for n in self.steps)

    def maintenance_seconds(self, now: datetime | None = None) -> float | None:
        """The maintenance window so far (or in all, once over); None before it began."""
        if self.maintenance_started is None:
            return None
        end = self.maintenance_ended or now or datetime.now(UTC)
        return (end - self.maintenance_started).total_seconds()

    def offers(self, *, running: bool) -> frozenset[str]:
        """What a face may offer now: ``cancel`` while a run goes and has not switched; once it stopped,
        ``retry`` (or ``resume``) unless it is over, and ``rollback`` unless it switched; ``close`` when
        nothing runs."""
        if running:
            return frozenset() if self.switched else frozenset({CANCEL})
        if self.state in TERMINAL:
            return frozenset({CLOSE})
        found = {CLOSE}
        if self.state != RunState.ROLLING_BACK:
            found.add(RETRY)
        if not self.switched:
            found.add(ROLLBACK)
        return frozenset(found)


#: event states that are not step states
PROGRESS, SWITCHED = "progress", "switched"
#: a step that was running when Changeover stopped (a face's label; the journal says running)
INTERRUPTED = "interrupted"
INTERRUPTED_AS = {INTERRUPTED: StepState.RUNNING}
CANCEL, RETRY, ROLLBACK, CLOSE = "cancel", "retry", "rollback", "close"
