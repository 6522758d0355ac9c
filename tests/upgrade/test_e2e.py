"""End to end: the example app runs as a real process and is written to all through an upgrade.

Each case checks what an admin would: every write the app acknowledged is in the new database, the app
serves from the new database afterwards, the old database is detached, listed with a keep-until date and
unchanged since the backup, and the maintenance window is recorded and shown.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core import servers
from changeover.core.transfer.formats.manifest import read
from changeover.core.transfer.verify.native import checksum_in
from changeover.core.upgrade import procedure
from changeover.core.upgrade.procedure import STEPS, RunEvent, RunInfo
from tests.conftest import MYSQL_URL, POSTGRES_URL, unique_name

from .conftest import APP_PY, Kit, TwelveFactorApp, Writer, events_of, items, on_one_database, text, wait_for

pytestmark = pytest.mark.servers

WRITES_BEFORE = 30
WRITES_AFTER = 20


def written_enough(writer: Writer, count: int) -> bool:
    return len(writer.acked) >= count


def check_outcome(kit: Kit, app: TwelveFactorApp, writer: Writer, old_url: URL, target: str) -> RunInfo:
    """The checks every end-to-end case shares; returns the run."""
    ws = kit.ws
    (run,) = procedure.list_runs(ws)
    assert run.state == "done", run.error
    assert run.target == target and all(s.state == "done" for s in run.steps)

    # The deploy uses the new database, out of maintenance, and the inventory agrees with its .env; every
    # acknowledged write is there, the app lists what it holds, and a new write through the app lands there.
    old_before = items(old_url)
    new_url = on_one_database(kit, app, target, writer.acked)
    old_rows = items(old_url)
    assert old_rows == old_before, "a write after the upgrade reached the old database"

    # Writes met the maintenance window (503), and many landed after the switch (in the new database only).
    assert writer.unavailable > 0, "no write met the maintenance window"
    after_switch = set(writer.acked) - set(old_rows)
    assert len(after_switch) >= WRITES_AFTER // 2, "too few writes landed after the switch"
    assert set(items(new_url)) > set(old_rows)

    # The old database is detached, listed, kept, and unchanged since its backup.
    old = ws.show_resource("shop-db")
    assert old.state == "detached" and old.keep_until is not None and not old.attachments
    assert "shop-db" in [r.name for r in ws.list_resources()]
    assert run.backup_path and f"run {run.id}" in old_note(kit) and run.backup_path in old_note(kit)
    manifest = read(Path(run.backup_path))
    at_backup = {t.name: (t.rows, t.checksum) for t in manifest.tables}
    sums = checksum_in(old_url, manifest.checksum_form)  # the form the backup took them in (fast: same engine)
    now = {s.table: (s.rows, s.checksum) for s in sums.values()}
    assert now == at_backup and at_backup["items"][0] == len(old_rows)

    # The maintenance window (step 3 start to step 8 end) is recorded and shown.
    assert run.maintenance_seconds is not None and run.maintenance_seconds > 0
    maintenance_on = next(s for s in run.steps if s.name == "maintenance_on")
    maintenance_off = next(s for s in run.steps if s.name == "maintenance_off")
    assert maintenance_on.started_at and maintenance_off.finished_at
    assert run.maintenance_seconds <= (maintenance_off.finished_at - maintenance_on.started_at).total_seconds() + 0.01
    listed = kit.cli("upgrade", "--list")
    assert listed.returncode == 0, listed.stderr
    assert f"{run.maintenance_seconds:.1f}s" in listed.stdout
    return run


def old_note(kit: Kit) -> str:
    """The note the finish step leaves on the old database (names the run and the backup)."""
    with kit.ws.session() as session:
        return kit.ws.resource(session, "shop-db").note


def upgrade_with_cli(kit: Kit, app: TwelveFactorApp, *target: str) -> tuple[Writer, list[dict[str, object]]]:
    """Run ``changeover upgrade`` in a child process while a thread writes to the app."""
    with Writer(app) as writer:
        wait_for("writes before the upgrade", lambda: written_enough(writer, WRITES_BEFORE))
        done = kit.cli("upgrade", "shop-db", *target, "--yes", "--json", "--keep-days", "5", timeout=240)
        assert done.returncode == 0, done.stderr + done.stdout[-2000:]
        at_end = len(writer.acked)
        wait_for("the app back out of maintenance", app.serving)
        wait_for("writes after the upgrade", lambda: written_enough(writer, at_end + WRITES_AFTER))
    return writer, events_of(done.stdout)


def assert_event_order(events: list[dict[str, object]]) -> None:
    done = [e["step"] for e in events if e["state"] == "done"]
    assert done == list(STEPS)
    states = [(e["step"], e["state"]) for e in events]
    assert ("switch", "switched") in states
    assert not any(e["state"] in ("failed", "retrying") for e in events)


def test_postgresql_to_postgresql_given_by_handle(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    source, target = make_postgres_db("co_e2e_src"), make_postgres_db("co_e2e_dst")
    app = kit.app("shop", source)
    kit.deploy(app)
    name = unique_name("shop-db-new").replace("_", "-")

    writer, events = upgrade_with_cli(kit, app, "--to", text(target), "--name", name)

    assert_event_order(events)
    run = check_outcome(kit, app, writer, source, name)
    assert run.keep_days == 5


def test_mariadb_to_mariadb_provisioned_on_a_server(kit: Kit, make_mysql_db) -> None:  # type: ignore[no-untyped-def]
    source = make_mysql_db("co_e2e_src")
    servers.register_server(kit.ws, "maria", MYSQL_URL)
    app = kit.app("shop", source)
    kit.deploy(app)
    name = unique_name("e2e-maria").replace("_", "-")

    writer, events = upgrade_with_cli(kit, app, "--provision", "maria", "--name", name)

    assert_event_order(events)
    check_outcome(kit, app, writer, source, name)
    assert kit.ws.show_resource(name).origin == "provisioned"
    assert sa.engine.make_url(kit.ws.full_handle(name)).username == servers.database_name(name)


def test_sqlite_to_postgresql_provisioned_through_the_core_api(kit: Kit, tmp_path: Path) -> None:
    source = URL.create("sqlite", database=str(tmp_path / "shop" / "shop.sqlite3"))
    servers.register_server(kit.ws, "pg", POSTGRES_URL)
    app = kit.app("shop", source)
    kit.deploy(app)
    name = unique_name("e2e-lite").replace("_", "-")
    seen: list[RunEvent] = []

    with Writer(app) as writer:
        wait_for("writes before the upgrade", lambda: written_enough(writer, WRITES_BEFORE))
        plan = procedure.plan_upgrade(kit.ws, "shop-db", provision_on="pg", target_name=name)
        assert plan.ok and plan.cross_engine and plan.target_kind == "postgresql"
        run = procedure.start_upgrade(kit.ws, plan)
        final = procedure.execute(kit.ws, run.id, on_event=seen.append)
        assert final.state == "done"
        at_end = len(writer.acked)
        wait_for("the app back out of maintenance", app.serving)
        wait_for("writes after the upgrade", lambda: written_enough(writer, at_end + WRITES_AFTER))

    assert [e.step for e in seen if e.state == "done"] == list(STEPS)
    check_outcome(kit, app, writer, source, name)
    status, health = app.request("GET", "/health")
    assert status == 200 and health["backend"] == "postgresql"


def test_example_app_gives_each_twelve_factor_scheme_its_driver() -> None:
    spec = importlib.util.spec_from_file_location("twelve_factor_app", APP_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def driver(handle: str) -> str:
        return str(module.database_url(handle).drivername)

    assert driver("postgres://u:p@db/app") == "postgresql+psycopg"
    assert driver("postgresql://u:p@db/app") == "postgresql+psycopg"
    assert driver("mysql://u:p@db/app") == "mysql+pymysql"
    assert driver("mariadb://u:p@db/app") == "mysql+pymysql"
    assert driver("postgresql+psycopg2://u:p@db/app") == "postgresql+psycopg2"  # an explicit driver is kept
    assert driver("sqlite:////srv/app.sqlite3") == "sqlite"
