"""An upgrade whose new database is an RDS instance: the control plane is moto's, the data path the local
servers'. When Changeover creates an instance, the test makes its database and master user (with the
password Changeover generated) on the local PostgreSQL or MariaDB, as RDS would on the instance, and
points the instance's endpoint at that server in every RDS answer (a botocore ``after-call`` handler)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from dotenv import dotenv_values
from sqlalchemy.engine import URL, make_url

from changeover.cli.upgrade import _print_plan
from changeover.core import handles, servers
from changeover.core.providers.base import InstanceOptions
from changeover.core.upgrade import procedure
from changeover.core.upgrade.plan import _rds_routes
from changeover.core.workspace import Workspace
from tests.conftest import unique_name
from tests.upgrade.conftest import ROWS, count, fill

from .conftest import REGION, LocalInstances, rds_client, shop_on


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_an_upgrade_onto_rds_provisions_moves_verifies_and_switches(
    engine: str,
    aws_backend: str,
    local_instances: LocalInstances,
    workspace: Workspace,
    make_postgres_db: Callable[..., URL],
    make_mysql_db: Callable[..., URL],
    tmp_path: Path,
) -> None:
    source = (make_postgres_db if engine == "postgresql" else make_mysql_db)("co_rds_src")
    fill(source)
    env = tmp_path / "shop.env"
    shop_on(workspace, env, source.render_as_string(hide_password=False))
    servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    target = unique_name("shop-rds").replace("_", "-")

    plan = procedure.plan_upgrade(workspace, "shop-db", provision_on="aws-eu", plan="db.t4g.large", target_name=target)
    assert plan.ok, [c for c in plan.checks if not c.ok]
    assert not plan.cross_engine and plan.target_kind == engine
    assert plan.target_engine == ("postgres" if engine == "postgresql" else "mariadb")
    run = procedure.start_upgrade(workspace, plan)
    messages: list[str] = []
    done = procedure.execute(workspace, run.id, on_event=lambda e: messages.append(e.message))

    assert done.state == "done" and [s.state for s in done.steps] == ["done"] * len(procedure.STEPS)
    assert f"{target}: available" in messages  # the instance's status, in the provision step's progress
    new = workspace.show_resource(target)
    assert new.state == "attached" and new.origin == "provisioned" and new.server == "aws-eu"
    handle = dotenv_values(env)["DATABASE_URL"]
    assert handle == workspace.full_handle(target) and "MAINTENANCE_MODE" not in env.read_text()
    assert make_url(handle).database == servers.database_name(target)
    assert count(handles.parse(handle).sqlalchemy_url()) == ROWS  # through the instance's (local) endpoint
    assert workspace.show_resource("shop-db").state == "detached"
    [instance] = rds_client().describe_db_instances(DBInstanceIdentifier=target)["DBInstances"]
    assert instance["DeletionProtection"] is True and instance["DBInstanceClass"] == "db.t4g.large"
    assert instance["Engine"] == plan.target_engine


def test_rds_to_rds_offers_the_snapshot_route_and_says_which_is_shorter(
    local_instances: LocalInstances, workspace: Workspace, tmp_path: Path
) -> None:
    from moto import mock_aws

    with mock_aws():
        servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
        source = unique_name("shop-small").replace("_", "-")
        servers.provision(workspace, "aws-eu", source, plan="db.t4g.medium", instance=InstanceOptions("postgres"))
        fill(handles.parse(workspace.full_handle(source)).sqlalchemy_url())
        env = tmp_path / "shop.env"
        shop_on(workspace, env, resource=source)
        target = unique_name("shop-big").replace("_", "-")

        plan = procedure.plan_upgrade(
            workspace, source, provision_on="aws-eu", plan="db.r6g.xlarge", target_name=target
        )

        assert plan.ok, [c for c in plan.checks if not c.ok]
        copy, snapshot, online = plan.routes
        assert (copy.name, snapshot.name, online.name) == ("copy", "snapshot", "online")
        assert not online.available  # a provisioned instance's role may not subscribe
        assert copy.text == "Changeover's copy into a new db.r6g.xlarge (4 vCPU, 32 GiB) instance, verified"
        assert snapshot.text == f"RDS's snapshot of {source} restored as a new db.r6g.xlarge (4 vCPU, 32 GiB) instance"
        assert copy.estimate_seconds == plan.estimate_seconds < snapshot.estimate_seconds  # a small database
        assert copy.shortest and not snapshot.shortest
        assert any(w.startswith("Changeover's copy into a new db.r6g.xlarge") and "keeps the maintenance window "
                   "shorter" in w for w in plan.warnings)  # fmt: skip
        out = io.StringIO()
        _print_plan(plan, out)
        assert "route snapshot: RDS's snapshot of" in out.getvalue() and "(shorter)" in out.getvalue()

        done = procedure.execute(workspace, procedure.start_upgrade(workspace, plan).id)
        assert done.state == "done"
        assert count(handles.parse(dotenv_values(env)["DATABASE_URL"] or "").sqlalchemy_url()) == ROWS


def test_a_large_database_is_shorter_through_the_snapshot() -> None:
    size = 2_000_000_000_000  # 2 TB: a copy at 20 MB/s takes a day, a snapshot and restore some hours
    routes, verdict = _rds_routes("orders-db", "db.r6g.2xlarge", size, size / 20_000_000, 5.0)
    copy, snapshot = routes
    assert snapshot.shortest and not copy.shortest and snapshot.estimate_seconds < copy.estimate_seconds
    assert verdict.startswith("RDS's snapshot of orders-db restored as a new db.r6g.2xlarge (8 vCPU, 64 GiB) instance "
                              "keeps the maintenance window shorter")  # fmt: skip
