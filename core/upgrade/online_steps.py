"""The online route's own steps: copy the base and replicate while the app runs, drain in a short window.

preflight, provision, **base_copy**, **catch_up**, maintenance_on, **drain**, **verify**, switch,
maintenance_off, **cleanup**, finish: the steps in bold are here, the others are the copy route's
(:mod:`.steps`). They know no engine: each asks :func:`changeover.core.replication.strategy_for`.

The replication's journaled state (every name it makes, written before the thing is made) is the
``state`` of the base_copy step's data, so a crash at any moment can be resumed or undone: a cut base copy
is stopped and redone from scratch on an emptied target; a rollback, a cancel and the cleanup after the
switch all call the strategy's ``stop``, which leaves nothing on the source or the target.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import URL

from .. import engines
from ..formats import human_bytes
from ..jobs import Progress, check_cancel
from ..replication import Lag, Replication, State, strategy_for
from . import journal, steps
from .states import Step, UpgradeFailed
from .steps import StepContext

#: catch_up is done once the target is at most this far behind (run options ``max_lag_seconds`` and
#: ``max_lag_bytes``): the drain in the window then has only that much left to apply
MAX_LAG_SECONDS = 5.0
MAX_LAG_BYTES = 16 * 1024 * 1024
#: how long catch_up may take before the run gives up (``catch_up_timeout``), and the drain (``drain_timeout``)
CATCH_UP_TIMEOUT = 3600.0
DRAIN_TIMEOUT = 60.0
#: how often catch_up reads the lag
LAG_POLL = 0.5
#: the window's parts an online upgrade adds to the deploys' own (plan's estimate): the drain, and the exact
#: row counts of both sides (rows per second, both sides at once)
DRAIN_SECONDS = 1.0
COUNTED_ROWS_PER_SECOND = 5_000_000.0


def online_window(rows: int, deploy_seconds: float) -> float:
    """The maintenance window of an online upgrade: the drain, exact row counts of ``rows`` rows, the deploys'
    switch and hooks (``deploy_seconds``); the base copy and the catch-up happen before it, the app running."""
    return DRAIN_SECONDS + rows / COUNTED_ROWS_PER_SECOND + deploy_seconds


def _strategy(url: URL) -> Replication:
    engine = engines.of(url)
    found = strategy_for(engine.name)
    if found is None:
        raise UpgradeFailed(f"Changeover cannot replicate {engine.label}: take the copy route (--route copy).")
    return found


def _option(ctx: StepContext, key: str, default: float) -> float:
    with ctx.ws.session() as session:
        value = (journal.get_run(session, ctx.run_id).options or {}).get(key)
    return float(str(value)) if value is not None else default


class _Journaled(dict[str, Any]):
    """The replication's state, saved into the base_copy step's data as each key is set (before the thing it
    names is made), so a kill in the middle of ``start`` leaves the journal naming everything made."""

    def __init__(self, ctx: StepContext, initial: State) -> None:
        super().__init__(initial)
        self.ctx = ctx
        self._save()

    def _save(self) -> None:
        self.ctx.save(Step.BASE_COPY, state=dict(self))

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._save()

    def pop(self, key: str, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._save()
        return value


def _urls(ctx: StepContext) -> tuple[URL, URL]:
    source, target = ctx.urls()
    if target is None:
        raise UpgradeFailed("The new database is not provisioned yet: resume the run from its provision step.")
    return source, target


def replication_state(ctx: StepContext) -> State:
    """What the replication of this run made, as journaled (empty before the base copy began)."""
    return dict(ctx.data(Step.BASE_COPY).get("state") or {})


def lag_text(lag: Lag) -> str:
    """``12.4 MB, 0.8 s behind``: what both faces show while the target catches up."""
    size = human_bytes(lag.bytes_behind) if lag.bytes_behind is not None else "? bytes"
    seconds = f"{lag.seconds_behind:.1f} s" if lag.seconds_behind is not None else "? s"
    return f"{size}, {seconds} behind"


def _preflight(ctx: StepContext, report: Progress) -> str:
    """The shared pre-flight, then (until the base copy has begun) every requirement of the replication again."""
    message = steps.STEP_FUNCTIONS[Step.PREFLIGHT](ctx, report)
    if ctx.data(Step.BASE_COPY).get("started"):
        return message
    source, target = ctx.urls()
    missing = [f"{r.name}: {r.detail}" for r in _strategy(source).requirements(source, target) if not r.ok]
    if missing and target is not None:
        raise UpgradeFailed(f"Online replication is not possible: {'; '.join(missing)}. Nothing was changed.")
    return message


def _base_copy(ctx: StepContext, report: Progress) -> str:
    from .target import empty_database

    source, target = _urls(ctx)
    strategy = _strategy(source)
    data = ctx.data(Step.BASE_COPY)
    earlier = dict(data.get("state") or {})
    if data.get("started"):
        report(0, None, "", "Removing the replication of an interrupted base copy, emptying the new database")
        strategy.stop(source, target, earlier)
        empty_database(target)
    name = str(data.get("name") or f"co_online_{ctx.run_id}_{secrets.token_hex(4)}")
    ctx.save(Step.BASE_COPY, name=name, started=True, stopped=False)
    engines.check_empty(target)
    started = time.monotonic()
    state = _Journaled(ctx, {"name": name})
    strategy.start(source, target, name, state, report, ctx.cancel)
    seconds = time.monotonic() - started
    journal.update_run(ctx.ws, ctx.run_id, stats={"base_copy_seconds": seconds})
    verified = str(state.get("base_verified") or "")
    journal.update_run(ctx.ws, ctx.run_id, stats={"base_verified": verified})
    return f"base copied in {seconds:.1f} s; {verified}; replicating ({name})"


def _catch_up(ctx: StepContext, report: Progress) -> str:
    source, target = _urls(ctx)
    strategy = _strategy(source)
    state = replication_state(ctx)
    max_seconds = _option(ctx, "max_lag_seconds", MAX_LAG_SECONDS)
    max_bytes = _option(ctx, "max_lag_bytes", MAX_LAG_BYTES)
    timeout = _option(ctx, "catch_up_timeout", CATCH_UP_TIMEOUT)
    deadline = time.monotonic() + timeout
    first: int | None = None
    while True:
        lag = strategy.lag(source, target, state)
        behind = lag.bytes_behind
        if first is None and behind is not None:
            first = max(behind, 1)
        text = lag_text(lag)
        ctx.save(Step.CATCH_UP, lag=text, bytes_behind=behind, seconds_behind=lag.seconds_behind)
        done = max(0, (first or 0) - (behind or 0))
        report(done, first, "bytes", text)
        close_enough = (behind is not None and behind <= max_bytes) and (
            lag.seconds_behind is None or lag.seconds_behind <= max_seconds
        )
        if lag.caught_up or close_enough:
            return f"caught up: {text}"
        if time.monotonic() > deadline:
            raise UpgradeFailed(
                f"The new database did not catch up within {timeout:.0f} s ({text}): the source changes faster "
                "than it is applied. Retry at a quieter time, or take the copy route."
            )
        check_cancel(ctx.cancel, "The upgrade")
        if ctx.cancel is not None:
            ctx.cancel.wait(LAG_POLL)
        else:
            time.sleep(LAG_POLL)


def _drain(ctx: StepContext, report: Progress) -> str:
    source, target = _urls(ctx)
    strategy = _strategy(source)
    state = replication_state(ctx)
    started = time.monotonic()
    timeout = _option(ctx, "drain_timeout", DRAIN_TIMEOUT)
    lag = strategy.drain(source, target, state, timeout, report, ctx.cancel)
    seconds = time.monotonic() - started
    ctx.save(Step.DRAIN, applied=lag.applied, source=lag.source)
    journal.update_run(ctx.ws, ctx.run_id, stats={"drain_seconds": seconds})
    return f"every change applied (up to {lag.source}) in {seconds:.1f} s"


def _verify(ctx: StepContext, report: Progress) -> str:
    """The last check, in the window: exact row counts of every table equal on both sides, the target's applied
    position at the source's (taken at the drain), and every sequence at the source's position. Cheap: no
    checksums (the base copy is pg_dump's own snapshot, and every later change came by replication)."""
    from concurrent.futures import ThreadPoolExecutor

    from ..engines import display_url
    from ..transfer.backup import exact_counts
    from ..transfer.verify import TableSum, VerificationFailed, VerifyReport, sequence_positions, sequence_states
    from ..transfer.verify import compare as compare_sides

    source, target = _urls(ctx)
    strategy = _strategy(source)
    started = time.monotonic()
    report(0, None, "", "Counting the rows of every table on both sides")
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="online-verify") as pool:
        counted = [pool.submit(exact_counts, url, ctx.cancel) for url in (source, target)]
        source_rows, target_rows = (future.result() for future in counted)
    drained = str(ctx.data(Step.DRAIN).get("source") or "")
    lag = strategy.lag(source, target, replication_state(ctx))
    if not drained or not _applied_at_least(lag, drained):
        raise VerificationFailed(
            f"The new database has applied changes up to {lag.applied}, not the source's {drained or '(unknown)'} "
            "at the drain: nothing was switched. Retry the drain.",
            VerifyReport(display_url(source), display_url(target), ()),
        )
    has_sequences = engines.of(source).has_sequences and engines.of(target).has_sequences
    result = steps.journaled(ctx, compare_sides)(
        display_url(source),
        display_url(target),
        {name: TableSum(name, rows, "") for name, rows in source_rows.items()},
        {name: TableSum(name, rows, "") for name, rows in target_rows.items()},
        sequence_positions(source),
        sequence_positions(target),
        **(
            {"source_sequences": sequence_states(source), "target_sequences": sequence_states(target)}
            if has_sequences
            else {}
        ),
    )
    seconds = time.monotonic() - started
    rows = sum(source_rows.values())
    summary = (
        f"{len(source_rows)} tables, {rows:,} rows: exact counts equal; applied up to {drained}, the source's "
        f"position at the drain; {result.sequences} sequences at the source's position"
    )
    journal.update_run(ctx.ws, ctx.run_id, stats={"verify_seconds": seconds, "verified": summary, "rows": rows})
    return summary


