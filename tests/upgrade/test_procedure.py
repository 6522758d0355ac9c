"""The upgrade procedure through its core API, against real databases and real hook processes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core import servers
from changeover.core.errors import Cancelled, Conflict, InvalidInput
from changeover.core.transfer.verify import checksum_database
from changeover.core.upgrade import procedure, runner
from changeover.core.upgrade.procedure import RunEvent, UpgradeFailed
from changeover.core.workspace import Workspace

from .conftest import ROWS, count, fill


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.env"
    path.write_text("# shop\nDEBUG=0\n")
    return path


def shop(ws: Workspace, env_file: Path, handle: str, **hooks: object) -> None:
    ws.add_deploy("shop", str(env_file), restart_cmd="true", maintenance_var="MAINTENANCE_MODE", **hooks)  # type: ignore[arg-type]
    ws.register_resource("shop-db", handle)
    ws.attach("shop-db", "shop")


def events() -> tuple[list[RunEvent], Callable[[RunEvent], None]]:
    seen: list[RunEvent] = []
    return seen, seen.append


def test_sqlite_to_sqlite_on_a_folder_server(workspace: Workspace, env_file: Path, tmp_path: Path) -> None:
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}")
    shop(workspace, env_file, f"sqlite:///{source}")
    (tmp_path / "dbs").mkdir()
    servers.register_server(workspace, "local", str(tmp_path / "dbs"))
    before = source.read_bytes()

    plan = procedure.plan_upgrade(workspace, "shop-db", provision_on="local", keep_days=3)
    assert plan.ok and not plan.cross_engine
    assert [name for name, _ in plan.steps][6] == "switch"
    assert plan.deploys == (("shop", "DATABASE_URL"),)
    run = procedure.start_upgrade(workspace, plan)
    seen, sink = events()
    done = procedure.execute(workspace, run.id, on_event=sink)

    assert done.state == "done" and done.switched
    assert [s.state for s in done.steps] == ["done"] * len(procedure.STEPS)
    assert done.maintenance_seconds is not None and done.maintenance_seconds > 0
    assert any(e.state == "switched" for e in seen)
    new = workspace.show_resource(plan.target_name)
    old = workspace.show_resource("shop-db")
    assert new.state == "attached" and new.origin == "provisioned"
    assert old.state == "detached"
    assert old.keep_until is not None and old.detached_at is not None
    assert 2.9 < (old.keep_until - old.detached_at).total_seconds() / 86400 < 3.1
    config = env_file.read_text()
    assert config.startswith("# shop\nDEBUG=0\n") and "MAINTENANCE_MODE" not in config
    new_path = config.split("DATABASE_URL=sqlite:///", 1)[1].strip()
    assert count(f"sqlite:///{new_path}") == ROWS
    assert source.read_bytes() == before  # the source was never modified
    assert done.backup_path is not None and (Path(done.backup_path) / "manifest.json").exists()
    with sqlite3.connect(new_path) as conn:  # the app can insert without an id
        conn.execute("INSERT INTO items (name) VALUES ('after')")
    assert procedure.list_runs(workspace, unfinished=True) == []


def test_postgres_to_postgres_by_handle(
    workspace: Workspace, env_file: Path, make_postgres_db: Callable[..., URL]
) -> None:
    source, target = make_postgres_db(), make_postgres_db()
    fill(source)
    shop(workspace, env_file, source.render_as_string(hide_password=False))
    sums = checksum_database(source)
    plan = procedure.plan_upgrade(
        workspace, "shop-db", to_handle=target.render_as_string(hide_password=False), target_name="shop-db-big"
    )
    assert plan.ok, plan.checks
    done = procedure.execute(workspace, procedure.start_upgrade(workspace, plan).id)
    assert done.state == "done"
    assert checksum_database(target) == sums
    assert checksum_database(source) == sums
    assert f"DATABASE_URL={target.render_as_string(hide_password=False)}" in env_file.read_text()
    engine = sa.create_engine(target)
    with engine.begin() as conn:
        new_id = conn.execute(sa.text("INSERT INTO items (name) VALUES ('new') RETURNING id")).scalar_one()
    engine.dispose()
    assert new_id > ROWS
    assert workspace.show_resource("shop-db").state == "detached"
    assert {e.action for e in workspace.events("shop-db")} >= {"start upgrade", "upgrade"}


def test_mariadb_to_postgres_cross_engine(
    workspace: Workspace, env_file: Path, make_mysql_db: Callable[..., URL], make_postgres_db: Callable[..., URL]
) -> None:
    source, target = make_mysql_db(), make_postgres_db()
    fill(source)
    shop(workspace, env_file, source.render_as_string(hide_password=False))
    plan = procedure.plan_upgrade(workspace, "shop-db", to_handle=target.render_as_string(hide_password=False))
    assert plan.ok and plan.cross_engine and plan.target_kind == "postgresql"
    done = procedure.execute(workspace, procedure.start_upgrade(workspace, plan).id)
    assert done.state == "done"
    assert count(target) == ROWS
    assert done.stats["rows"] == ROWS


def test_cancel_before_the_switch_rolls_back(
    workspace: Workspace, env_file: Path, make_postgres_db: Callable[..., URL]
) -> None:
    source, target = make_postgres_db(), make_postgres_db()
    fill(source)
    shop(workspace, env_file, source.render_as_string(hide_password=False))
    config = env_file.read_text()
    plan = procedure.plan_upgrade(workspace, "shop-db", to_handle=target.render_as_string(hide_password=False))
    run = procedure.start_upgrade(workspace, plan)
    cancel = threading.Event()

    def sink(event: RunEvent) -> None:
        if event.step == "backup" and event.state == "running":
            cancel.set()

    with pytest.raises(Cancelled, match="rolled back"):
        procedure.execute(workspace, run.id, cancel=cancel, on_event=sink)
    after = procedure.show_run(workspace, run.id)
    assert after.state == "rolled_back" and not after.switched
    assert env_file.read_text() == config  # maintenance flag gone, handle unchanged
    assert workspace.show_resource("shop-db").state == "attached"
    assert workspace.show_resource(plan.target_name).state == "failed"
    # The lock is released: a new upgrade of the same database may start.
    assert procedure.plan_upgrade(
        workspace, "shop-db", to_handle=make_postgres_db().render_as_string(hide_password=False)
    ).ok


def test_failure_pauses_then_retry_completes(workspace: Workspace, env_file: Path, tmp_path: Path) -> None:
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 100)
    marker = tmp_path / "fail-once"
    marker.write_text("")
    workspace.add_deploy(
        "shop",
        str(env_file),
        restart_cmd="true",
        maintenance_on_cmd=f"if [ -e {marker} ]; then rm {marker}; echo 'app busy' >&2; exit 4; fi",
        maintenance_off_cmd="true",
    )
    workspace.register_resource("shop-db", f"sqlite:///{source}")
    workspace.attach("shop-db", "shop")
    plan = procedure.plan_upgrade(workspace, "shop-db", to_handle=f"sqlite:///{tmp_path / 'new.db'}")
    run = procedure.start_upgrade(workspace, plan)
    with pytest.raises(UpgradeFailed, match=r"failed at 'Maintenance on.*app busy.*Retry it, or roll it back"):
        procedure.execute(workspace, run.id, on_failure="pause")
    paused = procedure.show_run(workspace, run.id)
    assert paused.state == "failed" and paused.steps[2].state == "failed"
    assert procedure.list_runs(workspace, unfinished=True)[0].id == run.id
    with pytest.raises(Conflict, match=f"already being upgraded .run {run.id}"):
        procedure.start_upgrade(
            workspace, procedure.plan_upgrade(workspace, "shop-db", to_handle=f"sqlite:///{tmp_path / 'x.db'}")
        )
    # The paused run gave up its lease: another admin's Changeover may retry it at once.
    done = procedure.execute(Workspace(workspace.inventory, actor="alice@elsewhere"), run.id)
    assert done.state == "done" and done.steps[2].attempts == 2


def test_failure_after_the_switch_is_resumed_never_rolled_back(
    workspace: Workspace, env_file: Path, tmp_path: Path
) -> None:
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 100)
    ok = tmp_path / "off-works"
    workspace.add_deploy(
        "shop",
        str(env_file),
        restart_cmd="true",
        maintenance_on_cmd="true",
        maintenance_off_cmd=f"test -e {ok} || {{ echo 'proxy down' >&2; exit 5; }}",
    )
    workspace.register_resource("shop-db", f"sqlite:///{source}")
    workspace.attach("shop-db", "shop")
    new = tmp_path / "new.db"
    plan = procedure.plan_upgrade(workspace, "shop-db", to_handle=f"sqlite:///{new}")
    run = procedure.start_upgrade(workspace, plan)
    runner.FORWARD_RETRIES, saved = 1, runner.FORWARD_RETRIES
    try:
        with pytest.raises(UpgradeFailed, match="after the switch: .*proxy down.*--resume"):
            procedure.execute(workspace, run.id)
    finally:
        runner.FORWARD_RETRIES = saved
    stuck = procedure.show_run(workspace, run.id)
    assert stuck.switched and stuck.state == "failed" and stuck.step == "maintenance_off"
    assert f"DATABASE_URL=sqlite:///{new}" in env_file.read_text()
    with pytest.raises(Conflict, match="point of no return"):
        procedure.rollback(workspace, run.id)
    ok.write_text("")
    done = procedure.execute(workspace, run.id)
    assert done.state == "done"
    assert workspace.show_resource("shop-db").state == "detached"


def test_interrupted_load_is_redone_on_resume(
    workspace: Workspace, env_file: Path, make_postgres_db: Callable[..., URL]
) -> None:
    source, target = make_postgres_db(), make_postgres_db()
    fill(source)
    shop(workspace, env_file, source.render_as_string(hide_password=False))
    plan = procedure.plan_upgrade(workspace, "shop-db", to_handle=target.render_as_string(hide_password=False))
    run = procedure.start_upgrade(workspace, plan)

    class Crash(BaseException):
        """Stands for the process dying: not an error the procedure handles."""

    def crash(event: RunEvent) -> None:
        if event.step == "verify" and event.state == "running":
            raise Crash

    with pytest.raises(Crash):
        procedure.execute(workspace, run.id, on_event=crash)
    crashed = procedure.show_run(workspace, run.id)
    assert crashed.state == "running" and crashed.step == "verify"
    assert [s.state for s in crashed.steps[:6]] == ["done"] * 5 + ["running"]
    # Damage the half-finished target as a crash mid-load would: the resume must start the load afresh.
    engine = sa.create_engine(target)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM items WHERE id < 10"))
    engine.dispose()
    from changeover.core.upgrade import journal

    journal.update_step(workspace, run.id, "load", state="running")
    done = procedure.execute(workspace, run.id)
    assert done.state == "done"
    assert count(target) == ROWS
    assert done.steps[4].attempts == 2


def test_another_live_driver_is_refused(workspace: Workspace, env_file: Path, tmp_path: Path) -> None:
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 10)
    shop(workspace, env_file, f"sqlite:///{source}")
    run = procedure.start_upgrade(
        workspace, procedure.plan_upgrade(workspace, "shop-db", to_handle=f"sqlite:///{tmp_path / 'n.db'}")
    )
    other = Workspace(workspace.inventory, actor="alice@elsewhere")
    with pytest.raises(Conflict, match=f"run {run.id} is being driven by tester@test"):
        procedure.execute(other, run.id)


def test_preflight_refuses_what_would_lose_writes(
    workspace: Workspace, env_file: Path, tmp_path: Path, make_postgres_db: Callable[..., URL]
) -> None:
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 10)
    workspace.add_deploy("shop", str(env_file), restart_cmd="true")  # no maintenance hook
    workspace.register_resource("shop-db", f"sqlite:///{source}")
    workspace.attach("shop-db", "shop")
    busy = make_postgres_db()
    fill(busy, 1)
    plan = procedure.plan_upgrade(workspace, "shop-db", to_handle=busy.render_as_string(hide_password=False))
    failed = {c.name: c.message for c in plan.checks if not c.ok}
    assert "no maintenance hook" in failed["maintenance hook of shop"]
    assert "not empty" in failed["target empty"]
    with pytest.raises(UpgradeFailed, match="Pre-flight checks failed, so nothing was started"):
        procedure.start_upgrade(workspace, plan)
    assert procedure.list_runs(workspace) == []
    assert [r.name for r in workspace.list_resources()] == ["shop-db"]


def test_an_unexpected_error_in_a_step_rolls_back(
    workspace: Workspace, env_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 10)
    shop(workspace, env_file, f"sqlite:///{source}")
    config = env_file.read_text()

    def broken(ctx: object, report: object) -> str:
        raise RuntimeError("a bug")

    monkeypatch.setitem(procedure.STEP_FUNCTIONS, "backup", broken)
    run = procedure.start_upgrade(
        workspace, procedure.plan_upgrade(workspace, "shop-db", to_handle=f"sqlite:///{tmp_path / 'n.db'}")
    )
    with pytest.raises(UpgradeFailed, match=r"unexpected error \(RuntimeError\).*rolled back"):
        procedure.execute(workspace, run.id)
    assert procedure.show_run(workspace, run.id).state == "rolled_back"
    assert env_file.read_text() == config


def test_a_cancel_that_arrives_just_before_the_switch_still_rolls_back(
    workspace: Workspace, env_file: Path, tmp_path: Path
) -> None:
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 10)
    shop(workspace, env_file, f"sqlite:///{source}")
    config = env_file.read_text()
    run = procedure.start_upgrade(
        workspace, procedure.plan_upgrade(workspace, "shop-db", to_handle=f"sqlite:///{tmp_path / 'n.db'}")
    )
    cancel = threading.Event()

    def sink(event: RunEvent) -> None:
        if event.step == "verify" and event.state == "done":
            cancel.set()  # after verify's last check of its own, before the switch starts

    with pytest.raises(Cancelled, match="rolled back"):
        procedure.execute(workspace, run.id, cancel=cancel, on_event=sink)
    after = procedure.show_run(workspace, run.id)
    assert after.state == "rolled_back" and not after.switched
    assert env_file.read_text() == config


def test_a_route_not_offered_fails_its_check_and_an_unknown_one_is_refused(
    workspace: Workspace, env_file: Path, tmp_path: Path
) -> None:
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 10)
    shop(workspace, env_file, f"sqlite:///{source}")
    target = f"sqlite:///{tmp_path / 'new.db'}"
    plan = procedure.plan_upgrade(workspace, "shop-db", to_handle=target, route="snapshot")
    assert not plan.ok and plan.route == "snapshot"
    [route_check] = [c.message for c in plan.checks if c.name == "route"]
    assert route_check.startswith("the snapshot route is not offered for this upgrade: it goes from an RDS instance")
    assert [n for n, _ in plan.steps] == list(procedure.route_steps("snapshot"))
    with pytest.raises(UpgradeFailed, match="route: the snapshot route is not offered"):
        procedure.start_upgrade(workspace, plan)
    with pytest.raises(InvalidInput, match="no upgrade route 'teleport': choose one of copy, snapshot, online"):
        procedure.plan_upgrade(workspace, "shop-db", to_handle=target, route="teleport")
    copy = procedure.plan_upgrade(workspace, "shop-db", to_handle=target)
    run = procedure.start_upgrade(workspace, copy)
    assert run.route == "copy" and [s.name for s in run.steps] == list(procedure.STEPS)


def _damage_a_row(backup_folder: Path) -> None:
    """Change one character of one row in a PostgreSQL directory dump's data, keeping its size."""
    dump = backup_folder / "database.pgdir"
    data = max((p for p in dump.iterdir() if p.suffix == ".dat"), key=lambda p: p.stat().st_size)
    raw = data.read_bytes()
    assert b"item 1" in raw
    data.write_bytes(raw.replace(b"item 1", b"itex 1", 1))


