"""Faults caused for real during an upgrade, each ending in a clear message and a rollback (or, after the
switch, a retry or resume), with nothing lost.

The example app runs as the deploy. Writes are made through it before the run; the source's checksums are
taken then, and must be the same after the fault (the upgrade never writes to the source). Afterwards the
deploy is on exactly one database, out of maintenance, and a new write lands where its .env points.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import keyring
import keyring.errors
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core import paths, servers
from changeover.core.errors import Cancelled, ChangeoverError
from changeover.core.transfer.verify import checksum_database
from changeover.core.upgrade import procedure, runner
from changeover.core.upgrade.procedure import RunEvent, RunInfo, UpgradeFailed
from tests.conftest import POSTGRES_URL, unique_name
from tests.keyring_file import FileKeyring

from .conftest import (
    Kit,
    TwelveFactorApp,
    ballast,
    on_one_database,
    processes_with,
    seed,
    text,
)

pytestmark = pytest.mark.servers

Sink = Callable[[RunEvent], None]


# -- the scenario -----------------------------------------------------------------------------------


def shop_on(kit: Kit, source: URL, **hooks: object) -> TwelveFactorApp:
    """The example app as deploy 'shop' on ``source`` ('shop-db'), with a few rows written through it."""
    seed(source, 100)
    app = kit.app("shop", source)
    kit.deploy(app, **hooks)
    for i in range(5):
        app.post(f"before {i}")
    return app


def sums(url: URL) -> dict[str, tuple[int, str]]:
    return {s.table: (s.rows, s.checksum) for s in checksum_database(url).values()}


def assert_rolled_back(kit: Kit, app: TwelveFactorApp, source: URL, before: dict[str, tuple[int, str]]) -> RunInfo:
    (run,) = procedure.list_runs(kit.ws)
    assert run.state == "rolled_back" and run.switched_at is None, run
    assert sums(source) == before, "the source changed"
    assert kit.ws.show_resource("shop-db").state == "attached"
    with contextlib.suppress(ChangeoverError):  # a target that was never provisioned does not exist
        assert kit.ws.show_resource(run.target).state == "failed"
    on_one_database(kit, app, "shop-db")
    return run


def upgrade(kit: Kit, *, sink: Sink | None = None, **target: str) -> RunInfo:
    plan = procedure.plan_upgrade(kit.ws, "shop-db", target_name=unique_name("fault").replace("_", "-"), **target)
    assert plan.ok, plan.checks
    run = procedure.start_upgrade(kit.ws, plan, quiet_timeout=20)
    return procedure.execute(kit.ws, run.id, on_event=sink or (lambda e: None))


def when(step: str, state: str, action: Callable[[], None]) -> Sink:
    """An event sink that runs ``action`` once, at the first event for ``step`` in ``state``."""
    fired: list[bool] = []

    def sink(event: RunEvent) -> None:
        if not fired and event.step == step and event.state == state:
            fired.append(True)
            action()

    return sink


# -- the target server stops in the middle of the load ---------------------------------------------


def test_target_server_stops_in_the_middle_of_the_load(kit: Kit, make_postgres_db, private_postgres) -> None:  # type: ignore[no-untyped-def]
    server_url, crash = private_postgres.url, private_postgres.crash
    source = make_postgres_db("co_fault_src")
    app = shop_on(kit, source)
    ballast(source, 150_000)
    before = sums(source)
    servers.register_server(kit.ws, "private", text(server_url))
    copied: list[int] = []

    def crash_while_copying() -> None:
        """Watch the server itself, and crash it once rows are flowing into it."""
        engine = sa.create_engine(server_url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
        query = sa.text("SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy")
        pause = threading.Event()
        try:
            with engine.connect() as conn:
                deadline = time.monotonic() + 60
                while not copied or copied[-1] == 0:
                    assert time.monotonic() < deadline, "no rows were copied into the new database"
                    copied.append(int(conn.execute(query).scalar_one()))
                    pause.wait(0.005)
        finally:
            engine.dispose()
        crash()

    errors: list[BaseException] = []

    def watch() -> None:
        try:
            crash_while_copying()
        except BaseException as exc:  # reported by the test thread below
            errors.append(exc)

    watcher = threading.Thread(target=watch, daemon=True)
    with pytest.raises(UpgradeFailed) as failed:
        upgrade(kit, sink=when("load", "running", watcher.start), provision_on="private")
    watcher.join(30)

    assert not errors, errors
    assert copied[-1] > 0
    message = failed.value.message
    assert "failed at 'Load into the new database'" in message and "rolled back" in message, message
    run = assert_rolled_back(kit, app, source, before)
    assert run.steps[procedure.STEPS.index("load")].state == "failed"


# -- the backup folder runs out of space ----------------------------------------------------------


@pytest.fixture
def tiny_backups_folder() -> Iterator[Callable[[], None]]:
    """Mount a 1 MB tmpfs over the backups folder (now, or later through the returned callable)."""
    folder = paths.backups_dir()
    folder.mkdir(parents=True, exist_ok=True)
    mounted: list[bool] = []

    def mount() -> None:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): the out-of-space case needs root")
        mounted.append(True)

    try:
        yield mount
    finally:
        if mounted:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)


def test_backup_folder_out_of_space_mid_run(kit: Kit, make_postgres_db, tiny_backups_folder) -> None:  # type: ignore[no-untyped-def]
    source, target = make_postgres_db("co_fault_src"), make_postgres_db("co_fault_dst")
    app = shop_on(kit, source)
    ballast(source, 30_000, width=4)  # about 4 MB: more than the 1 MB folder holds
    before = sums(source)

    with pytest.raises(UpgradeFailed) as failed:
        # The space goes between the pre-flight check and the backup (another job filled the disk).
        upgrade(kit, sink=when("maintenance_on", "done", tiny_backups_folder), to_handle=text(target))

    message = failed.value.message
    assert "failed at 'Back up the current database'" in message and "rolled back" in message, message
    assert "space" in message.lower(), message
    assert_rolled_back(kit, app, source, before)
    assert not any(paths.backups_dir().rglob("database.*")), "a partial backup was left in the full folder"


def test_backup_folder_out_of_space_before_the_run(kit: Kit, make_postgres_db, tiny_backups_folder) -> None:  # type: ignore[no-untyped-def]
    source, target = make_postgres_db("co_fault_src"), make_postgres_db("co_fault_dst")
    app = shop_on(kit, source)
    env_before = app.env_file.read_bytes()
    tiny_backups_folder()

    plan = procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(target))
    (disk,) = [c for c in plan.checks if c.name == "disk for the backup"]
    assert not plan.ok and not disk.ok and "MB free" in disk.message
    with pytest.raises(UpgradeFailed, match="Pre-flight checks failed, so nothing was started: disk for the backup"):
        procedure.start_upgrade(kit.ws, plan)
    assert procedure.list_runs(kit.ws) == [] and app.env_file.read_bytes() == env_before


# -- hooks that fail or hang ------------------------------------------------------------------------


def test_maintenance_hook_fails(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    source, target = make_postgres_db("co_fault_src"), make_postgres_db("co_fault_dst")
    app = shop_on(kit, source, maintenance_on_cmd="echo 'the load balancer refused the drain' >&2; exit 7")
    before = sums(source)

    with pytest.raises(UpgradeFailed) as failed:
        upgrade(kit, to_handle=text(target))

    message = failed.value.message
    assert "failed at 'Maintenance on, wait until quiet'" in message and "rolled back" in message
    assert "maintenance on hook failed (exit 7): the load balancer refused the drain" in message, message
    assert_rolled_back(kit, app, source, before)


def test_maintenance_hook_hangs_past_its_timeout(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    source, target = make_postgres_db("co_fault_src"), make_postgres_db("co_fault_dst")
    marker = unique_name("hang")
    taken_out = kit.tmp / "maintenance-off"
    app = shop_on(
        kit, source, maintenance_on_cmd=f"sleep 60; echo {marker}", maintenance_off_cmd=f"echo off >> {taken_out}"
    )
    # The short timeout is set once the app runs, and the way out of maintenance is a command of its own: the app's
    # restart (a Python start) may take more than 2 s on a loaded machine, and only the hanging hook is under test.
    kit.ws.edit_deploy("shop", hook_timeout=2)
    before = sums(source)

    with pytest.raises(UpgradeFailed) as failed:
        upgrade(kit, to_handle=text(target))

    message = failed.value.message
    assert "did not finish within 2 s and was stopped" in message and "rolled back" in message, message
    assert_rolled_back(kit, app, source, before)
    assert taken_out.read_text() == "off\n", "the rollback did not take the deploy out of maintenance once"
    assert not processes_with(marker.encode()), "the hanging hook was left running"


def test_restart_hook_fails_at_the_switch_then_resume(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    source, target = make_postgres_db("co_fault_src"), make_postgres_db("co_fault_dst")
    hook = kit.tmp / "restart-hook.sh"
    app = kit.app("shop", source)
    working = f"#!/bin/sh\nexec {app.restart_cmd}\n"
    hook.write_text(working)
    hook.chmod(0o755)
    seed(source, 100)
    kit.deploy(app, restart_cmd=str(hook))
    acked = {app.post(f"before {i}"): f"before {i}" for i in range(5)}
    before = sums(source)

    def break_hook() -> None:
        hook.write_text("#!/bin/sh\necho 'shop.service not found' >&2\nexit 5\n")

    with pytest.raises(UpgradeFailed) as failed:
        upgrade(kit, sink=when("verify", "done", break_hook), to_handle=text(target))

    message = failed.value.message
    assert "after the switch" in message and "restart hook failed (exit 5): shop.service not found" in message
    (run,) = procedure.list_runs(kit.ws)
    assert run.state == "failed" and run.switched
    assert run.steps[procedure.STEPS.index("switch")].attempts == runner.FORWARD_RETRIES
    # Past the point of no return the .env and the inventory already name the new database: one database.
    assert app.config()["DATABASE_URL"] == kit.ws.full_handle(run.target)
    with pytest.raises(ChangeoverError, match="point of no return"):
        procedure.rollback(kit.ws, run.id)

    hook.write_text(working)
    resumed = procedure.execute(kit.ws, run.id)

    assert resumed.state == "done"
    on_one_database(kit, app, run.target, acked)
    assert sums(source) == before


# -- the keyring is locked --------------------------------------------------------------------------


class LockableKeyring(FileKeyring):
    """The test's file keyring, which can be locked like a real one (every call raises KeyringLocked)."""

    locked = False

    def _check(self) -> None:
        if self.locked:
            raise keyring.errors.KeyringLocked("the keyring is locked")

    def get_password(self, service: str, username: str) -> str | None:
        self._check()
        return super().get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check()
        super().set_password(service, username, password)

    def delete_password(self, service: str, username: str) -> None:
        self._check()
        super().delete_password(service, username)


