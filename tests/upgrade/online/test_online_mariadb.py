"""The online upgrade end to end, MariaDB to MariaDB: the app writing before, during and after the switch.

Source and target are the private pair of MariaDB servers of tests/replication/conftest.py (binary logging in
ROW format, their own server ids and GTID domains): replication runs between two servers, as it must. The
app (tests/upgrade/conftest.py) inserts through HTTP the whole time; its table's AUTO_INCREMENT must go on
in the new database without handing out an id twice.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from changeover.core.upgrade import procedure
from tests.conftest import unique_name
from tests.replication.conftest import Databases, databases, mariadb_pair, replica_connections, replication_users

from ..conftest import Kit, Writer, events_of, items, on_one_database, seed, text, wait_for
from ..test_crash import committed_rows, run_until_killed
from .test_crash_online import _at

__all__ = ["databases", "mariadb_pair"]

pytestmark = pytest.mark.servers


def test_online_mariadb_upgrade_keeps_every_write_and_leaves_nothing_behind(kit: Kit, databases: Databases) -> None:
    source, target = databases.source, databases.target
    seed(source, 300)
    app = kit.app("shop", source)
    kit.deploy(app)
    name = unique_name("online-maria").replace("_", "-")
    plan = procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(target))
    online = next(r for r in plan.routes if r.name == "online")
    assert online.available, online.reason
    with Writer(app) as writer:
        wait_for("writes before the upgrade", lambda: len(writer.acked) >= 10)
        done = kit.cli("upgrade", "shop-db", "--to", text(target), "--name", name, "--online", "--yes", "--json",
                       timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout[-3000:]
        wait_for("the app on the new database", app.serving)
        frozen = items(source)  # the old database, right after the switch
        before = len(writer.acked)
        wait_for("writes after the switch", lambda: len(writer.acked) >= before + 10)
    run = procedure.list_runs(kit.ws)[0]
    assert run.state == "done" and run.route == "online"
    assert all(s.state == "done" for s in run.steps), [(s.name, s.state, s.message) for s in run.steps]
    assert run.maintenance_seconds is not None and 0 < run.maintenance_seconds < 20, run.maintenance_seconds
    events = events_of(done.stdout)
    assert any(e["step"] == "catch_up" and e["state"] == "progress" for e in events)
    assert any(e["step"] == "switch" and e["state"] == "switched" for e in events)

    new = on_one_database(kit, app, name)
    new_items = items(new)
    assert {i: new_items.get(i) for i in writer.acked} == writer.acked  # every acknowledged write
    assert not [f for f in writer.failed if f.startswith("HTTP")], writer.failed
    old_items = items(source)
    assert old_items == frozen  # nothing reached the old database after the switch
    assert {i: new_items[i] for i in old_items} == old_items
    assert max(new_items) > max(old_items)  # AUTO_INCREMENT went on in the new database
    engine = sa.create_engine(new, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) = COUNT(DISTINCT id) FROM items")).scalar() == 1
    finally:
        engine.dispose()

    # nothing of the replication is left on either server; the old database is kept, detached
    assert replication_users(databases.source_server) == []
    assert replica_connections(databases.target_server) == []
    assert kit.ws.show_resource("shop-db").state == "detached"


#: kills of the MariaDB path: a base copy done but not caught up, replication running, the drain done (the
#: replica connection stopped, not removed), and just past the point of no return
MARIADB_KILLS = {
    "base_copy-done": _at("base_copy", "done"),
    "catch_up-lagging": lambda e: e["step"] == "catch_up" and e["state"] == "progress",
    "drain-done": _at("drain", "done"),
    "switch-switched": _at("switch", "switched"),
}


@pytest.mark.parametrize(
    ("kill", "recover"),
    [(k, "--resume") for k in MARIADB_KILLS] + [("catch_up-lagging", "--rollback"), ("drain-done", "--rollback")],
)
def test_mariadb_kill_then_resume_or_roll_back(kit: Kit, databases: Databases, kill: str, recover: str) -> None:
    source, target = databases.source, databases.target
    seed(source, 200)
    app = kit.app("shop", source)
    kit.deploy(app)
    name = unique_name("maria-crash").replace("_", "-")
    with Writer(app) as writer:
        wait_for("a few writes", lambda: len(writer.acked) >= 5)
        run_id = run_until_killed(
            kit, ["shop-db", "--to", text(target), "--name", name, "--online"], MARIADB_KILLS[kill]
        )
        assert not procedure.show_run(kit.ws, run_id).finished
        recovered = kit.cli("upgrade", recover, str(run_id), "--json", timeout=300)
        assert recovered.returncode == 0, recovered.stderr + recovered.stdout[-2000:]
        wait_for("the app out of maintenance", app.serving)
        at_end = len(writer.acked)
        wait_for("writes after the recovery", lambda: len(writer.acked) >= at_end + 5)
    run = procedure.show_run(kit.ws, run_id)
    on = name if recover == "--resume" else "shop-db"
    on_one_database(kit, app, on, committed_rows(source, writer))
    assert run.state == ("done" if recover == "--resume" else "rolled_back")
    assert replication_users(databases.source_server) == []
    assert replica_connections(databases.target_server) == []
