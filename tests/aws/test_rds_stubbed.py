"""What moto makes instant, through botocore's Stubber: an instance that goes creating, backing-up,
available; a timeout; a cancel; throttling retried; access denied, a quota and a class not offered in words."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from changeover.core import aws
from changeover.core.errors import Cancelled
from changeover.core.providers import rds
from changeover.core.providers.base import InstanceOptions, ProviderError

from .conftest import REGION

PASSWORD = "Generated-password-0123456789abcdef"


def instance(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "DBInstanceIdentifier": "orders-db",
        "DBInstanceClass": "db.t4g.large",
        "Engine": "postgres",
        "DBInstanceStatus": status,
        "MasterUsername": "orders_db",
        "DBName": "orders_db",
        "InstanceCreateTime": datetime(2026, 12, 1, tzinfo=UTC),
        **extra,
    }


ENDPOINT = {"Address": f"orders-db.abcdefghij.{REGION}.rds.amazonaws.com", "Port": 5432}


@pytest.fixture
def stubbed() -> Iterator[tuple[rds.RDSProvider, Stubber]]:
    provider = rds.RDSProvider(aws.Location("rds", REGION))
    client = aws.client("rds", REGION)
    provider._client = client
    with Stubber(client) as stubber:
        yield provider, stubber
        stubber.assert_no_pending_responses()


def expect_create(stubber: Stubber) -> None:
    stubber.add_response("create_db_instance", {"DBInstance": instance("creating")}, _create_params())


def _create_params() -> dict[str, Any]:
    return {
        "DBInstanceIdentifier": "orders-db",
        "DBInstanceClass": "db.t4g.large",
        "Engine": "postgres",
        "DBName": "orders_db",
        "MasterUsername": "orders_db",
        "MasterUserPassword": PASSWORD,
        "AllocatedStorage": 20,
        "StorageEncrypted": True,
        "PubliclyAccessible": False,
        "DeletionProtection": False,
        "Tags": ANY,
    }


def expect_status(stubber: Stubber, status: str, **extra: Any) -> None:
    stubber.add_response(
        "describe_db_instances", {"DBInstances": [instance(status, **extra)]}, {"DBInstanceIdentifier": "orders-db"}
    )


def provision(
    provider: rds.RDSProvider, messages: list[str] | None = None, cancel: threading.Event | None = None
) -> Any:
    def progress(done: int, total: int | None, unit: str, message: str) -> None:
        if messages is not None:
            messages.append(message)

    return provider.provision_instance(
        "orders_db",
        PASSWORD,
        plan="db.t4g.large",
        options=InstanceOptions("postgres"),
        resource="orders-db",
        progress=progress,
        cancel=cancel,
    )


def test_the_wait_reports_each_status_until_available_then_protects(
    stubbed: tuple[rds.RDSProvider, Stubber],
) -> None:
    provider, stubber = stubbed
    expect_create(stubber)
    expect_status(stubber, "creating")
    expect_status(stubber, "creating")
    expect_status(stubber, "backing-up", Endpoint=ENDPOINT)
    expect_status(stubber, "configuring-enhanced-monitoring", Endpoint=ENDPOINT)
    expect_status(stubber, "available", Endpoint=ENDPOINT)
    stubber.add_response(
        "modify_db_instance",
        {"DBInstance": instance("available", DeletionProtection=True)},
        {"DBInstanceIdentifier": "orders-db", "DeletionProtection": True, "ApplyImmediately": True},
    )
    messages: list[str] = []

    handle = provision(provider, messages)

    assert messages == [
        "orders-db: creating the instance",
        "orders-db: taking its first backup",
        "orders-db: configuring monitoring",
        "orders-db: available",
    ]
    assert handle.kind == "postgresql" and handle.secrets == {"password": PASSWORD}
    assert handle.masked() == f"postgresql://orders_db:•••@{ENDPOINT['Address']}:5432/orders_db"


def test_a_timeout_waiting_for_available_says_so_and_leaves_the_instance(
    stubbed: tuple[rds.RDSProvider, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, stubber = stubbed
    ticks = iter([0.0, 60.0, rds.WAIT_SECONDS + 1])
    monkeypatch.setattr(rds, "clock", lambda: next(ticks))
    expect_create(stubber)
    expect_status(stubber, "creating")
    expect_status(stubber, "backing-up")

    with pytest.raises(ProviderError) as raised:
        provision(provider)

    assert raised.value.title == "Timed out waiting for RDS"
    assert "orders-db was not available after 45 minutes (it is 'backing-up')" in raised.value.message
    assert "AWS console" in raised.value.message and PASSWORD not in raised.value.message
    # no delete was queued: the Stubber would have refused one


def test_a_cancel_while_creating_deletes_the_unfinished_instance(stubbed: tuple[rds.RDSProvider, Stubber]) -> None:
    provider, stubber = stubbed
    cancel = threading.Event()
    expect_create(stubber)
    expect_status(stubber, "creating")
    stubber.add_response(
        "delete_db_instance",
        {"DBInstance": instance("deleting")},
        {"DBInstanceIdentifier": "orders-db", "SkipFinalSnapshot": True, "DeleteAutomatedBackups": True},
    )

    class Cancelling(list[str]):
        """The admin presses Cancel as soon as the first status shows."""

        def append(self, message: str) -> None:
            super().append(message)
            cancel.set()

    messages = Cancelling()
    with pytest.raises(Cancelled, match="provisioning was cancelled"):
        provision(provider, messages, cancel)
    assert messages == ["orders-db: creating the instance"]


def test_an_instance_that_fails_is_reported(stubbed: tuple[rds.RDSProvider, Stubber]) -> None:
    provider, stubber = stubbed
    expect_create(stubber)
    expect_status(stubber, "creating")
    expect_status(stubber, "incompatible-network")
    with pytest.raises(ProviderError, match="is 'incompatible-network' and will not become available"):
        provision(provider)


def test_throttling_is_retried_with_backoff(
    stubbed: tuple[rds.RDSProvider, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, stubber = stubbed
    waits: list[float] = []
    monkeypatch.setattr(aws, "sleep", waits.append)
    for _ in range(3):
        stubber.add_client_error("create_db_instance", "Throttling", "Rate exceeded", 400)
    expect_create(stubber)
    stubber.add_client_error("describe_db_instances", "ThrottlingException", "Rate exceeded", 400)
    expect_status(stubber, "available", Endpoint=ENDPOINT)
    stubber.add_response("modify_db_instance", {"DBInstance": instance("available")})

    handle = provision(provider)

    assert handle.masked().startswith("postgresql://orders_db:•••@orders-db.")
    assert len(waits) == 4
    assert waits[0] <= aws.THROTTLE_BASE_SECONDS and waits[1] > waits[0] * 0.9 and waits[2] > waits[1] * 0.9
    assert all(0 < w <= aws.THROTTLE_MAX_SECONDS for w in waits)


def test_throttling_that_never_stops_is_said_in_words(
    stubbed: tuple[rds.RDSProvider, Stubber],
) -> None:
    provider, stubber = stubbed
    for _ in range(aws.THROTTLE_ATTEMPTS):
        stubber.add_client_error("create_db_instance", "Throttling", "Rate exceeded", 400)
    with pytest.raises(ProviderError) as raised:
        provision(provider)
    assert raised.value.title == "AWS throttled the requests"
    assert f"after {aws.THROTTLE_ATTEMPTS} tries" in raised.value.message


@pytest.mark.parametrize(
    ("code", "text", "title", "words"),
    [
        (
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: rds:CreateDBInstance",
            "AWS access denied",
            "lacks the permission rds:CreateDBInstance (AccessDenied). Allow rds:CreateDBInstance",
        ),
        (
            "InstanceQuotaExceeded",
            "Cannot create more than 40 DB instances",
            "AWS quota reached",
            "an account quota is reached (InstanceQuotaExceeded: Cannot create more than 40 DB instances)",
        ),
        (
            "InvalidParameterCombination",
            "RDS does not support creating a DB instance with the following combination: DBInstanceClass=db.t4g.large,"
            " Engine=postgres, EngineVersion=16.1, LicenseModel=postgresql-license.",
            "Class not offered in this region",
            f"The class db.t4g.large is not offered for postgres in {REGION}",
        ),
        (
            "InsufficientDBInstanceCapacity",
            "Insufficient capacity for db.t4g.large in eu-west-1a",
            "Class not offered in this region",
            "Choose another class",
        ),
    ],
)
def test_refusals_in_words(
    stubbed: tuple[rds.RDSProvider, Stubber], code: str, text: str, title: str, words: str
) -> None:
    provider, stubber = stubbed
    stubber.add_client_error("create_db_instance", code, text, 400)
    with pytest.raises(ProviderError) as raised:
        provision(provider)
    assert raised.value.title == title
    assert words in raised.value.message
    assert PASSWORD not in raised.value.message


def test_access_denied_at_registration_names_the_permission(stubbed: tuple[rds.RDSProvider, Stubber]) -> None:
    provider, stubber = stubbed
    stubber.add_client_error("describe_db_instances", "AccessDenied", "not authorized", 403)
    with pytest.raises(ProviderError, match="lacks the permission rds:DescribeDBInstances"):
        provider.server_version()