@pytest.fixture
def lockable_keyring(kit: Kit) -> LockableKeyring:
    backend = LockableKeyring()
    keyring.set_keyring(backend)  # the kit fixture puts its own back afterwards
    return backend


def test_keyring_locked_before_the_run(kit: Kit, make_postgres_db, lockable_keyring: LockableKeyring) -> None:  # type: ignore[no-untyped-def]
    source = make_postgres_db("co_fault_src")
    app = shop_on(kit, source)
    servers.register_server(kit.ws, "pg", POSTGRES_URL)
    before = sums(source)
    lockable_keyring.locked = True

    with pytest.raises(UpgradeFailed) as failed:
        upgrade(kit, provision_on="pg")

    message = failed.value.message
    assert "failed at 'Provision the new database'" in message and "Unlock your keyring" in message, message
    lockable_keyring.locked = False
    run = assert_rolled_back(kit, app, source, before)
    assert run.target not in [r.name for r in kit.ws.list_resources("all")], "a database was provisioned anyway"


def test_keyring_locked_mid_run_rolls_back(kit: Kit, make_postgres_db, lockable_keyring: LockableKeyring) -> None:  # type: ignore[no-untyped-def]
    source = make_postgres_db("co_fault_src")
    app = shop_on(kit, source)
    servers.register_server(kit.ws, "pg", POSTGRES_URL)
    before = sums(source)

    def lock() -> None:
        lockable_keyring.locked = True

    with pytest.raises(UpgradeFailed) as failed:
        upgrade(kit, sink=when("backup", "done", lock), provision_on="pg")

    message = failed.value.message
    assert "failed at 'Load into the new database'" in message and "Unlock your keyring" in message, message
    lockable_keyring.locked = False
    run = assert_rolled_back(kit, app, source, before)
    assert kit.ws.show_resource(run.target).origin == "provisioned"


