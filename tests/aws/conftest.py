"""AWS without AWS: dummy credentials for every test here, moto in-process or as a real HTTP endpoint.

No real AWS credentials are ever read: the environment gets ``testing`` keys and the AWS config files
are ``/dev/null``. ``aws_backend`` runs a test twice: under ``moto.mock_aws`` in-process, and against a
``ThreadedMotoServer`` on a free port reached through ``AWS_ENDPOINT_URL``, as a user would point
Changeover at LocalStack. Waits are instant (``POLL_SECONDS = 0``) and retries do not sleep.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from changeover.core import aws
from changeover.core.providers import rds
from changeover.core.workspace import Workspace
from tests.conftest import MYSQL_URL, POSTGRES_URL, machine_lock

REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def dummy_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_RDS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(rds, "POLL_SECONDS", 0.0)
    monkeypatch.setattr(aws, "sleep", lambda seconds: None)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server for the session (its state is reset before each test that uses it)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["in-process", "moto-server"])
def aws_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Moto in-process (``mock_aws``), then moto as an HTTP server through ``AWS_ENDPOINT_URL``."""
    if request.param == "in-process":
        from moto import mock_aws

        with mock_aws():
            yield request.param
        return
    import urllib.request

    endpoint = request.getfixturevalue("moto_endpoint")
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    yield request.param


def rds_client() -> Any:
    """A test's own look at RDS, through the same endpoint as Changeover's."""
    return boto3.client("rds", region_name=REGION, endpoint_url=aws.endpoint_url("rds"))


@pytest.fixture
def rds_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every RDS call Changeover's clients make, with its parameters: (operation, params)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    made = aws.client

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((str(model.name), dict(params)))

    def client(service: str, region: str, profile: str | None = None) -> Any:
        built = made(service, region, profile)
        built.meta.events.register("provide-client-params.rds.*", record)
        return built

    monkeypatch.setattr(aws, "client", client)
    return calls


def shop_on(workspace: Workspace, env: Path, handle: str | None = None, resource: str = "shop-db") -> None:
    """The deploy ``shop`` (a maintenance variable, a restart that succeeds) with ``resource`` attached;
    ``handle`` registers that resource first."""
    env.write_text("DEBUG=0\n")
    workspace.add_deploy("shop", str(env), restart_cmd="true", maintenance_var="MAINTENANCE_MODE")
    if handle is not None:
        workspace.register_resource(resource, handle)
    workspace.attach(resource, "shop")


