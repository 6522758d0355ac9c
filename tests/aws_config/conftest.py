"""AWS without AWS: moto in this process (``mock_aws``) and as a real HTTP endpoint (``ThreadedMotoServer``
reached through ``AWS_ENDPOINT_URL``, as boto3 honours it), with dummy credentials only.

The ``aws`` fixture runs a test once each way; ``moto_endpoint`` is the server alone (for hooks in a child
process, which the in-process mock cannot reach). No real AWS account or config file is ever read.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def dummy_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials, no AWS config or credentials file, no endpoint unless a test sets one."""
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(var, value)
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's server, emptied, as every boto3 client's endpoint (``AWS_ENDPOINT_URL``)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    yield moto_server


@pytest.fixture(params=["mock_aws", "moto_server"])
def aws(request: pytest.FixtureRequest) -> Iterator[str]:
    """AWS as moto in this process, then as moto's HTTP server; the value names which."""
    if request.param == "moto_server":
        request.getfixturevalue("moto_endpoint")
        yield request.param
        return
    from moto import mock_aws

    with mock_aws():
        yield request.param


@pytest.fixture(autouse=True)
def unbind_team_store() -> Iterator[None]:
    """No test leaves a team secret store bound for the next one."""
    from changeover.core import secrets

    yield
    secrets.bind_inventory_store(None)
