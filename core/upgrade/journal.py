"""The upgrade journal in the inventory: runs, steps, and the lock with its lease.

Every state change is committed at once, so a process killed at any moment leaves a journal from which
the next start can resume or roll back.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..context import Context, owner_alive
from ..context import owner_id as workspace_owner_id
from ..errors import Conflict, NotFound
from ..inventory.models import UpgradeLock, UpgradeRun, UpgradeStep
from .states import StepState

LEASE = timedelta(seconds=60)
HEARTBEAT_SECONDS = 10.0


def owner_id(ws: Context) -> str:
    """Who drives a run: the admin, the machine and the process."""
    return workspace_owner_id(ws.actor)


def _owner_alive(owner: str) -> bool:
    """False only when the owner ran on this machine and its process is gone."""
    return owner_alive(owner)


def get_run(session: Session, run_id: int) -> UpgradeRun:
    run = session.get(UpgradeRun, run_id)
    if run is None:
        raise NotFound(f"No upgrade run {run_id}: see `changeover upgrade --list`.")
    return run


def take_lock(ws: Context, session: Session, resource_id: int, run_id: int, resource_name: str) -> None:
    """Hold the resource for ``run_id`` (a new run) or take over its lease (a resumed one).

    Raises :class:`Conflict` naming the holder when another unfinished run holds the resource, or when
    another live process is driving this run.
    """
    me = owner_id(ws)
    now = ws.clock()
    lock = session.get(UpgradeLock, resource_id)
    if lock is None:
        session.add(UpgradeLock(resource_id=resource_id, run_id=run_id, owner=me, expires_at=now + LEASE))
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            lock = session.get(UpgradeLock, resource_id)
            if lock is None:  # pragma: no cover - released between our insert and this read
                raise Conflict(f"'{resource_name}' is being upgraded by another Changeover; try again.") from None
        else:
            return
    if lock.run_id != run_id:
        raise Conflict(
            f"'{resource_name}' is already being upgraded (run {lock.run_id}, {lock.owner}): finish it with "
            f"`changeover upgrade --resume {lock.run_id}` or roll it back with `--rollback {lock.run_id}`.",
        )
    if lock.owner != me and lock.expires_at > now and _owner_alive(lock.owner):
        until = lock.expires_at.astimezone().strftime("%H:%M:%S")
        raise Conflict(
            f"Upgrade run {run_id} is being driven by {lock.owner} (lease until {until}); wait for it, or "
            "resume once that process has stopped.",
        )
    lock.owner = me
    lock.expires_at = now + LEASE


def release_lock(session: Session, run_id: int) -> None:
    session.execute(delete(UpgradeLock).where(UpgradeLock.run_id == run_id))


def renew(ws: Context, run_id: int) -> None:
    with ws.session() as session:
        lock = session.scalar(select(UpgradeLock).where(UpgradeLock.run_id == run_id))
        if lock is not None and lock.owner == owner_id(ws):
            lock.expires_at = ws.clock() + LEASE
            session.commit()


def expire_lease(ws: Context, run_id: int) -> None:
    """Give up driving a run (it stopped, failed or paused) so any process may resume or roll it back."""
    with ws.session() as session:
        lock = session.scalar(select(UpgradeLock).where(UpgradeLock.run_id == run_id))
        if lock is not None and lock.owner == owner_id(ws):
            lock.expires_at = ws.clock()
            session.commit()


@contextlib.contextmanager
def heartbeat(ws: Context, run_id: int) -> Iterator[None]:
    """Renew the lease every few seconds while the body runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(Exception):
                renew(ws, run_id)

    thread = threading.Thread(target=beat, name=f"upgrade-{run_id}-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def update_step(
    ws: Context,
    run_id: int,
    name: str,
    *,
    state: str | None = None,
    message: str | None = None,
    data: dict[str, Any] | None = None,
    started: bool = False,
    finished: bool = False,
) -> None:
    """Commit one change to a step (and the run's current step)."""
    with ws.session() as session:
        run = get_run(session, run_id)
        step = next(s for s in run.steps if s.name == name)
        now = ws.clock()
        if state is not None:
            step.state = state
        if message is not None:
            step.message = message[:4000]
        if data is not None:
            step.data = {**(step.data or {}), **data}
        if started:
            step.started_at = now
            step.finished_at = None
            step.attempts += 1
        if finished:
            step.finished_at = now
        run.step = name
        run.updated_at = now
        session.commit()


def update_run(ws: Context, run_id: int, **values: Any) -> None:
    with ws.session() as session:
        run = get_run(session, run_id)
        stats = values.pop("stats", None)
        if stats:
            run.stats = {**(run.stats or {}), **stats}
        for key, value in values.items():
            setattr(run, key, value)
        run.updated_at = ws.clock()
        session.commit()


def step_data(ws: Context, run_id: int, name: str) -> dict[str, Any]:
    with ws.session() as session:
        run = get_run(session, run_id)
        return dict(next(s for s in run.steps if s.name == name).data or {})


def new_steps(names: tuple[str, ...]) -> list[UpgradeStep]:
    return [
        UpgradeStep(position=i, name=n, state=StepState.WAITING.value, message="", data={}) for i, n in enumerate(names)
    ]


def elapsed(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()