def test_keyring_locked_at_the_switch_is_retried(kit: Kit, make_postgres_db, lockable_keyring: LockableKeyring) -> None:  # type: ignore[no-untyped-def]
    source = make_postgres_db("co_fault_src")
    app = shop_on(kit, source)
    servers.register_server(kit.ws, "pg", POSTGRES_URL)
    retries: list[str] = []

    lock_at_the_switch = when("switch", "running", lambda: setattr(lockable_keyring, "locked", True))

    def sink(event: RunEvent) -> None:
        lock_at_the_switch(event)
        if event.state == "retrying":
            retries.append(event.message)
            lockable_keyring.locked = False  # the admin unlocks it while the step waits to retry

    run = upgrade(kit, sink=sink, provision_on="pg")

    assert run.state == "done"
    assert len(retries) == 1 and "Unlock your keyring" in retries[0], retries
    on_one_database(kit, app, run.target)


# -- the deploy's config file is read-only ---------------------------------------------------------


def test_read_only_config_refused_before_the_run(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    source, target = make_postgres_db("co_fault_src"), make_postgres_db("co_fault_dst")
    app = shop_on(kit, source)
    app.env_file.chmod(0o444)
    env_before = app.env_file.read_bytes()

    plan = procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(target))

    (check,) = [c for c in plan.checks if c.name == "config of shop"]
    assert not plan.ok and not check.ok and "read-only: make it writable (chmod u+w)" in check.message
    with pytest.raises(UpgradeFailed, match="config of shop"):
        procedure.start_upgrade(kit.ws, plan)
    assert procedure.list_runs(kit.ws) == [] and app.env_file.read_bytes() == env_before


