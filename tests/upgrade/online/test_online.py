"""The online upgrade end to end, PostgreSQL to PostgreSQL: an app writing before, during and after the switch.

The source is a cluster of the test's own with ``wal_level=logical``; the target a database on the shared
server, whose subscription connects to the source's port. The app (tests/upgrade/conftest.py) inserts through
HTTP; the updater (conftest.py) updates rows and appends to a second table with its own sequence.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy.engine import URL

from changeover.core.errors import Cancelled
from changeover.core.upgrade import procedure
from changeover.core.upgrade.procedure import RunEvent
from tests.conftest import unique_name

from ..conftest import Kit, TwelveFactorApp, Writer, ballast, events_of, items, on_one_database, seed, text, wait_for
from .conftest import Updater, ledger, left_on_source, left_on_target, sql, table

pytestmark = pytest.mark.servers

SEED_ROWS = 300


def start_shop(kit: Kit, make_source_db: Callable[[str], URL]) -> tuple[TwelveFactorApp, URL]:
    source = make_source_db("co_online_src")
    seed(source, SEED_ROWS)
    ledger(source)
    ballast(source, 20_000)
    app = kit.app("shop", source)
    kit.deploy(app)
    return app, source


def test_online_upgrade_keeps_every_write_and_leaves_nothing_behind(
    kit: Kit, make_source_db: Callable[[str], URL], make_target_db: Callable[[str], URL]
) -> None:
    app, source = start_shop(kit, make_source_db)
    target = make_target_db("co_online_dst")
    name = unique_name("online").replace("_", "-")
    with Writer(app) as writer, Updater(app) as updater:
        wait_for("writes before the upgrade", lambda: len(writer.acked) >= 10 and len(updater.notes) >= 10)
        done = kit.cli("upgrade", "shop-db", "--to", text(target), "--name", name, "--online", "--yes", "--json",
                       timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout[-3000:]
        wait_for("the app on the new database", app.serving)
        frozen = items(source), table(source, "SELECT id, note FROM ledger")  # the old one, right after the switch
        before = (len(writer.acked), len(updater.notes))
        wait_for(
            "writes after the switch",
            lambda: len(writer.acked) >= before[0] + 10 and len(updater.notes) >= before[1] + 10,
        )
    run = procedure.list_runs(kit.ws)[0]
    assert run.state == "done" and run.route == "online"
    assert [s.name for s in run.steps] == list(procedure.route_steps("online"))
    assert all(s.state == "done" for s in run.steps)
    base = run.steps[procedure.route_steps("online").index("base_copy")].message
    assert "base verified: 3 tables" in base and "equal to the source at the snapshot" in base, base
    # the window is the drain and the switch: seconds, whatever the copy took (loaded machine: generous bound)
    assert run.maintenance_seconds is not None and 0 < run.maintenance_seconds < 20, run.maintenance_seconds
    events = events_of(done.stdout)
    lags = [e["message"] for e in events if e["step"] == "catch_up" and e["state"] == "progress"]
    assert lags and all(m.endswith("behind") for m in lags), lags
    assert any(e["step"] == "switch" and e["state"] == "switched" for e in events)

    # every acknowledged write is in the new database: inserts through the app, updates, the ledger
    new = on_one_database(kit, app, name)
    new_items = items(new)
    assert {i: new_items.get(i) for i in writer.acked} == writer.acked
    assert {i: new_items.get(i) for i in updater.updates} == updater.updates
    new_ledger = table(new, "SELECT id, note FROM ledger")
    assert {i: new_ledger.get(i) for i in updater.notes} == updater.notes
    assert set(updater.where) == {source.database, new.database}, updater.where
    assert not updater.errors and not [f for f in writer.failed if f.startswith("HTTP")], (
        updater.errors,
        writer.failed,
    )

    # nothing reached the old database after the switch: everything in it is in the new one, unchanged
    old_items, old_ledger = items(source), table(source, "SELECT id, note FROM ledger")
    assert (old_items, old_ledger) == frozen
    assert set(old_items) <= set(new_items)
    assert {i: new_ledger.get(i) for i in old_ledger} == old_ledger
    assert max(new_items) > max(old_items) and max(new_ledger) > max(old_ledger)  # the sequences went on
    after = [i for i in updater.notes if i not in old_ledger]
    assert after and min(after) > max(old_ledger), "a ledger id was handed out twice"

    # nothing of the replication is left, on either side; the old database is kept, detached
    assert left_on_source(source.set(database="postgres"), source.database or "") == []
    assert left_on_target(target) == []
    assert kit.ws.show_resource("shop-db").state == "detached"
    assert "no backup file" in kit.ws.show_resource("shop-db").note
    record = kit.cli("upgrade", "--record", str(run.id))
    assert record.returncode == 0, record.stderr
    assert "Copy the base from a consistent snapshot" in record.stdout and "exact counts equal" in record.stdout
    as_json = kit.cli("upgrade", "--record", str(run.id), "--format", "json")
    schema = json.loads((Path(__file__).parents[3] / "docs" / "change-record.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(as_json.stdout))


def test_cancel_while_catching_up_leaves_the_source_as_it_was(
    kit: Kit, make_source_db: Callable[[str], URL], make_target_db: Callable[[str], URL]
) -> None:
    app, source = start_shop(kit, make_source_db)
    target = make_target_db("co_online_dst")
    plan = procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(target), route="online")
    assert plan.ok, [c for c in plan.checks if not c.ok]
    run_id = procedure.start_upgrade(kit.ws, plan).id
    cancel = threading.Event()

    def on_event(event: RunEvent) -> None:
        if event.step == "catch_up" and event.state == "progress":
            cancel.set()

    with Writer(app) as writer:
        with pytest.raises(Cancelled, match="was rolled back"):
            procedure.execute(kit.ws, run_id, cancel=cancel, on_event=on_event)
        at_end = len(writer.acked)
        wait_for("writes after the cancel", lambda: len(writer.acked) >= at_end + 5)
    run = procedure.show_run(kit.ws, run_id)
    assert run.state == "rolled_back" and run.switched_at is None
    states = [s.state for s in run.steps]
    # cancelled in catch_up, or (when it had already caught up) at the start of the next step, maintenance on
    assert states.index("cancelled") in (3, 4) and set(states[: states.index("cancelled")]) == {"rolled_back"}
    assert run.maintenance_started_at is None  # the app never went into maintenance
    assert left_on_source(source.set(database="postgres"), source.database or "") == []
    assert left_on_target(target) == []
    on_one_database(kit, app, "shop-db", {**writer.acked})
    assert kit.ws.show_resource(plan.target_name).state == "failed"


def test_the_plan_offers_online_with_a_short_window_and_names_what_is_missing(
    kit: Kit, make_source_db: Callable[[str], URL], make_target_db: Callable[[str], URL]
) -> None:
    app, source = start_shop(kit, make_source_db)
    target = make_target_db("co_online_dst")
    ballast(source, 200_000, schema="big")  # a copy of some size
    plan = procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(target))
    assert plan.route == "copy"  # the default stays the copy
    online = next(r for r in plan.routes if r.name == "online")
    assert online.available, online.reason
    copy = next(r for r in plan.routes if r.name == "copy")
    assert online.estimate_seconds < copy.estimate_seconds

    sql(source, "CREATE TABLE keyless (a INT, b TEXT)")
    plan = procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(target), route="online")
    assert not plan.ok
    [check] = [c for c in plan.checks if c.name == "route"]
    assert "keyless has no primary key or replica identity" in check.message
    assert "ALTER TABLE keyless REPLICA IDENTITY FULL" in check.message
    refused = kit.cli("upgrade", "shop-db", "--to", text(target), "--online", "--yes")
    assert refused.returncode == 1 and "REPLICA IDENTITY FULL" in refused.stdout, refused.stdout + refused.stderr
    assert left_on_source(source.set(database="postgres"), source.database or "") == []

    sql(source, "ALTER TABLE keyless REPLICA IDENTITY FULL")
    assert procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(target), route="online").ok


def test_preflight_on_a_server_without_logical_wal_names_the_fix(
    kit: Kit, make_postgres_db: Callable[[str], URL], make_target_db: Callable[[str], URL], postgres_admin: object
) -> None:
    source = make_postgres_db("co_online_replica")  # the shared server: wal_level=replica
    seed(source, 10)
    app = kit.app("shop", source)
    kit.deploy(app)
    target = make_target_db("co_online_dst")
    plan = procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(target), route="online")
    assert not plan.ok
    online = next(r for r in plan.routes if r.name == "online")
    assert not online.available
    assert "wal_level is replica" in online.reason and "ALTER SYSTEM SET wal_level = logical" in online.reason
    refused = kit.cli("upgrade", "shop-db", "--to", text(target), "--online", "--yes", "--json")
    assert refused.returncode == 1
    assert "ALTER SYSTEM SET wal_level = logical" in refused.stdout
    assert procedure.list_runs(kit.ws) == []  # nothing started


def test_online_across_engines_is_listed_unavailable(
    kit: Kit, make_source_db: Callable[[str], URL], make_mysql_db: Callable[[str], URL]
) -> None:
    start_shop(kit, make_source_db)
    plan = procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(make_mysql_db("co_online_my")))
    online = next(r for r in plan.routes if r.name == "online")
    assert not online.available and "same engine" in online.reason


def test_online_options_are_for_the_online_route(
    kit: Kit, make_source_db: Callable[[str], URL], make_target_db: Callable[[str], URL]
) -> None:
    start_shop(kit, make_source_db)
    target = make_target_db("co_online_dst")
    wrong = kit.cli("upgrade", "shop-db", "--to", text(target), "--max-lag", "2", "--yes")
    assert wrong.returncode == 1 and "add --online" in wrong.stderr
    clash = kit.cli("upgrade", "shop-db", "--to", text(target), "--online", "--route", "snapshot", "--yes")
    assert clash.returncode == 1 and "--online is --route online" in clash.stderr
    bad = kit.cli("upgrade", "shop-db", "--to", text(target), "--online", "--max-lag", "-1", "--yes")
    assert bad.returncode == 2
    assert procedure.list_runs(kit.ws) == []


def test_a_change_the_target_cannot_apply_rolls_back_before_the_switch(
    kit: Kit, make_source_db: Callable[[str], URL], make_target_db: Callable[[str], URL]
) -> None:
    """Something else wrote into the new database: its subscription fails to apply the source's row with the same
    key; catch_up says so at once (not at its timeout) and the run rolls back, leaving nothing behind."""
    app, source = start_shop(kit, make_source_db)
    target = make_target_db("co_online_dst")
    plan = procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(target), route="online")
    run_id = procedure.start_upgrade(kit.ws, plan, options={"max_lag_bytes": 0, "max_lag_seconds": 0}).id

    def on_event(event: RunEvent) -> None:
        if (event.step, event.state) == ("base_copy", "done"):
            taken = int(str(sql(source, "SELECT max(id) FROM items")[0][0])) + 3
            sql(target, "INSERT INTO items (id, value) VALUES (%s, 'written into the new database')", taken)
            for i in range(10):
                sql(source, "INSERT INTO items (value) VALUES (%s)", f"after the base copy {i}")

    with pytest.raises(procedure.UpgradeFailed, match="failed to apply a change from the source"):
        procedure.execute(kit.ws, run_id, on_event=on_event)
    run = procedure.show_run(kit.ws, run_id)
    assert run.state == "rolled_back" and run.steps[3].state == "failed" and run.steps[3].name == "catch_up"
    assert left_on_source(source.set(database="postgres"), source.database or "") == []
    assert left_on_target(target) == []
    on_one_database(kit, app, "shop-db")


def test_a_drain_past_its_timeout_rolls_back_to_the_old_database(
    kit: Kit, make_source_db: Callable[[str], URL], make_target_db: Callable[[str], URL]
) -> None:
    """RDS's guardrail: in maintenance, a target that does not apply the last changes in time means no switch."""
    app, source = start_shop(kit, make_source_db)
    target = make_target_db("co_online_dst")
    plan = procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(target), route="online")
    run_id = procedure.start_upgrade(kit.ws, plan, options={"drain_timeout": 1}).id

    def on_event(event: RunEvent) -> None:
        if (event.step, event.state) == ("catch_up", "done"):  # the target stops applying
            # pg_subscription is the cluster's: other tests' subscriptions may be there too
            [(sub,)] = sql(
                target,
                "SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())",
            )
            sql(target, f'ALTER SUBSCRIPTION "{sub}" DISABLE')
            sql(target, "SELECT pg_terminate_backend(pid) FROM pg_stat_subscription WHERE subname = %s", sub)
            running = "SELECT pid FROM pg_stat_subscription WHERE pid IS NOT NULL AND subname = %s"
            wait_for("the apply worker to stop", lambda: not sql(target, running, sub))
            sql(source, "INSERT INTO items (value) VALUES ('never applied')")

    with pytest.raises(procedure.UpgradeFailed, match="did not apply every change within 1 s"):
        procedure.execute(kit.ws, run_id, on_event=on_event)
    run = procedure.show_run(kit.ws, run_id)
    assert run.state == "rolled_back" and run.switched_at is None
    assert run.steps[procedure.route_steps("online").index("drain")].state == "failed"
    assert run.maintenance_started_at is not None  # it was in maintenance, and came out of it
    on_one_database(kit, app, "shop-db")
    assert "never applied" in items(source).values()
    assert left_on_source(source.set(database="postgres"), source.database or "") == []
    assert left_on_target(target) == []