class LocalInstances:
    """RDS instances whose databases live on the local servers: made at CreateDBInstance, dropped after.

    RDS's snapshot route stands in the same way: at CreateDBSnapshot the test copies the source instance's
    database into a new local database (pg_dump or mariadb-dump into it, as the admin: that copy is what
    RDS's snapshot would hold), and an instance restored from that snapshot (RestoreDBInstanceFromDBSnapshot)
    has that copy as its database in every RDS answer, reached with the source's master user and password,
    as a restored instance is."""

    def __init__(self, postgres: sa.Engine, mysql: sa.Engine) -> None:
        self.admins = {"postgres": postgres, "mysql": mysql, "mariadb": mysql}
        self.made: list[tuple[str, str, str]] = []  # (engine, database, user)
        self.instances: dict[str, tuple[str, str]] = {}  # instance id -> (engine, master user)
        self.databases: dict[str, str] = {}  # instance id -> its database on the local server
        self.snapshots: dict[str, tuple[str, str, str]] = {}  # snapshot id -> (engine, copy, master user)
        self.copies: list[tuple[str, str]] = []  # (engine, database) made for snapshots
        self.restored: dict[str, str] = {}  # restored instance id -> snapshot id

    def snapshot(self, snapshot: str, instance: str) -> None:
        """What RDS's snapshot holds: a copy of the instance's database, made on the local server."""
        if snapshot in self.snapshots:  # asked again (a resumed run): RDS refuses, the copy stays
            return
        engine, user = self.instances[instance]
        source = self.databases[instance]
        copy = f"{source[:40]}_s{len(self.copies)}"
        admin = self.admins[engine].url
        self.copies.append((engine, copy))
        with self.admins[engine].connect() as conn:
            if engine == "postgres":
                conn.execute(sa.text(f'CREATE DATABASE "{copy}" OWNER "{user}"'))
            else:
                conn.execute(sa.text(f"CREATE DATABASE `{copy}` CHARACTER SET utf8mb4"))
                conn.execute(sa.text(f"GRANT ALL ON `{copy}`.* TO '{user}'@'%'"))
        if engine == "postgres":
            base = admin.set(drivername="postgresql")
            dump = ["pg_dump", "-d", base.set(database=source).render_as_string(hide_password=False)]
            load = ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", base.set(database=copy).render_as_string(False)]
        else:
            where = ["-h", str(admin.host), "-P", str(admin.port or 3306), "-u", str(admin.username)]
            dump = ["mariadb-dump", *where, "--single-transaction", "--routines", source]
            load = ["mariadb", *where, copy]
        dumped = subprocess.run(dump, check=True, capture_output=True)
        subprocess.run(load, input=dumped.stdout, check=True, capture_output=True)
        self.snapshots[snapshot] = (engine, copy, user)

    def set_password(self, instance: str, password: str) -> None:
        """What RDS does on ModifyDBInstance(MasterUserPassword=...): the master user's new password."""
        engine, user = self.instances[instance]
        with self.admins[engine].connect() as conn:
            if engine == "postgres":
                conn.execute(sa.text(f"ALTER ROLE \"{user}\" PASSWORD '{password}'"))
            else:
                conn.execute(sa.text(f"ALTER USER '{user}'@'%' IDENTIFIED BY '{password}'"))

    def create(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "ModifyDBInstance" and "MasterUserPassword" in params:
            self.set_password(params["DBInstanceIdentifier"], params["MasterUserPassword"])
        if model.name == "CreateDBSnapshot":
            self.snapshot(params["DBSnapshotIdentifier"], params["DBInstanceIdentifier"])
        if model.name == "RestoreDBInstanceFromDBSnapshot" and params["DBSnapshotIdentifier"] in self.snapshots:
            engine, _, user = self.snapshots[params["DBSnapshotIdentifier"]]
            self.restored[params["DBInstanceIdentifier"]] = params["DBSnapshotIdentifier"]
            self.instances[params["DBInstanceIdentifier"]] = (engine, user)
        if model.name != "CreateDBInstance":
            return
        engine, database, user = params["Engine"], params["DBName"], params["MasterUsername"]
        password = params["MasterUserPassword"]
        self.made.append((engine, database, user))
        self.instances[params["DBInstanceIdentifier"]] = (engine, user)
        self.databases[params["DBInstanceIdentifier"]] = database
        with self.admins[engine].connect() as conn:
            if engine == "postgres":
                conn.execute(sa.text(f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'"))
                conn.execute(sa.text(f'CREATE DATABASE "{database}" OWNER "{user}"'))
            else:
                conn.execute(sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
                conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"))
                conn.execute(sa.text(f"GRANT ALL ON `{database}`.* TO '{user}'@'%'"))

    def point_at_local(self, parsed: dict[str, Any], **_: Any) -> None:
        found = list(parsed.get("DBInstances", [])) + ([parsed["DBInstance"]] if "DBInstance" in parsed else [])
        for instance in found:
            local = make_url(POSTGRES_URL if instance.get("Engine") == "postgres" else MYSQL_URL)
            instance["Endpoint"] = {"Address": local.host, "Port": local.port}
            snapshot = self.restored.get(str(instance.get("DBInstanceIdentifier")))
            if snapshot is not None:  # the restored instance's database: the snapshot's copy
                instance["DBName"] = self.snapshots[snapshot][1]

    def drop(self) -> None:
        for engine, database in self.copies:
            with self.admins[engine].connect() as conn:
                if engine == "postgres":
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                else:
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{database}`"))
        for engine, database, user in self.made:
            with self.admins[engine].connect() as conn:
                if engine == "postgres":
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                    conn.execute(sa.text(f'DROP ROLE IF EXISTS "{user}"'))
                else:
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{database}`"))
                    conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))


@pytest.fixture
def local_instances(
    postgres_admin: sa.Engine, mysql_admin: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalInstances]:
    from moto.rds.models import DBInstance

    # moto has no default MariaDB version (RDS has): the upgrade asks for the engine's default
    monkeypatch.setitem(DBInstance.default_engine_versions, "mariadb", "10.11.6")
    instances = LocalInstances(postgres_admin, mysql_admin)
    made = aws.client

    def client(service: str, region: str, profile: str | None = None) -> Any:
        built = made(service, region, profile)
        built.meta.events.register("provide-client-params.rds.*", instances.create)
        built.meta.events.register("after-call.rds.*", instances.point_at_local)
        return built

    monkeypatch.setattr(aws, "client", client)
    # Their databases and master users are named after the resource, as on RDS ("orders-db" makes orders_db):
    # tests that make them take turns, in every worker and checkout on this machine.
    with machine_lock("local-rds-instances"):
        try:
            yield instances
        finally:
            instances.drop()
