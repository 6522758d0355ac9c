"""The view of a run that both faces render: events folded into step states, progress, offers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from changeover.core.upgrade.runs import CANCEL, CLOSE, RETRY, ROLLBACK, RunEvent, RunProgress
from changeover.core.upgrade.states import ROUTES, STEPS, WEIGHTS, after_rollback

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def events(progress: RunProgress, *items: tuple[str, str], at: datetime = T0) -> None:
    for step, state in items:
        progress.apply(RunEvent(1, step, state), at)


def test_steps_progress_and_the_overall_share() -> None:
    view = RunProgress()
    assert view.overall == 0 and view.offers(running=True) == {CANCEL}
    events(view, ("preflight", "running"), ("preflight", "done"), ("provision", "running"), ("provision", "done"))
    total = sum(WEIGHTS[n] for n in STEPS)  # the copy route's steps
    done = (WEIGHTS["preflight"] + WEIGHTS["provision"]) / total
    assert abs(view.overall - done) < 1e-9
    events(view, ("maintenance_on", "running"), ("maintenance_on", "done"), ("backup", "running"), at=T0)
    view.apply(RunEvent(1, "backup", "progress", "", 50, 100, "bytes"))
    half = done + (WEIGHTS["maintenance_on"] + WEIGHTS["backup"] / 2) / total
    assert abs(view.overall - half) < 1e-9 and view.current == "backup"
    view.apply(RunEvent(1, "load", "progress", "", 99, 100, "bytes"))  # not the current step: ignored
    assert abs(view.overall - half) < 1e-9
    assert view.maintenance_seconds(T0 + timedelta(seconds=12)) == 12


def test_a_route_weighs_only_its_own_steps() -> None:
    online = ROUTES["online"]
    view = RunProgress.for_steps(online)
    assert list(view.steps) == list(online)
    events(view, *[(s, e) for s in online[:-1] for e in ("running", "done")])
    assert abs(view.overall - (1 - WEIGHTS["finish"] / sum(WEIGHTS[n] for n in online))) < 1e-9
    events(view, ("finish", "running"), ("finish", "done"))
    assert abs(view.overall - 1) < 1e-9  # no step of another route holds the bar back


def test_the_switch_removes_cancel_and_rollback() -> None:
    view = RunProgress()
    events(
        view, *[(s, e) for s in STEPS[:6] for e in ("running", "done")], ("switch", "running"), ("switch", "switched")
    )
    assert view.switched and view.offers(running=True) == set()
    events(view, ("switch", "failed"))
    view.state = "failed"
    assert view.offers(running=False) == {RETRY, CLOSE}


def test_a_rollback_marks_done_steps_rolled_back_and_running_ones_failed() -> None:
    view = RunProgress()
    events(view, ("preflight", "running"), ("preflight", "done"), ("provision", "running"), ("provision", "done"))
    events(view, ("maintenance_on", "running"), ("maintenance_on", "done"), ("backup", "running"))
    view.state = "failed"
    assert view.offers(running=False) == {RETRY, ROLLBACK, CLOSE}
    view.apply(RunEvent(1, "rollback", "rolled_back", "cancelled"), T0 + timedelta(seconds=30))
    states = {name: state for name, (state, _) in view.steps.items()}
    assert states["provision"] == "rolled_back" and states["backup"] == "failed" and states["load"] == "waiting"
    assert view.offers(running=False) == {CLOSE}
    assert view.maintenance_seconds() == 30
    assert [after_rollback(s) for s in ("done", "running", "retrying", "waiting", "failed")] == [
        "rolled_back",
        "failed",
        "failed",
        "waiting",
        "failed",
    ]
