"""RDS's own upgrade route, taken: the source instance's snapshot restored as a new, larger instance.

The control plane is moto's (in-process and as an HTTP endpoint). moto runs no database, so the data path
stands in for RDS's (tests/aws/conftest.py ``LocalInstances``): the source instance's database lives on the
local PostgreSQL or MariaDB; when Changeover takes the snapshot the test copies that database into a new
local one (that copy is what RDS's snapshot holds), and the instance restored from the snapshot answers with
that copy as its database, reached with the source's master user and password, as a restored instance is.
What moto makes instant (a snapshot that goes creating -> available, a timeout, throttling, a refusal) is
driven through botocore's Stubber at the end.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from dotenv import dotenv_values

from changeover.cli import main
from changeover.core import aws, handles, resources, servers
from changeover.core.errors import Cancelled
from changeover.core.providers import rds
from changeover.core.providers.base import InstanceOptions, ProviderError
from changeover.core.upgrade import procedure
from changeover.core.upgrade.states import ROUTES
from changeover.core.workspace import Workspace
from tests.conftest import unique_name
from tests.upgrade.conftest import ROWS, count, fill

from .conftest import REGION, LocalInstances, rds_client, shop_on

SNAPSHOT_STEPS = list(ROUTES["snapshot"])


def _rds_source(workspace: Workspace, env: Path, engine: str = "postgres") -> str:
    """An RDS instance provisioned by Changeover (db.t4g.medium), filled, attached to the deploy ``shop``."""
    servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    source = unique_name("shop-small").replace("_", "-")
    servers.provision(workspace, "aws-eu", source, plan="db.t4g.medium", instance=InstanceOptions(engine))
    fill(handles.parse(workspace.full_handle(source)).sqlalchemy_url())
    shop_on(workspace, env, resource=source)
    return source


def _calls(calls: list[tuple[str, dict[str, Any]]], operation: str) -> list[dict[str, Any]]:
    return [params for name, params in calls if name == operation]


def _snapshot_plan(workspace: Workspace, source: str, target: str) -> procedure.UpgradePlan:
    plan = procedure.plan_upgrade(
        workspace, source, provision_on="aws-eu", plan="db.r6g.xlarge", target_name=target, route="snapshot"
    )
    assert plan.ok, [c for c in plan.checks if not c.ok]
    return plan


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_an_upgrade_by_the_snapshot_route_restores_verifies_and_switches(
    engine: str,
    aws_backend: str,
    local_instances: LocalInstances,
    rds_calls: list[tuple[str, dict[str, Any]]],
    workspace: Workspace,
    tmp_path: Path,
) -> None:
    env = tmp_path / "shop.env"
    source = _rds_source(workspace, env, engine)
    old_handle = workspace.full_handle(source)
    target = unique_name("shop-big").replace("_", "-")

    plan = _snapshot_plan(workspace, source, target)
    assert [s for s, _ in plan.steps] == SNAPSHOT_STEPS
    snapshot_route = next(r for r in plan.routes if r.name == "snapshot")
    assert snapshot_route.available and snapshot_route.reason == ""
    assert plan.estimate_seconds == snapshot_route.estimate_seconds
    before = len(rds_calls)
    messages: list[str] = []
    done = procedure.execute(
        workspace, procedure.start_upgrade(workspace, plan).id, on_event=lambda e: messages.append(e.message)
    )

    assert done.state == "done" and [s.state for s in done.steps] == ["done"] * len(SNAPSHOT_STEPS)
    snapshot = rds.snapshot_id(source, done.id)
    assert f"{snapshot}: available" in messages and f"{target}: available" in messages
    during = rds_calls[before:]
    assert not _calls(during, "CreateDBInstance")  # no new instance by Changeover's copy: RDS's restore
    [taken] = _calls(during, "CreateDBSnapshot")
    assert taken["DBSnapshotIdentifier"] == snapshot and taken["DBInstanceIdentifier"] == rds.instance_id(source)
    assert {t["Key"]: t["Value"] for t in taken["Tags"]}["changeover:upgrade-run"] == str(done.id)
    [restore] = _calls(during, "RestoreDBInstanceFromDBSnapshot")
    assert restore["DBInstanceClass"] == "db.r6g.xlarge" and restore["Engine"] == engine
    assert restore["PubliclyAccessible"] is False and restore["DBSnapshotIdentifier"] == snapshot
    [instance] = rds_client().describe_db_instances(DBInstanceIdentifier=restore["DBInstanceIdentifier"])["DBInstances"]
    assert instance["DeletionProtection"] is True and instance["StorageEncrypted"] is True
    tags = {t["Key"]: t["Value"] for t in instance["TagList"]}
    assert tags["changeover:resource"] == target and tags["changeover:restored-from"] == snapshot

    new = workspace.show_resource(target)
    assert new.state == "attached" and new.origin == "provisioned" and new.server == "aws-eu" and new.has_secret
    handle = dotenv_values(env)["DATABASE_URL"] or ""
    assert handle == workspace.full_handle(target) != old_handle
    assert handles.parse(handle).secrets == handles.parse(old_handle).secrets  # the source's master password
    assert count(handles.parse(handle).sqlalchemy_url()) == ROWS  # the restored copy, through its endpoint
    assert "MAINTENANCE_MODE" not in env.read_text()
    old = workspace.show_resource(source)
    assert old.state == "detached" and old.keep_until is not None
    assert f"RDS snapshot {snapshot} on aws-eu" in old.note and f"upgrade run {done.id}" in old.note
    verify = next(s for s in done.steps if s.name == "verify")
    assert "1 table" in verify.message or "items" in verify.message or "match" in verify.message, verify.message
    [kept] = rds_client().describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"]
    assert kept["DBInstanceIdentifier"] == rds.instance_id(source)
    record = workspace.change_record_text(done.id, "md")  # the change record of a run without a backup file
    assert "snapshot" in record.lower() and handles.parse(handle).secrets["password"] not in record


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_the_cli_takes_the_snapshot_route(
    aws_backend: str,
    local_instances: LocalInstances,
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", workspace.inventory.url.render_as_string(hide_password=False))
    env = tmp_path / "shop.env"
    source = _rds_source(workspace, env)
    target = unique_name("shop-big").replace("_", "-")

    code, out, err = run_cli(
        "upgrade", source, "--provision", "aws-eu", "--plan", "db.r6g.xlarge", "--name", target, "--route",
        "snapshot", "--yes",
    )  # fmt: skip

    assert code == 0, err
    assert "route snapshot: RDS's snapshot of" in out and "(this plan)" in out
    assert "Snapshot the current database" in out and "Restore the snapshot as the new database" in out
    assert dotenv_values(env)["DATABASE_URL"] == workspace.full_handle(target)
    assert workspace.show_resource(source).state == "detached"
    password = handles.parse(workspace.full_handle(target)).secrets["password"]
    assert password not in out and password not in err
    code, out, _ = run_cli("upgrade", "--list")
    assert code == 0 and target in out


def test_the_snapshot_route_is_refused_with_its_reason_where_it_cannot_be_taken(
    local_instances: LocalInstances, workspace: Workspace, tmp_path: Path
) -> None:
    from moto import mock_aws

    with mock_aws():
        env = tmp_path / "shop.env"
        source = _rds_source(workspace, env)
        same = procedure.plan_upgrade(workspace, source, provision_on="aws-eu", plan="db.t4g.medium", route="snapshot")
        route = next(r for r in same.routes if r.name == "snapshot")
        assert not route.available and "already a db.t4g.medium: give a larger class" in route.reason
        assert not same.ok and any(c.name == "route" and not c.ok for c in same.checks)
        with pytest.raises(procedure.UpgradeFailed, match="Pre-flight checks failed"):
            procedure.start_upgrade(workspace, same)
        unclassed = procedure.plan_upgrade(workspace, source, provision_on="aws-eu", route="snapshot")
        route = next(r for r in unclassed.routes if r.name == "snapshot")
        assert not route.available and "--plan" in route.reason
        servers.register_server(workspace, "aws-us", "rds://us-east-1")
        elsewhere = procedure.plan_upgrade(
            workspace, source, provision_on="aws-us", plan="db.r6g.xlarge", route="snapshot"
        )
        [check] = [c for c in elsewhere.checks if c.name == "route"]
        assert not check.ok and "--provision aws-eu" in check.message


def test_a_cancel_before_the_switch_rolls_back_and_keeps_the_snapshot(
    aws_backend: str, local_instances: LocalInstances, workspace: Workspace, tmp_path: Path
) -> None:
    env = tmp_path / "shop.env"
    source = _rds_source(workspace, env)
    before = env.read_text()
    target = unique_name("shop-big").replace("_", "-")
    run = procedure.start_upgrade(workspace, _snapshot_plan(workspace, source, target))
    cancel = threading.Event()
    events: list[procedure.RunEvent] = []

    def on_event(event: procedure.RunEvent) -> None:
        events.append(event)
        if event.step == "restore" and event.state == "done":
            cancel.set()  # the admin cancels once the new instance is there, before verify and the switch

    with pytest.raises(Cancelled, match="rolled back"):
        procedure.execute(workspace, run.id, cancel=cancel, on_event=on_event)

    done = procedure.show_run(workspace, run.id)
    assert done.state == "rolled_back" and not done.switched
    assert env.read_text() == before  # maintenance off, the handle never changed
    assert workspace.show_resource(source).state == "attached"
    new = workspace.show_resource(target)
    assert new.state == "failed" and "deprovision" in new.note
    snapshot = rds.snapshot_id(source, run.id)
    said = [e.message for e in events if e.state == "rolled_back"]
    assert any(f"The RDS snapshot {snapshot}" in m and "is kept on aws-eu" in m for m in said)
    assert any(f"({target}) is marked failed" in m for m in said)
    assert rds_client().describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"]

    # the failed new instance is deprovisioned by its own name: the restored instance goes, the source stays
    servers.deprovision(workspace, target, target, final_backup=False)
    ids = {i["DBInstanceIdentifier"] for i in rds_client().describe_db_instances()["DBInstances"]}
    assert rds.instance_id(source) in ids and rds.instance_id(servers.database_name(target)) not in ids
    assert count(handles.parse(workspace.full_handle(source)).sqlalchemy_url()) == ROWS


class Killed(BaseException):
    """The process dies here: nothing after this point runs, nothing is journaled (not an error it handles)."""


def test_a_run_killed_after_asking_for_the_snapshot_adopts_it_on_resume(
    local_instances: LocalInstances,
    rds_calls: list[tuple[str, dict[str, Any]]],
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto import mock_aws

    with mock_aws():
        env = tmp_path / "shop.env"
        source = _rds_source(workspace, env)
        target = unique_name("shop-big").replace("_", "-")
        run = procedure.start_upgrade(workspace, _snapshot_plan(workspace, source, target))
        made = aws.client
        kill = {"armed": True}

        def die_after_create(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
            if model.name == "CreateDBSnapshot" and kill["armed"]:
                kill["armed"] = False
                raise Killed  # RDS accepted the snapshot; the process dies before it hears back

        def client(service: str, region: str, profile: str | None = None) -> Any:
            built = made(service, region, profile)
            built.meta.events.register("after-call.rds.CreateDBSnapshot", die_after_create)
            return built

        monkeypatch.setattr(aws, "client", client)

        with pytest.raises(Killed):
            procedure.execute(workspace, run.id)
        stopped = procedure.show_run(workspace, run.id)
        step = next(s for s in stopped.steps if s.name == "snapshot")
        assert step.state == "running"  # as a kill leaves it
        snapshot = rds.snapshot_id(source, run.id)
        assert rds_client().describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"]

        done = procedure.execute(workspace, run.id)  # --resume

        assert done.state == "done"
        assert [p["DBSnapshotIdentifier"] for p in _calls(rds_calls, "CreateDBSnapshot")] == [snapshot, snapshot]
        taken = rds_client().describe_db_snapshots(DBInstanceIdentifier=rds.instance_id(source), SnapshotType="manual")
        [only] = taken["DBSnapshots"]
        assert only["DBSnapshotIdentifier"] == snapshot  # adopted, not a second one
        assert len(_calls(rds_calls, "RestoreDBInstanceFromDBSnapshot")) == 1
        assert dotenv_values(env)["DATABASE_URL"] == workspace.full_handle(target)
        assert count(handles.parse(workspace.full_handle(target)).sqlalchemy_url()) == ROWS


def test_a_rollback_after_a_kill_during_the_restore_deletes_the_unregistered_instance(
    local_instances: LocalInstances, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import mock_aws

    with mock_aws():
        env = tmp_path / "shop.env"
        source = _rds_source(workspace, env)
        before = env.read_text()
        target = unique_name("shop-big").replace("_", "-")
        run = procedure.start_upgrade(workspace, _snapshot_plan(workspace, source, target))
        made = aws.client

        def die(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
            raise Killed  # RDS is restoring the instance; the process dies before it is registered

        def client(service: str, region: str, profile: str | None = None) -> Any:
            built = made(service, region, profile)
            built.meta.events.register("after-call.rds.RestoreDBInstanceFromDBSnapshot", die)
            return built

        monkeypatch.setattr(aws, "client", client)
        with pytest.raises(Killed):
            procedure.execute(workspace, run.id)
        ident = rds.instance_id(servers.database_name(target))
        assert rds_client().describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"]
        monkeypatch.setattr(aws, "client", made)
        said: list[str] = []

        done = procedure.rollback(workspace, run.id, on_event=lambda e: said.append(e.message))  # --rollback

        assert done.state == "rolled_back" and env.read_text() == before
        assert any(f"The RDS instance {ident}, restored but never registered, was deleted" in m for m in said)
        ids = {i["DBInstanceIdentifier"] for i in rds_client().describe_db_instances()["DBInstances"]}
        assert ident not in ids and rds.instance_id(source) in ids
        assert rds_client().describe_db_snapshots(DBSnapshotIdentifier=rds.snapshot_id(source, run.id))
        assert workspace.show_resource(source).state == "attached"
        assert target not in {r.name for r in resources.list_resources(workspace)}


def test_a_resume_after_a_kill_during_the_restore_adopts_the_instance_being_made(
    local_instances: LocalInstances,
    rds_calls: list[tuple[str, dict[str, Any]]],
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto import mock_aws

    with mock_aws():
        env = tmp_path / "shop.env"
        source = _rds_source(workspace, env)
        target = unique_name("shop-big").replace("_", "-")
        run = procedure.start_upgrade(workspace, _snapshot_plan(workspace, source, target))
        made = aws.client
        kill = {"armed": True}

        def die(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
            if kill["armed"]:
                kill["armed"] = False
                raise Killed

        def client(service: str, region: str, profile: str | None = None) -> Any:
            built = made(service, region, profile)
            built.meta.events.register("after-call.rds.RestoreDBInstanceFromDBSnapshot", die)
            return built

        monkeypatch.setattr(aws, "client", client)
        with pytest.raises(Killed):
            procedure.execute(workspace, run.id)

        done = procedure.execute(workspace, run.id)  # --resume

        assert done.state == "done"
        ident = rds.instance_id(servers.database_name(target))
        restores = _calls(rds_calls, "RestoreDBInstanceFromDBSnapshot")
        assert [p["DBInstanceIdentifier"] for p in restores] == [ident, ident]  # the second was "already exists"
        assert len(_calls(rds_calls, "CreateDBSnapshot")) == 1
        tagged = [
            i
            for i in rds_client().describe_db_instances()["DBInstances"]
            if {t["Key"]: t["Value"] for t in i["TagList"]}.get("changeover:resource") == target
        ]
        assert [i["DBInstanceIdentifier"] for i in tagged] == [ident] and tagged[0]["DeletionProtection"] is True
        assert dotenv_values(env)["DATABASE_URL"] == workspace.full_handle(target)


@pytest.mark.parametrize(
    ("instance", "plan", "words"),
    [
        ({"StorageEncrypted": False}, "db.r6g.xlarge", "is not encrypted, so its snapshot and the instance restored"),
        ({}, "db.t4g.medium", "already a db.t4g.medium: give a larger class"),
        ({}, None, "give the new instance class with --plan"),
        ({}, "large", "'large' is not an RDS instance class"),
        ({"DBInstanceStatus": "modifying"}, "db.r6g.xlarge", "is 'modifying': wait until it is available"),
        ({}, "db.r6g.xlarge", ""),
    ],
)
def test_what_the_snapshot_route_refuses_says_what_would_allow_it(
    instance: dict[str, Any], plan: str | None, words: str
) -> None:
    described = {
        "DBInstanceIdentifier": "orders-db",
        "Engine": "postgres",
        "StorageEncrypted": True,
        "DBInstanceClass": "db.t4g.medium",
        "DBInstanceStatus": "available",
        **instance,
    }
    refusal = rds.snapshot_refusal(described, plan)
    assert (words in refusal) if words else refusal == ""


# -- what moto makes instant: botocore's Stubber -----------------------------------------------------

PASSWORD = "Source-master-password-0123456789"
ENDPOINT = {"Address": f"orders-big.abcdefghij.{REGION}.rds.amazonaws.com", "Port": 5432}


@pytest.fixture
def stubbed() -> Iterator[tuple[rds.RDSProvider, Stubber]]:
    provider = rds.RDSProvider(aws.Location("rds", REGION))
    client = aws.client("rds", REGION)
    provider._client = client
    with Stubber(client) as stubber:
        yield provider, stubber
        stubber.assert_no_pending_responses()


def _snap(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "DBSnapshotIdentifier": "orders-db-upgrade-run-7",
        "DBInstanceIdentifier": "orders-db",
        "Engine": "postgres",
        "Status": status,
        "Encrypted": True,
        "TagList": [{"Key": "changeover:upgrade-run", "Value": "7"}],
        **extra,
    }


def _expect_snapshot_status(stubber: Stubber, status: str, **extra: Any) -> None:
    stubber.add_response(
        "describe_db_snapshots",
        {"DBSnapshots": [_snap(status, **extra)]},
        {"DBSnapshotIdentifier": "orders-db-upgrade-run-7"},
    )


def _take(provider: rds.RDSProvider, messages: list[str] | None = None) -> dict[str, Any]:
    def progress(done: int, total: int | None, unit: str, message: str) -> None:
        if messages is not None:
            messages.append(message)

    return provider.snapshot_instance(
        "orders-db", "orders-db-upgrade-run-7", resource="orders-db", database="orders_db", run_id=7,
        progress=progress,
    )  # fmt: skip


def _expect_create_snapshot(stubber: Stubber) -> None:
    stubber.add_response(
        "create_db_snapshot",
        {"DBSnapshot": _snap("creating")},
        {"DBSnapshotIdentifier": "orders-db-upgrade-run-7", "DBInstanceIdentifier": "orders-db", "Tags": ANY},
    )


def test_a_snapshot_reports_creating_with_its_percentage_until_available(
    stubbed: tuple[rds.RDSProvider, Stubber],
) -> None:
    provider, stubber = stubbed
    _expect_create_snapshot(stubber)
    _expect_snapshot_status(stubber, "creating", PercentProgress=0)
    _expect_snapshot_status(stubber, "creating", PercentProgress=0)
    _expect_snapshot_status(stubber, "creating", PercentProgress=45)
    _expect_snapshot_status(stubber, "available", PercentProgress=100)
    messages: list[str] = []

    taken = _take(provider, messages)

    assert taken["Status"] == "available"
    assert messages == [
        "orders-db-upgrade-run-7: taking the snapshot (0%)",
        "orders-db-upgrade-run-7: taking the snapshot (45%)",
        "orders-db-upgrade-run-7: available",
    ]


def test_a_snapshot_not_available_in_time_says_so_and_is_left(
    stubbed: tuple[rds.RDSProvider, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, stubber = stubbed
    ticks = iter([0.0, 60.0, rds.WAIT_SECONDS + 1])
    monkeypatch.setattr(rds, "clock", lambda: next(ticks))
    _expect_create_snapshot(stubber)
    _expect_snapshot_status(stubber, "creating", PercentProgress=10)
    _expect_snapshot_status(stubber, "creating", PercentProgress=20)

    with pytest.raises(ProviderError) as raised:
        _take(provider)

    assert raised.value.title == "Timed out waiting for RDS"
    assert "RDS snapshot orders-db-upgrade-run-7 was not available after 45 minutes (it is 'creating')" in str(
        raised.value
    )


def test_a_throttled_snapshot_is_retried_with_backoff(
    stubbed: tuple[rds.RDSProvider, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, stubber = stubbed
    waits: list[float] = []
    monkeypatch.setattr(aws, "sleep", waits.append)
    stubber.add_client_error("create_db_snapshot", "Throttling", "Rate exceeded", 400)
    stubber.add_client_error("create_db_snapshot", "ThrottlingException", "Rate exceeded", 400)
    _expect_create_snapshot(stubber)
    stubber.add_client_error("describe_db_snapshots", "Throttling", "Rate exceeded", 400)
    _expect_snapshot_status(stubber, "available")

    assert _take(provider)["Status"] == "available"
    assert len(waits) == 3 and all(0 < w <= aws.THROTTLE_MAX_SECONDS for w in waits)


def test_a_snapshot_of_that_name_from_elsewhere_is_not_adopted(stubbed: tuple[rds.RDSProvider, Stubber]) -> None:
    provider, stubber = stubbed
    stubber.add_client_error("create_db_snapshot", "DBSnapshotAlreadyExists", "already exists", 400)
    stubber.add_response(
        "describe_db_snapshots", {"DBSnapshots": [_snap("available", TagList=[])]}, {"DBSnapshotIdentifier": ANY}
    )
    with pytest.raises(ProviderError, match="not taken by this upgrade run"):
        _take(provider)


def _restore(provider: rds.RDSProvider, cancel: threading.Event | None = None, messages: list[str] | None = None):  # type: ignore[no-untyped-def]
    def progress(done: int, total: int | None, unit: str, message: str) -> None:
        if messages is not None:
            messages.append(message)
        if cancel is not None:
            cancel.set()

    return provider.restore_instance(
        "orders-db-upgrade-run-7", "orders-big", plan="db.r6g.xlarge", resource="orders-big", database="orders_db",
        password=PASSWORD,
        progress=progress, cancel=cancel,
    )  # fmt: skip


def _restored(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "DBInstanceIdentifier": "orders-big",
        "DBInstanceClass": "db.r6g.xlarge",
        "Engine": "postgres",
        "DBInstanceStatus": status,
        "MasterUsername": "orders_db",
        "DBName": "orders_db",
        "InstanceCreateTime": datetime(2026, 12, 1, tzinfo=UTC),
        **extra,
    }


def _expect_restore(stubber: Stubber) -> None:
    stubber.add_response("describe_db_snapshots", {"DBSnapshots": [_snap("available")]})
    stubber.add_response(
        "restore_db_instance_from_db_snapshot",
        {"DBInstance": _restored("creating")},
        {
            "DBInstanceIdentifier": "orders-big",
            "DBSnapshotIdentifier": "orders-db-upgrade-run-7",
            "DBInstanceClass": "db.r6g.xlarge",
            "Engine": "postgres",
            "PubliclyAccessible": False,
            "DeletionProtection": False,
            "Tags": ANY,
        },
    )


def _expect_instance(stubber: Stubber, status: str, **extra: Any) -> None:
    stubber.add_response(
        "describe_db_instances", {"DBInstances": [_restored(status, **extra)]}, {"DBInstanceIdentifier": "orders-big"}
    )


def test_a_restore_waits_until_available_then_protects_and_gives_the_handle(
    stubbed: tuple[rds.RDSProvider, Stubber],
) -> None:
    provider, stubber = stubbed
    _expect_restore(stubber)
    _expect_instance(stubber, "creating")
    _expect_instance(stubber, "backing-up", Endpoint=ENDPOINT)
    _expect_instance(stubber, "available", Endpoint=ENDPOINT)
    stubber.add_response(
        "modify_db_instance",
        {"DBInstance": _restored("available")},
        {"DBInstanceIdentifier": "orders-big", "DeletionProtection": True, "ApplyImmediately": True},
    )
    messages: list[str] = []

    handle = _restore(provider, messages=messages)

    assert messages == [
        "orders-big: creating the instance",
        "orders-big: taking its first backup",
        "orders-big: available",
    ]
    assert handle.secrets == {"password": PASSWORD}
    assert handle.masked() == f"postgresql://orders_db:•••@{ENDPOINT['Address']}:5432/orders_db"


def test_a_cancel_while_restoring_deletes_the_unfinished_instance(stubbed: tuple[rds.RDSProvider, Stubber]) -> None:
    provider, stubber = stubbed
    _expect_restore(stubber)
    _expect_instance(stubber, "creating")
    stubber.add_response(
        "delete_db_instance",
        {"DBInstance": _restored("deleting")},
        {"DBInstanceIdentifier": "orders-big", "SkipFinalSnapshot": True, "DeleteAutomatedBackups": True},
    )
    with pytest.raises(Cancelled, match="upgrade was cancelled"):
        _restore(provider, cancel=threading.Event())


@pytest.mark.parametrize(
    ("operation", "code", "text", "title", "words"),
    [
        (
            "restore_db_instance_from_db_snapshot",
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: rds:RestoreDBInstanceFromDBSnapshot",
            "AWS access denied",
            "lacks the permission rds:RestoreDBInstanceFromDBSnapshot (AccessDenied). Allow "
            "rds:RestoreDBInstanceFromDBSnapshot",
        ),
        (
            "restore_db_instance_from_db_snapshot",
            "InvalidParameterCombination",
            "RDS does not support creating a DB instance with the following combination: DBInstanceClass="
            "db.r6g.xlarge, Engine=postgres",
            "Class not offered in this region",
            f"The class db.r6g.xlarge is not offered for postgres in {REGION}",
        ),
        (
            "restore_db_instance_from_db_snapshot",
            "InstanceQuotaExceeded",
            "Cannot create more than 40 DB instances",
            "AWS quota reached",
            "an account quota is reached (InstanceQuotaExceeded",
        ),
    ],
)
def test_restore_refusals_in_words(
    stubbed: tuple[rds.RDSProvider, Stubber], operation: str, code: str, text: str, title: str, words: str
) -> None:
    provider, stubber = stubbed
    stubber.add_response("describe_db_snapshots", {"DBSnapshots": [_snap("available")]})
    stubber.add_client_error(operation, code, text, 400)
    with pytest.raises(ProviderError) as raised:
        _restore(provider)
    assert raised.value.title == title and words in raised.value.message
    assert PASSWORD not in raised.value.message


def test_access_denied_to_the_snapshot_names_the_permission(stubbed: tuple[rds.RDSProvider, Stubber]) -> None:
    provider, stubber = stubbed
    stubber.add_client_error("create_db_snapshot", "AccessDenied", "not authorized", 403)
    with pytest.raises(ProviderError) as raised:
        _take(provider)
    assert raised.value.title == "AWS access denied"
    assert "lacks the permission rds:CreateDBSnapshot" in raised.value.message


def test_a_large_database_waits_longer_for_its_snapshot(
    stubbed: tuple[rds.RDSProvider, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 2_000_000_000_000  # 2 TB: a first snapshot takes hours, not 45 minutes
    longest = rds.snapshot_wait_seconds(size)
    assert rds.WAIT_SECONDS <= rds.snapshot_wait_seconds(0) < longest == 3 * rds.snapshot_restore_seconds(size)
    provider, stubber = stubbed
    ticks = iter([0.0, rds.WAIT_SECONDS + 1, longest + 1])
    monkeypatch.setattr(rds, "clock", lambda: next(ticks))
    _expect_create_snapshot(stubber)
    _expect_snapshot_status(stubber, "creating", PercentProgress=10)  # past 45 minutes: still waiting
    _expect_snapshot_status(stubber, "creating", PercentProgress=30)

    with pytest.raises(ProviderError, match=f"not available after {longest / 60:.0f} minutes"):
        provider.snapshot_instance(
            "orders-db", "orders-db-upgrade-run-7", resource="orders-db", database="orders_db", run_id=7,
            wait_seconds=longest,
        )  # fmt: skip
