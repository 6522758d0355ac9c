"""Running an upgrade: each step in turn with retries past the switch, a failure's way out, and the rollback."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..context import Context
from ..errors import Cancelled, ChangeoverError, Conflict
from ..inventory.models import ResourceState
from ..jobs import Progress, check_cancel, no_progress
from . import journal
from .routes import UNDO, step_function
from .runs import EventSink, RunEvent, RunInfo, no_events, show_run
from .states import FORWARD_RETRIES, TERMINAL, TITLES, RunState, StepState, UpgradeFailed, after_rollback, switch_index
from .steps import StepContext, passed_point_of_no_return

logger = logging.getLogger(__name__)

#: how a step waits before a retry (tests make it instant); seconds -> None
retry_sleep: Callable[[float], None] = time.sleep


def execute(
    ws: Context,
    run_id: int,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
    *,
    on_event: EventSink = no_events,
    on_failure: str = "rollback",
) -> RunInfo:
    """Run (or resume) an upgrade to its end.

    Before the switch a failure rolls back (``on_failure="rollback"``) or leaves the run failed for the
    admin to retry or roll back (``"pause"``, used by the wizard); a cancel always rolls back. From the
    switch on, each step is retried; a step that keeps failing leaves the run failed, to be resumed.
    Returns the run's final state; raises the error that ended a run that did not finish.
    """
    from ..transfer.partials import clean_partials

    clean_partials()  # a killed run's half-written backup folder
    with ws.session() as session:
        run = journal.get_run(session, run_id)
        if run.state in TERMINAL:
            raise Conflict(f"Upgrade run {run_id} is already {run.state.replace('_', ' ')}.")
        if run.state == RunState.ROLLING_BACK:
            raise Conflict(f"Upgrade run {run_id} was being rolled back: finish that with `--rollback {run_id}`.")
        journal.take_lock(ws, session, run.source_id, run.id, run.source.name)
        run.state = RunState.RUNNING
        run.error = ""
        session.commit()
    ctx = StepContext(ws, run_id, progress, cancel, on_event)
    names = tuple(s.name for s in ctx.run().steps)  # the run's own route
    with journal.heartbeat(ws, run_id):
        for index, name in enumerate(names):
            info = ctx.run()
            step = info.steps[index]
            if step.state in (StepState.DONE, StepState.SKIPPED):
                continue
            try:
                _run_step(ctx, index >= switch_index(names), name)
            except ChangeoverError as exc:
                return _after_failure(ctx, name, exc, on_failure)
            except Exception as exc:  # a bug, not a crash: handle it like any failure, so nothing stays half-done
                logger.exception("unexpected error in upgrade run %s at %s", run_id, name)
                unexpected = UpgradeFailed(
                    f"An unexpected error ({type(exc).__name__}) stopped this step; see the log."
                )
                return _after_failure(ctx, name, unexpected, on_failure)
    return ctx.run()


def _run_step(ctx: StepContext, forward: bool, name: str) -> None:
    attempts = FORWARD_RETRIES if forward else 1
    for attempt in range(1, attempts + 1):
        switched = ctx.run().switched
        if not switched:  # every step up to the switch itself starts at a safe point
            check_cancel(ctx.cancel, "The upgrade")
        journal.update_step(ctx.ws, ctx.run_id, name, state=StepState.RUNNING, message="", started=True)
        ctx.emit(RunEvent(ctx.run_id, name, StepState.RUNNING, TITLES[name]))

        def report(done: int, total: int | None, unit: str, message: str, _name: str = name) -> None:
            ctx.progress(done, total, unit, message)
            ctx.emit(RunEvent(ctx.run_id, _name, "progress", message, done, total, unit))

        try:
            message = step_function(ctx.run().route, name)(ctx, report) or ""
        except ChangeoverError as exc:
            if attempt == attempts or isinstance(exc, Cancelled) and not switched:
                raise
            journal.update_step(ctx.ws, ctx.run_id, name, state=StepState.RETRYING, message=exc.message)
            ctx.emit(RunEvent(ctx.run_id, name, StepState.RETRYING, f"{exc.message} (attempt {attempt} of {attempts})"))
            retry_sleep(min(2.0**attempt, 8.0))
            continue
        journal.update_step(ctx.ws, ctx.run_id, name, state=StepState.DONE, message=message, finished=True)
        ctx.emit(RunEvent(ctx.run_id, name, StepState.DONE, message))
        return


def _after_failure(ctx: StepContext, name: str, exc: ChangeoverError, on_failure: str) -> RunInfo:
    stopped = StepState.CANCELLED if isinstance(exc, Cancelled) else StepState.FAILED
    journal.update_step(ctx.ws, ctx.run_id, name, state=stopped, message=exc.message, finished=True)
    journal.expire_lease(ctx.ws, ctx.run_id)  # nobody drives a stopped run: another process may resume it now
    ctx.emit(RunEvent(ctx.run_id, name, stopped, exc.message))
    source = ctx.run().source
    if ctx.run().switched:  # past the point of no return: only forward
        journal.update_run(ctx.ws, ctx.run_id, state=RunState.FAILED, error=exc.message)
        ctx.ws.audit(
            "upgrade", "resource", source, "failed", f"run {ctx.run_id} at {name} (after the switch): {exc.message}"
        )
        raise UpgradeFailed(
            f"Upgrade run {ctx.run_id} stopped at '{TITLES[name]}' after the switch: {exc.message} "
            "The deploys already use the new database; fix the cause and run "
            f"`changeover upgrade --resume {ctx.run_id}`.",
        ) from None
    if isinstance(exc, Cancelled) or on_failure == "rollback":
        what = "was cancelled" if isinstance(exc, Cancelled) else f"failed at '{TITLES[name]}'"
        try:
            rollback(ctx.ws, ctx.run_id, ctx.progress, on_event=ctx.emit, reason=exc.message)
        except ChangeoverError as undo:
            # Keep the first failure in the message: the rollback's own error alone hides why the run stopped.
            journal.update_run(ctx.ws, ctx.run_id, error=f"{exc.message} Rollback: {undo.message}")
            ctx.ws.audit("upgrade rollback", "resource", source, "failed", f"run {ctx.run_id}: {undo.message}")
            raise UpgradeFailed(
                f"Upgrade run {ctx.run_id} {what}: {exc.message} Rolling it back did not finish: {undo.message} "
                f"Fix that and run `changeover upgrade --rollback {ctx.run_id}`; '{source}' was not changed.",
            ) from None
        text = (
            f"Upgrade run {ctx.run_id} {what}: {exc.message} It was rolled back: the deploys are out of "
            f"maintenance on '{source}', which was not changed; the new database is marked failed."
        )
        raise Cancelled(text) if isinstance(exc, Cancelled) else UpgradeFailed(text)
    journal.update_run(ctx.ws, ctx.run_id, state=RunState.FAILED, error=exc.message)
    ctx.ws.audit("upgrade", "resource", source, "failed", f"run {ctx.run_id} at {name}: {exc.message}")
    raise UpgradeFailed(
        f"Upgrade run {ctx.run_id} failed at '{TITLES[name]}': {exc.message} Retry it, or roll it back.",
    )


# -- rollback --------------------------------------------------------------------------------------


def rollback(
    ws: Context,
    run_id: int,
    progress: Progress = no_progress,
    *,
    on_event: EventSink = no_events,
    reason: str = "rolled back by the admin",
) -> RunInfo:
    """Undo an unfinished run that has not switched: deploys out of maintenance, new database marked failed.

    The source's data was never changed, so nothing needs restoring; what a step made beside it (the online
    route's replication slot, say) is removed by that step's undo (:data:`.routes.UNDO`), latest step first.
    Idempotent: safe to repeat after a crash.
    """
    from ..transfer.partials import clean_partials

    clean_partials()
    with ws.session() as session:
        run = journal.get_run(session, run_id)
        if run.state in TERMINAL:
            raise Conflict(f"Upgrade run {run_id} is already {run.state.replace('_', ' ')}.")
        if passed_point_of_no_return(ws, run_id):
            raise Conflict(
                f"Upgrade run {run_id} has passed the point of no return (the deploys use the new database): "
                f"resume it with `changeover upgrade --resume {run_id}` instead.",
            )
        journal.take_lock(ws, session, run.source_id, run.id, run.source.name)
        run.state = RunState.ROLLING_BACK
        session.commit()
    undo_ctx = StepContext(ws, run_id, progress, None, on_event)
    for done in reversed(undo_ctx.run().steps):
        if done.state != StepState.WAITING and done.name in UNDO:
            UNDO[done.name](undo_ctx, progress)
    with ws.session() as session:
        run = journal.get_run(session, run_id)
        now = ws.clock()
        if run.target is not None and run.target.state not in (ResourceState.DEPROVISIONED, ResourceState.ATTACHED):
            run.target.state = ResourceState.FAILED.value
            run.target.note = f"Upgrade run {run.id} was rolled back; deprovision this database when you like."
            run.target.updated_at = now
        for step in run.steps:
            step.state = after_rollback(step.state)
        run.state = RunState.ROLLED_BACK
        run.error = reason
        run.finished_at = now
        if run.maintenance_started_at and not run.maintenance_ended_at:
            run.maintenance_ended_at = now
        journal.release_lock(session, run.id)
        session.commit()
        source = run.source.name
    ws.audit("upgrade rollback", "resource", source, "ok", f"run {run_id}: {reason}")
    on_event(RunEvent(run_id, "rollback", StepState.ROLLED_BACK, reason))
    return show_run(ws, run_id)