def _applied_at_least(lag: Lag, position: str) -> bool:
    """The target's applied position is at or past ``position`` (PostgreSQL LSNs compare as hex pairs)."""
    if lag.applied == position or lag.caught_up:
        return True
    try:
        return _lsn(lag.applied) >= _lsn(position)
    except ValueError:
        return False


def _lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def _stop(ctx: StepContext, report: Progress) -> str:
    data = ctx.data(Step.BASE_COPY)
    state = dict(data.get("state") or {})
    if not state or data.get("stopped"):
        return "nothing to remove"
    source, target = ctx.urls()
    report(0, None, "", "Stopping replication, removing what it made on the source and the target")
    _strategy(source).stop(source, target, state)
    ctx.save(Step.BASE_COPY, stopped=True)
    return f"replication {state.get('name')} stopped; nothing of it is left on the source or the target"


def _cleanup(ctx: StepContext, report: Progress) -> str:
    message = _stop(ctx, report)
    journal.update_run(ctx.ws, ctx.run_id, stats={"kept": "no backup file (online upgrade)"})
    return message


def _undo_replication(ctx: StepContext, report: Progress) -> None:
    _stop(ctx, report)


#: the online route's own steps, and its own pre-flight and verify (put together with the others in :mod:`.routes`)
STEP_FUNCTIONS: dict[str, Callable[[StepContext, Progress], str]] = {
    Step.BASE_COPY.value: _base_copy,
    Step.CATCH_UP.value: _catch_up,
    Step.DRAIN.value: _drain,
    Step.CLEANUP.value: _cleanup,
}
ROUTE_STEP_FUNCTIONS: dict[str, Callable[[StepContext, Progress], str]] = {
    Step.PREFLIGHT.value: _preflight,
    Step.VERIFY.value: _verify,
}
UNDO: dict[str, Callable[[StepContext, Progress], None]] = {
    name: _undo_replication for name in (Step.BASE_COPY.value, Step.CATCH_UP.value, Step.DRAIN.value)
}