def test_a_backup_damaged_before_its_load_never_reaches_the_switch(
    workspace: Workspace, env_file: Path, make_postgres_db: Callable[..., URL], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load reads the artifact's sha256 again only when another process made or checked it (a resumed
    run); right after this process's backup step it does not, and the verify step catches the damage."""
    from changeover.core.upgrade import steps

    source = make_postgres_db()
    fill(source)
    shop(workspace, env_file, source.render_as_string(hide_password=False))
    config = env_file.read_text()

    def upgrade(sink: Callable[[RunEvent], None]) -> tuple[int, str]:
        target = make_postgres_db().render_as_string(hide_password=False)
        run = procedure.start_upgrade(workspace, procedure.plan_upgrade(workspace, "shop-db", to_handle=target))
        try:
            procedure.execute(workspace, run.id, on_event=sink)
        except UpgradeFailed as exc:
            return run.id, exc.message
        pytest.fail("the upgrade switched to a damaged copy")

    def damage_after_backup(event: RunEvent) -> None:
        if event.step == "backup" and event.state == "done":
            _damage_a_row(Path(procedure.show_run(workspace, event.run_id).backup_path or ""))

    run_id, message = upgrade(damage_after_backup)
    assert "differ" in message and "rolled back" in message, message  # caught by the verify step
    assert {s.name: s.state for s in procedure.show_run(workspace, run_id).steps}["verify"] == "failed"
    assert env_file.read_text() == config

    class Crash(BaseException):
        """Stands for the process dying."""

    def crash_before_load(event: RunEvent) -> None:
        if event.step == "load" and event.state == "running":
            raise Crash

    target = make_postgres_db().render_as_string(hide_password=False)
    run = procedure.start_upgrade(workspace, procedure.plan_upgrade(workspace, "shop-db", to_handle=target))
    with pytest.raises(Crash):
        procedure.execute(workspace, run.id, on_event=crash_before_load)
    _damage_a_row(Path(procedure.show_run(workspace, run.id).backup_path or ""))
    monkeypatch.setattr(steps, "_THIS_PROCESS", "another process")  # the resume runs in a new process
    with pytest.raises(UpgradeFailed, match="is damaged: its checksum does not match.*rolled back"):
        procedure.execute(workspace, run.id)
    assert {s.name: s.state for s in procedure.show_run(workspace, run.id).steps}["load"] == "failed"
    assert env_file.read_text() == config
