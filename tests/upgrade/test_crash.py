"""kill -9 of the process running an upgrade, at every step boundary and in the middle of the load.

The kill is driven by the CLI's own ``--json`` event stream: the test SIGKILLs the child when the event
for its boundary arrives, reaps it (so its lease holder is dead), and resumes with ``--resume RUN`` or rolls
back with ``--rollback RUN`` in a new process. Every case must end with the deploy attached to exactly one
database, in its .env and in the inventory, that holds every committed row, and out of maintenance.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core.upgrade import procedure
from changeover.core.upgrade.procedure import STEPS
from tests.conftest import unique_name

from .conftest import (
    Kit,
    TwelveFactorApp,
    Writer,
    ballast,
    items,
    on_one_database,
    processes_with,
    seed,
    text,
    wait_for,
)

pytestmark = pytest.mark.servers

SEED_ROWS = 200
Event = dict[str, Any]

#: (step, event state) after which the child is killed: before the first step, after each step but the last
#: two (after the foreign keys' validation only the finish is left, which every case's resume runs), and just
#: past the point of no return, before any deploy switched. A kill after maintenance off has the resume run
#: the validation step (its own resumption is tested in tests/transfer/test_foreign_keys.py).
BOUNDARIES = [("preflight", "running")] + [(s, "done") for s in STEPS[:-2]] + [("switch", "switched")]
assert STEPS[-2:] == ("constraints", "finish")


def run_until_killed(kit: Kit, argv: list[str], kill_at: Callable[[Event], bool]) -> int:
    """Start ``changeover upgrade`` and SIGKILL it when ``kill_at`` accepts an event; return the run id."""
    child = kit.popen("upgrade", *argv, "--yes", "--json")
    seen: list[Event] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if not line.startswith('{"run_id"'):
                continue  # the plan, printed first, spans many lines
            event = json.loads(line)
            seen.append(event)
            if kill_at(event):
                os.kill(child.pid, signal.SIGKILL)
                break
        else:
            pytest.fail(f"the upgrade ended before the kill point: {child.wait()} {child.stderr.read()}")  # type: ignore[union-attr]
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(30)  # reap it: a zombie still counts as a live lease holder
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    assert child.returncode == -signal.SIGKILL
    return int(seen[0]["run_id"])


def start_shop(kit: Kit, make_postgres_db: Callable[[str], URL]) -> tuple[TwelveFactorApp, URL, URL]:
    source, target = make_postgres_db("co_crash_src"), make_postgres_db("co_crash_dst")
    seed(source, SEED_ROWS)
    app = kit.app("shop", source)
    kit.deploy(app)
    return app, source, target


def committed_rows(source: URL, writer: Writer) -> dict[int, str]:
    return {**{i: v for i, v in items(source).items() if v.startswith("seed ")}, **writer.acked}


def crash_then(
    kit: Kit,
    app: TwelveFactorApp,
    target: URL,
    kill_at: Callable[[Event], bool],
    recover: str,
    between: Callable[[int], None] = lambda run_id: None,
) -> tuple[str, int, Writer, str]:
    """Upgrade while writing, SIGKILL at ``kill_at``, check ``between``, then ``--resume`` or ``--rollback``.

    Returns the new database's name, the run, the writer and the recovering process's output.
    """
    name = unique_name("crash").replace("_", "-")
    with Writer(app) as writer:
        wait_for("a few writes", lambda: len(writer.acked) >= 5)
        run_id = run_until_killed(kit, ["shop-db", "--to", text(target), "--name", name], kill_at)
        between(run_id)
        recovered = kit.cli("upgrade", recover, str(run_id), "--json")
        assert recovered.returncode == 0, recovered.stderr
        wait_for("the app out of maintenance", app.serving)
        at_end = len(writer.acked)
        wait_for("writes after the recovery", lambda: len(writer.acked) >= at_end + 5)
    return name, run_id, writer, recovered.stdout


@pytest.mark.parametrize(("step", "state"), BOUNDARIES, ids=[f"{s}-{e}" for s, e in BOUNDARIES])
def test_kill_at_a_step_boundary_then_resume(kit: Kit, make_postgres_db, step: str, state: str) -> None:  # type: ignore[no-untyped-def]
    app, source, target = start_shop(kit, make_postgres_db)

    def still_running(run_id: int) -> None:
        killed = procedure.show_run(kit.ws, run_id)
        assert killed.state == "running" and not killed.finished

    name, run_id, writer, _ = crash_then(
        kit, app, target, lambda e: (e["step"], e["state"]) == (step, state), "--resume", still_running
    )

    run = procedure.show_run(kit.ws, run_id)
    assert run.state == "done" and all(s.state == "done" for s in run.steps)
    assert run.maintenance_seconds is not None and run.maintenance_seconds > 0
    on_one_database(kit, app, name, committed_rows(source, writer))
    assert kit.ws.show_resource("shop-db").state == "detached"


@pytest.mark.parametrize("schema", [None, "Sales"], ids=["public", "own-schema"])
def test_kill_in_the_middle_of_the_load_then_resume(kit: Kit, make_postgres_db, schema: str | None) -> None:  # type: ignore[no-untyped-def]
    app, source, target = start_shop(kit, make_postgres_db)
    ballast(source, 500_000, schema=schema)  # about 100 MB: the restore takes well over a second
    table = f'"{schema}".ballast' if schema else "ballast"

    def loading(run_id: int) -> None:
        assert procedure.show_run(kit.ws, run_id).steps[STEPS.index("load")].state == "running"

    name, run_id, writer, output = crash_then(
        kit,
        app,
        target,
        lambda e: e["step"] == "load" and e["state"] == "progress" and int(e["done"]) > 0,
        "--resume",
        loading,
    )

    run = procedure.show_run(kit.ws, run_id)
    assert run.state == "done"
    load = run.steps[STEPS.index("load")]
    assert load.attempts == 2 and float(run.stats["load_seconds"]) > 1.0, run.stats
    assert "Emptying the new database" in output
    # The killed run's pg_restore (its own process group) did not outlive it to write into the reloaded copy.
    assert not processes_with(b"pg_restore", str(target.database).encode())
    url = on_one_database(kit, app, name, committed_rows(source, writer))
    with sa.create_engine(url, poolclass=sa.NullPool).connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 500_000


def test_rollback_after_a_kill_before_the_switch(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    app, source, target = start_shop(kit, make_postgres_db)

    def in_maintenance(run_id: int) -> None:
        assert app.config().get("MAINTENANCE_MODE") == "1"

    name, run_id, writer, _ = crash_then(
        kit, app, target, lambda e: (e["step"], e["state"]) == ("load", "done"), "--rollback", in_maintenance
    )

    run = procedure.show_run(kit.ws, run_id)
    assert run.state == "rolled_back" and run.switched_at is None
    on_one_database(kit, app, "shop-db", committed_rows(source, writer))
    assert kit.ws.show_resource(name).state == "failed"
    assert kit.ws.show_resource("shop-db").state == "attached"
    again = kit.cli("upgrade", "--resume", str(run_id))
    assert again.returncode == 1 and "already rolled back" in again.stderr


def test_kill_between_two_deploys_switches_then_resume(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    """Two deploys share the database; the kill lands after the first switched and before the second did."""
    app, source, target = start_shop(kit, make_postgres_db)
    worker = kit.app("worker", source)
    kit.deploy(worker, "worker")

    def half_switched(run_id: int) -> None:
        run = procedure.show_run(kit.ws, run_id)
        switched = run.steps[STEPS.index("switch")].data["deploys"]
        assert switched["shop"] == "restarted" and switched.get("worker") != "restarted"
        assert app.config()["DATABASE_URL"] == kit.ws.full_handle(run.target)

    name, run_id, writer, _ = crash_then(
        kit,
        app,
        target,
        lambda e: (e["step"], e["state"], e["message"]) == ("switch", "progress", "Switching worker"),
        "--resume",
        half_switched,
    )

    assert procedure.show_run(kit.ws, run_id).state == "done"
    committed = committed_rows(source, writer)
    on_one_database(kit, app, name, committed)
    on_one_database(kit, worker, name, committed, deploy="worker")
    assert kit.ws.show_resource("shop-db").state == "detached"


def test_a_live_lease_holder_is_not_taken_over(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    """The takeovers above are allowed because the holder is dead: a stopped (alive) holder keeps its run."""
    app, source, target = start_shop(kit, make_postgres_db)
    child = kit.popen("upgrade", "shop-db", "--to", text(target), "--yes", "--json")
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith('{"run_id"') and json.loads(line)["state"] == "done":
                os.kill(child.pid, signal.SIGSTOP)
                run_id = int(json.loads(line)["run_id"])
                break
        for verb in ("--resume", "--rollback"):
            other = kit.cli("upgrade", verb, str(run_id))
            assert other.returncode == 1 and "is being driven by" in other.stderr, other.stderr
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    taken = kit.cli("upgrade", "--rollback", str(run_id))
    assert taken.returncode == 0, taken.stderr
    assert procedure.show_run(kit.ws, run_id).state == "rolled_back"
    on_one_database(kit, app, "shop-db", items(source))
