"""kill -9 of the process running an online upgrade, at every step boundary and in the middle of the base copy.

As in tests/upgrade/test_crash.py: the CLI's ``--json`` event stream says when to SIGKILL the child, then a
new process resumes (``--resume RUN``) or rolls back (``--rollback RUN``). Every case ends with the deploy on
exactly one database that holds every committed row, out of maintenance, and with nothing of the
replication left: no slot, publication or role on the source, no subscription on the target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import URL

from changeover.core.upgrade import procedure
from tests.conftest import unique_name

from ..conftest import Kit, Writer, ballast, on_one_database, seed, text, wait_for
from ..test_crash import committed_rows, run_until_killed
from .conftest import left_on_source, left_on_target

pytestmark = pytest.mark.servers

Event = dict[str, Any]
ONLINE = procedure.route_steps("online")


def _progress(step: str, starts: str) -> Callable[[Event], bool]:
    return lambda e: e["step"] == step and e["state"] == "progress" and str(e["message"]).startswith(starts)


def _at(step: str, state: str) -> Callable[[Event], bool]:
    return lambda e: (e["step"], e["state"]) == (step, state)


#: where the child is killed: before the first step, after each step from the base copy on but the last, just
#: past the point of no return, and inside the base copy (the slot made, pg_dump starting; the base loaded and
#: being checked; checked, not yet subscribed). After pre-flight and after provisioning the run holds nothing of
#: replication yet: those two boundaries are the copy route's (tests/upgrade/test_crash.py kills at both)
KILLS: dict[str, Callable[[Event], bool]] = {
    "preflight-running": _at("preflight", "running"),
    **{f"{s}-done": _at(s, "done") for s in ONLINE[ONLINE.index("base_copy") : -1]},
    "switch-switched": _at("switch", "switched"),
    "base_copy-dumping": _progress("base_copy", "Copying the base"),
    "base_copy-verifying": _progress("base_copy", "Checking the base copy"),
    "base_copy-subscribing": _progress("base_copy", "Subscribing"),
    "catch_up-lagging": lambda e: e["step"] == "catch_up" and e["state"] == "progress",
}
ROLLBACKS = ["base_copy-dumping", "base_copy-subscribing", "catch_up-done", "maintenance_on-done", "drain-done"]


def crash(
    kit: Kit, make_source_db: Callable[[str], URL], make_target_db: Callable[[str], URL], kill: str, recover: str
) -> tuple[str, int, Writer, URL, URL]:
    source, target = make_source_db("co_online_crash"), make_target_db("co_online_crash_dst")
    seed(source, 200)
    ballast(source, 30_000)
    app = kit.app("shop", source)
    kit.deploy(app)
    name = unique_name("crash").replace("_", "-")
    with Writer(app) as writer:
        wait_for("a few writes", lambda: len(writer.acked) >= 5)
        argv = ["shop-db", "--to", text(target), "--name", name, "--online"]
        run_id = run_until_killed(kit, argv, KILLS[kill])
        assert not procedure.show_run(kit.ws, run_id).finished
        recovered = kit.cli("upgrade", recover, str(run_id), "--json", timeout=300)
        assert recovered.returncode == 0, recovered.stderr + recovered.stdout[-2000:]
        wait_for("the app out of maintenance", app.serving)
        at_end = len(writer.acked)
        wait_for("writes after the recovery", lambda: len(writer.acked) >= at_end + 5)
    on = name if recover == "--resume" else "shop-db"
    on_one_database(kit, app, on, committed_rows(source, writer))
    assert left_on_source(source.set(database="postgres"), source.database or "") == []
    assert left_on_target(target) == []
    return name, run_id, writer, source, target


@pytest.mark.parametrize("kill", list(KILLS))
def test_kill_then_resume(kit: Kit, make_source_db, make_target_db, kill: str) -> None:  # type: ignore[no-untyped-def]
    name, run_id, _, _, _ = crash(kit, make_source_db, make_target_db, kill, "--resume")
    run = procedure.show_run(kit.ws, run_id)
    assert run.state == "done" and all(s.state == "done" for s in run.steps)
    assert run.maintenance_seconds is not None and run.maintenance_seconds > 0
    assert kit.ws.show_resource("shop-db").state == "detached"
    if kill in (
        "base_copy-dumping",
        "base_copy-verifying",
        "base_copy-subscribing",
    ):  # a cut base copy is redone from scratch
        assert run.steps[ONLINE.index("base_copy")].attempts == 2


@pytest.mark.parametrize("kill", ROLLBACKS)
def test_kill_then_roll_back(kit: Kit, make_source_db, make_target_db, kill: str) -> None:  # type: ignore[no-untyped-def]
    name, run_id, _, _, _ = crash(kit, make_source_db, make_target_db, kill, "--rollback")
    run = procedure.show_run(kit.ws, run_id)
    assert run.state == "rolled_back" and run.switched_at is None
    assert kit.ws.show_resource("shop-db").state == "attached"
    assert kit.ws.show_resource(name).state == "failed"