def test_config_made_read_only_mid_run_is_retried_at_the_switch(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    source, target = make_postgres_db("co_fault_src"), make_postgres_db("co_fault_dst")
    app = shop_on(kit, source)
    retries: list[str] = []

    def sink(event: RunEvent) -> None:
        if (event.step, event.state) == ("verify", "done"):
            app.env_file.chmod(0o444)
        elif event.state == "retrying":
            retries.append(event.message)
            app.env_file.chmod(0o600)

    run = upgrade(kit, sink=sink, to_handle=text(target))

    assert run.state == "done"
    assert len(retries) == 1 and "read-only: make it writable" in retries[0], retries
    assert app.env_file.stat().st_mode & 0o777 == 0o600
    on_one_database(kit, app, run.target)


def test_config_made_read_only_before_maintenance_rolls_back(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    source, target = make_postgres_db("co_fault_src"), make_postgres_db("co_fault_dst")
    app = shop_on(kit, source)
    before = sums(source)

    with pytest.raises(UpgradeFailed) as failed:
        upgrade(kit, sink=when("provision", "done", lambda: app.env_file.chmod(0o444)), to_handle=text(target))

    # Maintenance could not be turned on; taking it off again writes nothing, so the rollback completes.
    message = failed.value.message
    assert "failed at 'Maintenance on, wait until quiet'" in message and "read-only" in message, message
    assert "It was rolled back" in message, message
    app.env_file.chmod(0o600)
    assert_rolled_back(kit, app, source, before)


def test_config_made_read_only_in_maintenance_leaves_a_rollback_to_finish(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    source, target = make_postgres_db("co_fault_src"), make_postgres_db("co_fault_dst")
    app = shop_on(kit, source)
    before = sums(source)
    lock_config = when("maintenance_on", "done", lambda: app.env_file.chmod(0o444))

    def cancel_at_backup(event: RunEvent) -> None:
        lock_config(event)
        if event.step == "backup" and event.state == "running":
            raise Cancelled("The upgrade was cancelled by the user.")

    with pytest.raises(UpgradeFailed) as failed:
        upgrade(kit, sink=cancel_at_backup, to_handle=text(target))

    # Taking maintenance off needs the file that is now read-only: the message says why the run stopped,
    # why the rollback did not finish, and how to finish it.
    message = failed.value.message
    (run,) = procedure.list_runs(kit.ws)
    assert "was cancelled" in message and "Rolling it back did not finish" in message, message
    assert "read-only" in message and f"--rollback {run.id}" in message, message
    assert run.state == "rolling_back" and "read-only" in run.error
    assert app.config().get("MAINTENANCE_MODE") == "1"

    app.env_file.chmod(0o600)
    assert procedure.rollback(kit.ws, run.id).state == "rolled_back"
    assert_rolled_back(kit, app, source, before)


# -- a switch that cannot write anything has not passed the point of no return ---------------------


def test_a_switch_that_cannot_write_rolls_back(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    source, target = make_postgres_db("co_fault_src"), make_postgres_db("co_fault_dst")
    app = shop_on(kit, source)
    before = sums(source)
    handle_before = app.config()["DATABASE_URL"]
    events: list[RunEvent] = []
    lock_config = when("verify", "done", lambda: app.env_file.chmod(0o444))

    def sink(event: RunEvent) -> None:
        events.append(event)
        lock_config(event)
        if (event.step, event.state) == ("switch", "failed"):
            app.env_file.chmod(0o600)  # the rollback must take maintenance off: the admin fixed the file by then

    with pytest.raises(UpgradeFailed) as failed:
        upgrade(kit, sink=sink, to_handle=text(target))

    message = failed.value.message
    assert "failed at 'Switch the deploys" in message and "read-only" in message, message
    assert "already use the new database" not in message and "It was rolled back" in message, message
    assert not [e for e in events if e.state == "switched"]
    assert app.config()["DATABASE_URL"] == handle_before
    assert_rolled_back(kit, app, source, before)


# -- what an unfinished run needs cannot be taken away ---------------------------------------------


def test_an_unfinished_run_holds_its_databases_and_deploys(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    source, target = make_postgres_db("co_fault_src"), make_postgres_db("co_fault_dst")
    app = shop_on(kit, source)
    plan = procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(target), target_name="shop-db-new")
    run = procedure.start_upgrade(kit.ws, plan)  # journaled, not executed: as after a kill

    refusals = {
        "deprovision the target": lambda: kit.ws.deprovision("shop-db-new", "shop-db-new"),
        "detach the source": lambda: kit.ws.detach("shop-db", "shop"),
        "edit the deploy": lambda: kit.ws.edit_deploy("shop", restart_cmd="true"),
        "remove the deploy": lambda: kit.ws.remove_deploy("shop"),
        "attach the target": lambda: kit.ws.attach("shop-db-new", "shop", "OTHER_URL"),
        "replace the source's secret": lambda: kit.ws.set_resource_secret("shop-db", text(source)),
    }
    env_before = app.env_file.read_bytes()
    for what, action in refusals.items():
        with pytest.raises(ChangeoverError, match=f"unfinished upgrade run {run.id}") as refused:
            action()
        assert f"--resume {run.id}" in refused.value.message and f"--rollback {run.id}" in refused.value.message, what
    assert app.env_file.read_bytes() == env_before
    assert kit.ws.show_resource("shop-db-new").state != "deprovisioned"

    procedure.rollback(kit.ws, run.id)
    assert kit.ws.deprovision("shop-db-new", "shop-db-new").state == "deprovisioned"
