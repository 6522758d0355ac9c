"""AWS without AWS: dummy credentials for every test here, moto in-process or as a real HTTP endpoint.

No real AWS credentials are ever read: the environment gets ``testing`` keys and the AWS config files
are ``/dev/null``. ``aws_backend`` runs a test twice: under ``moto.mock_aws`` in-process, and against a
``ThreadedMotoServer`` on a free port reached through ``AWS_ENDPOINT_URL``, as a user would point
Changeover at LocalStack. Waits are instant (``POLL_SECONDS = 0``) and retries do not sleep.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from changeover.core import aws
from changeover.core.providers import rds
from changeover.core.workspace import Workspace

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
