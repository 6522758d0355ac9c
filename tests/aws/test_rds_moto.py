"""Amazon RDS as a server, against moto (in-process and as an HTTP endpoint): register, provision, attach,
rotate, deprovision with a final snapshot, through the core use cases and the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values
from sqlalchemy.engine import make_url

from changeover.cli import main
from changeover.core import servers
from changeover.core.errors import ChangeoverError, Conflict, InvalidInput
from changeover.core.providers.base import InstanceOptions
from changeover.core.workspace import Workspace

from .conftest import REGION, LocalInstances, rds_client


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def inventory(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The CLI on the same inventory as ``workspace``."""
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", workspace.inventory.url.render_as_string(hide_password=False))
    return workspace


def test_provision_attach_and_deprovision_with_a_final_snapshot_from_the_cli(
    aws_backend: str, inventory: Workspace, tmp_path: Path
) -> None:
    code, out, err = run("server", "add", "aws-eu", f"rds://{REGION}")
    assert code == 0, err
    assert "Registered rds server aws-eu (AWS eu-west-1): rds://eu-west-1" in out
    code, out, err = run("server", "show", "aws-eu")
    assert "plans      yes" in out and "db.t4g.large (2 vCPU, 8 GiB)" in out

    code, out, err = run(
        "provision", "aws-eu", "orders-db", "--engine", "postgres", "--version", "15.4", "--plan", "db.t4g.large",
        "--storage", "50",
    )  # fmt: skip
    assert code == 0, err
    assert "orders-db: available" in out  # the instance's status, as a message
    info = inventory.show_resource("orders-db")
    assert info.kind == "postgresql" and info.origin == "provisioned" and info.server == "aws-eu"
    assert info.handle == f"postgresql://orders_db:•••@orders-db.aaaaaaaaaa.{REGION}.rds.amazonaws.com:5432/orders_db"
    assert info.has_secret
    [instance] = rds_client().describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"]
    assert instance["DBInstanceClass"] == "db.t4g.large" and instance["Engine"] == "postgres"
    assert instance["EngineVersion"] == "15.4" and instance["AllocatedStorage"] == 50
    assert instance["DeletionProtection"] is True
    assert instance["StorageEncrypted"] is True and instance["PubliclyAccessible"] is False
    tags = {t["Key"]: t["Value"] for t in instance["TagList"]}
    assert tags == {
        "changeover:managed": "true",
        "changeover:resource": "orders-db",
        "changeover:database": "orders_db",
    }
    password = make_url(inventory.full_handle("orders-db")).password
    assert password and len(password) >= 32 and password not in out
    assert password not in inventory.inventory.url.render_as_string()  # nothing secret in the inventory file
    assert password not in (tmp_path / "inventory.sqlite3").read_bytes().decode("utf-8", "replace")

    env = tmp_path / "shop.env"
    env.write_text("DEBUG=0\n")
    assert run("deploy", "add", "shop", "--env-file", str(env), "--restart-cmd", "true")[0] == 0
    assert run("attach", "orders-db", "shop")[0] == 0
    assert dotenv_values(env)["DATABASE_URL"] == inventory.full_handle("orders-db")

    code, _, err = run("deprovision", "orders-db", "--confirm", "orders-db")
    assert code == 1 and "attached" in err  # refused while attached: nothing touched
    assert run("detach", "orders-db", "shop")[0] == 0
    code, _, err = run("deprovision", "orders-db", "--confirm", "orders")
    assert code == 1 and "deletion protection on" in err and "typed name lifts the protection" in err
    assert rds_client().describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"]

    code, out, err = run("deprovision", "orders-db", "--confirm", "orders-db")
    assert code == 0, err
    stamp = inventory.clock().strftime("%Y%m%d")
    assert out == f"Deprovisioned orders-db; Final snapshot orders-db-{stamp} on aws-eu.\n"
    snapshots = rds_client().describe_db_snapshots()["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in snapshots] == [f"orders-db-{stamp}"]
    client = rds_client()
    with pytest.raises(client.exceptions.DBInstanceNotFoundFault):
        client.describe_db_instances(DBInstanceIdentifier="orders-db")
    code, out, _ = run("resource", "list", "--state", "deprovisioned", "--json")
    [listed] = json.loads(out)
    assert listed["name"] == "orders-db" and listed["state"] == "deprovisioned"
    assert f"orders-db-{stamp}" in listed["note"]
    code, out, _ = run("resource", "list", "--state", "deprovisioned")
    assert f"deprovisioned; final snapshot orders-db-{stamp} on aws-eu" in out
    code, out, _ = run("resource", "show", "orders-db")
    assert f"note         Final snapshot orders-db-{stamp} on aws-eu" in out
    assert not listed["has_secret"]
    [event] = [e for e in inventory.events("orders-db") if e.action == "deprovision" and e.result == "ok"]
    assert f"final snapshot orders-db-{stamp}" in event.detail and password not in event.detail
    assert "deletion protection lifted (confirmed by the typed name)" in event.detail


def test_deprovision_without_a_final_snapshot(aws_backend: str, workspace: Workspace) -> None:
    servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    servers.provision(
        workspace, "aws-eu", "scratch", plan="db.t4g.micro", instance=InstanceOptions("mariadb", "10.11.6")
    )  # moto knows no default
    info = workspace.show_resource("scratch")
    assert info.kind == "mysql" and info.handle.startswith("mysql://scratch:•••@scratch.")
    assert info.handle.endswith(":3306/scratch")

    done = servers.deprovision(workspace, "scratch", "scratch", final_backup=False)

    assert done.state == "deprovisioned" and done.note.startswith("No final snapshot (declined)")
    assert rds_client().describe_db_snapshots()["DBSnapshots"] == []
    assert rds_client().describe_db_instances()["DBInstances"] == []


def test_rotate_gives_the_master_user_a_new_password(
    aws_backend: str,
    workspace: Workspace,
    tmp_path: Path,
    rds_calls: list[tuple[str, dict[str, Any]]],
    local_instances: LocalInstances,
) -> None:
    """The new password is checked on the instance before any deploy changes: the instance's data path is the
    local MariaDB, whose master user RDS's ModifyDBInstance re-passwords (LocalInstances)."""
    servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    servers.provision(workspace, "aws-eu", "orders-db", plan="db.t4g.large", instance=InstanceOptions("mysql"))
    env = tmp_path / "shop.env"
    env.write_text("")
    log = tmp_path / "restarts.log"
    workspace.add_deploy("shop", str(env), restart_cmd=f"echo restarted >> {log}")
    workspace.attach("orders-db", "shop")
    before = workspace.full_handle("orders-db")
    [created] = [p for op, p in rds_calls if op == "CreateDBInstance"]
    assert created["MasterUserPassword"] == make_url(before).password
    rds_calls.clear()

    result = workspace.rotate("orders-db")

    after = workspace.full_handle("orders-db")
    assert result.deploys == ("shop",) and after != before
    assert make_url(after).username == make_url(before).username == "orders_db"
    assert dotenv_values(env)["DATABASE_URL"] == after
    assert log.read_text() == "restarted\nrestarted\n"
    [modified] = [p for op, p in rds_calls if op == "ModifyDBInstance"]
    assert modified == {
        "DBInstanceIdentifier": "orders-db",
        "MasterUserPassword": make_url(after).password,
        "ApplyImmediately": True,
    }
    [event] = [e for e in workspace.events("orders-db") if e.action == "rotate password"]
    assert event.result == "ok" and str(make_url(after).password) not in event.detail


def test_the_wrong_choices_are_refused_before_aws_is_asked(aws_backend: str, inventory: Workspace) -> None:
    with pytest.raises(InvalidInput, match="not an AWS region"):
        servers.register_server(inventory, "aws", "rds://nowhere")
    with pytest.raises(InvalidInput, match="only \\?profile=NAME"):
        servers.register_server(inventory, "aws", f"rds://{REGION}?role=x")
    with pytest.raises(ChangeoverError, match="No AWS profile named 'ghost'"):
        servers.register_server(inventory, "aws", f"rds://{REGION}?profile=ghost")
    assert servers.list_servers(inventory) == []
    servers.register_server(inventory, "aws-eu", f"rds://{REGION}")
    with pytest.raises(InvalidInput, match="--engine postgres"):
        servers.provision(inventory, "aws-eu", "orders-db", plan="db.t4g.large")
    with pytest.raises(InvalidInput, match="--plan"):
        servers.provision(inventory, "aws-eu", "orders-db", instance=InstanceOptions("postgres"))
    with pytest.raises(InvalidInput, match="not an RDS instance class"):
        servers.provision(inventory, "aws-eu", "orders-db", plan="large", instance=InstanceOptions("postgres"))
    with pytest.raises(InvalidInput, match="storage must be 20 to 65536"):
        servers.provision(
            inventory, "aws-eu", "orders-db", plan="db.t4g.large", instance=InstanceOptions("postgres", storage_gb=5)
        )
    assert rds_client().describe_db_instances()["DBInstances"] == []
    assert inventory.list_resources("all") == []
    assert run("provision", "aws-eu", "orders-db", "--engine", "oracle", "--plan", "db.t4g.large")[0] == 2


def test_engine_options_are_refused_on_a_server_of_one_engine(workspace: Workspace, tmp_path: Path) -> None:
    servers.register_server(workspace, "files", str(tmp_path))
    with pytest.raises(InvalidInput, match="they apply to Amazon RDS"):
        servers.provision(workspace, "files", "orders-db", instance=InstanceOptions("postgres"))
    assert workspace.list_resources("all") == []


def test_a_server_carrying_an_instance_is_not_removed(aws_backend: str, workspace: Workspace) -> None:
    servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    servers.provision(workspace, "aws-eu", "orders-db", plan="db.t4g.large", instance=InstanceOptions("postgres"))
    with pytest.raises(Conflict, match="still carries orders-db"):
        servers.remove_server(workspace, "aws-eu")
    [listed] = servers.list_servers(workspace)
    assert listed.kind == "rds" and listed.resources == ("orders-db",) and listed.has_plans


def test_an_instance_left_by_an_interrupted_provision_is_taken_over(
    aws_backend: str, workspace: Workspace, rds_calls: list[tuple[str, dict[str, Any]]]
) -> None:
    servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    rds_client().create_db_instance(  # what a provision killed while waiting left behind
        DBInstanceIdentifier="orders-db",
        DBInstanceClass="db.t4g.large",
        Engine="postgres",
        DBName="orders_db",
        MasterUsername="orders_db",
        MasterUserPassword="the-lost-password-nobody-kept",
        AllocatedStorage=20,
        Tags=[
            {"Key": "changeover:resource", "Value": "orders-db"},
            {"Key": "changeover:database", "Value": "orders_db"},
        ],
    )

    info = servers.provision(
        workspace, "aws-eu", "orders-db", plan="db.t4g.large", instance=InstanceOptions("postgres")
    )

    assert info.state == "available" and info.handle.startswith("postgresql://orders_db:•••@orders-db.")
    [reset] = [p for op, p in rds_calls if op == "ModifyDBInstance" and "MasterUserPassword" in p]
    assert reset["MasterUserPassword"] == make_url(workspace.full_handle("orders-db")).password
    [instance] = rds_client().describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"]
    assert instance["DeletionProtection"] is True


def test_someone_elses_instance_of_that_name_is_left_alone(aws_backend: str, workspace: Workspace) -> None:
    servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    rds_client().create_db_instance(
        DBInstanceIdentifier="orders-db",
        DBInstanceClass="db.t4g.large",
        Engine="postgres",
        MasterUsername="someone",
        MasterUserPassword="not-ours-at-all",
        AllocatedStorage=20,
    )
    with pytest.raises(ChangeoverError, match="already exists.*Choose another resource name"):
        servers.provision(workspace, "aws-eu", "orders-db", plan="db.t4g.large", instance=InstanceOptions("postgres"))
    assert workspace.list_resources("all") == []
    [instance] = rds_client().describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"]
    assert instance["MasterUsername"] == "someone" and instance["DBInstanceStatus"] == "available"


def test_the_generated_password_never_reaches_the_log(aws_backend: str, inventory: Workspace) -> None:
    from changeover.core.logs import log_file

    assert run("server", "add", "aws-eu", f"rds://{REGION}")[0] == 0
    code, _, err = run("provision", "aws-eu", "orders-db", "--engine", "mysql", "--plan", "db.t4g.large")
    assert code == 0, err
    password = make_url(inventory.full_handle("orders-db")).password
    logged = log_file().read_text(encoding="utf-8")
    assert "RDS instance orders-db: available" in logged
    assert password and password not in logged


def test_missing_credentials_and_an_unreachable_endpoint_are_said_in_words(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ChangeoverError, match="No AWS credentials were found to list the DB instances") as raised:
        servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    assert raised.value.title == "No AWS credentials" and "aws sso login" in raised.value.message

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(ChangeoverError, match="Cannot reach http://127.0.0.1:9 to list the DB instances") as raised:
        servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    assert raised.value.title == "AWS unreachable"
    assert servers.list_servers(workspace) == []


def test_an_instance_deleted_outside_changeover_is_deprovisioned_all_the_same(
    aws_backend: str, workspace: Workspace
) -> None:
    servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    servers.provision(workspace, "aws-eu", "orders-db", plan="db.t4g.large", instance=InstanceOptions("postgres"))
    client = rds_client()
    client.modify_db_instance(DBInstanceIdentifier="orders-db", DeletionProtection=False, ApplyImmediately=True)
    client.delete_db_instance(DBInstanceIdentifier="orders-db", SkipFinalSnapshot=True)

    done = servers.deprovision(workspace, "orders-db", "orders-db")

    assert done.state == "deprovisioned"
    assert done.note == "No final snapshot; the RDS instance orders-db was already gone"
    assert client.describe_db_snapshots()["DBSnapshots"] == []


def test_a_named_profile_is_used_and_nothing_of_it_is_stored(
    aws_backend: str,
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    local_instances: LocalInstances,
) -> None:
    config = tmp_path / "aws-config"  # the dummy keys moto takes, in a profile instead of the environment
    config.write_text(
        "[profile staging]\nregion = eu-west-1\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    info = servers.register_server(workspace, "aws-staging", f"rds://{REGION}?profile=staging")
    servers.provision(workspace, "aws-staging", "orders-db", plan="db.t4g.large", instance=InstanceOptions("postgres"))

    assert info.handle == f"rds://{REGION}?profile=staging" and not info.has_secret
    assert rds_client_for("staging").describe_db_instances()["DBInstances"][0]["DBInstanceIdentifier"] == "orders-db"
    config.unlink()
    with pytest.raises(ChangeoverError, match="No AWS profile named 'staging'"):
        workspace.rotate("orders-db")


def rds_client_for(profile: str) -> Any:
    import boto3

    from changeover.core import aws

    return boto3.session.Session(profile_name=profile).client("rds", endpoint_url=aws.endpoint_url("rds"))
