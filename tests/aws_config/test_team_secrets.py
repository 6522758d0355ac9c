"""The team secret store: AWS Secrets Manager named once per inventory, read by every admin's Changeover."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import keyring
import keyring.errors
import pytest
from botocore.stub import Stubber
from sqlalchemy.engine import URL

from changeover.cli import main
from changeover.core import secrets
from changeover.core.aws import AWSError
from changeover.core.errors import Conflict, InvalidInput
from changeover.core.inventory.db import Inventory
from changeover.core.teamsecrets import AwsSecretsStore, Where, parse
from changeover.core.workspace import Workspace

from ..memory_keyring import InMemoryKeyring
from .conftest import REGION

PASSWORD = "team-s3cret-pw"
DB = f"postgresql://shop:{PASSWORD}@db.internal:5432/shop"
NEW_PASSWORD = "rotated-s3cret-pw"
STORE = f"aws:{REGION}/team"


def secret_names() -> dict[str, bool]:
    """Every secret in Secrets Manager: name -> scheduled for deletion."""
    listed = boto3.client("secretsmanager", region_name=REGION).list_secrets(IncludePlannedDeletion=True)
    return {str(s["Name"]): "DeletedDate" in s for s in listed["SecretList"]}


def test_store_read_and_delete(aws: str) -> None:
    store = AwsSecretsStore(Where(REGION, "team"))
    service = secrets.SERVICE
    assert store.get_password(service, "resource:db:1a2b") is None
    store.set_password(service, "resource:db:1a2b", "one")
    store.set_password(service, "resource:db:1a2b", "two")
    assert store.get_password(service, "resource:db:1a2b") == "two"
    assert secret_names() == {"team/resource/db/1a2b": False}

    store.delete_password(service, "resource:db:1a2b")
    assert store.get_password(service, "resource:db:1a2b") is None
    assert secret_names() == {"team/resource/db/1a2b": True}, "deleted with AWS's recovery window"
    with pytest.raises(keyring.errors.PasswordDeleteError):
        store.delete_password(service, "resource:db:1a2b")
    store.set_password(service, "resource:db:1a2b", "three")  # a deleted name is brought back
    assert store.get_password(service, "resource:db:1a2b") == "three"


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_inventory(request: pytest.FixtureRequest, tmp_path: Path) -> str | URL:
    """One inventory two admins open: a SQLite file, or a database on the PostgreSQL server (as teams do)."""
    if request.param == "postgresql":
        made: URL = request.getfixturevalue("make_postgres_db")("co_team")
        return made
    return f"sqlite:///{tmp_path / 'inventory.sqlite3'}"


@pytest.fixture
def admin_a(shared_inventory: str | URL, aws: str) -> Iterator[Workspace]:
    ws = Workspace(Inventory(shared_inventory), actor="alice@a")
    yield ws
    ws.close()


def admin_b(url: str | URL) -> Workspace:
    """A second admin: another Changeover over the same inventory, with a keyring of its own (empty)."""
    keyring.set_keyring(InMemoryKeyring())
    return Workspace(Inventory(url), actor="bob@b")


def test_a_second_admin_reads_the_team_secrets(
    admin_a: Workspace, shared_inventory: str | URL, memory_keyring: InMemoryKeyring, tmp_path: Path
) -> None:
    admin_a.register_resource("shop-db", DB)
    assert len(memory_keyring.items) == 1
    moved = admin_a.use_secret_store(STORE)
    assert moved.moved == 1 and moved.setting == STORE and moved.secrets == 1
    assert memory_keyring.items == {}, "moved out of the keyring"
    assert list(secret_names().values()) == [False]
    admin_a.register_resource("cache", "redis://:cache-s3cret@cache.internal:6379/0")
    assert memory_keyring.items == {}, "a new secret goes to the team store too"

    bob = admin_b(shared_inventory)
    try:
        assert bob.setting("secret_store") == STORE
        assert bob.full_handle("shop-db") == DB
        assert bob.full_handle("cache").startswith("redis://:cache-s3cret@")
        env = tmp_path / ".env"
        env.write_text("")
        bob.add_deploy("shop", str(env))
        bob.attach("shop-db", "shop")
        assert PASSWORD in env.read_text()
        bob.detach("shop-db", "shop")
        bob.set_resource_secret("shop-db", DB.replace(PASSWORD, NEW_PASSWORD), keep_deploys=True)
        assert isinstance(keyring.get_keyring(), InMemoryKeyring)
        assert keyring.get_keyring().items == {}, "bob's keyring was never used"  # type: ignore[attr-defined]
        assert "Secrets Manager" in secrets.status().message
    finally:
        bob.close()
    admin_a.bind_secret_store()  # one inventory per process in the product; here alice opens hers again
    assert admin_a.full_handle("shop-db") == DB.replace(PASSWORD, NEW_PASSWORD)

    admin_a.deprovision("cache", "cache")
    assert sorted(secret_names().values()) == [False, True], "the deprovisioned resource's secret is deleted"


def test_moving_back_to_the_keyring(admin_a: Workspace, memory_keyring: InMemoryKeyring) -> None:
    admin_a.register_resource("shop-db", DB)
    admin_a.use_secret_store(STORE, keep_old=True)
    assert len(memory_keyring.items) == 1, "--keep-old leaves the keyring's copy"
    memory_keyring.items.clear()

    with pytest.raises(Conflict, match="already kept in"):
        admin_a.use_secret_store(STORE)
    back = admin_a.use_secret_store("keyring")
    assert back.moved == 1 and back.setting == "keyring"
    assert admin_a.full_handle("shop-db") == DB
    assert len(memory_keyring.items) == 1
    assert list(secret_names().values()) == [True]


def test_no_move_refuses_a_store_without_the_secrets(admin_a: Workspace, memory_keyring: InMemoryKeyring) -> None:
    admin_a.register_resource("shop-db", DB)
    with pytest.raises(Conflict, match="holds no secret for 1 of the inventory's 1 secrets"):
        admin_a.use_secret_store(STORE, move=False)
    assert admin_a.setting("secret_store") == "keyring" and len(memory_keyring.items) == 1
    assert secret_names() == {}


def test_unreachable_aws_is_refused_in_words_never_a_fallback(
    moto_endpoint: str, workspace: Workspace, memory_keyring: InMemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.register_resource("shop-db", DB)
    workspace.use_secret_store(STORE)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    workspace.bind_secret_store()
    with pytest.raises(AWSError, match="cannot be reached") as refused:
        workspace.full_handle("shop-db")
    assert PASSWORD not in refused.value.message
    with pytest.raises(AWSError, match="cannot be reached"):
        workspace.register_resource("other-db", DB.replace("shop", "other"))
    assert memory_keyring.items == {}, "nothing went to the keyring instead"
    assert [r.name for r in workspace.list_resources("all")] == ["shop-db"]
    status = secrets.status()
    assert not status.usable and "cannot be reached" in status.message


def test_access_denied_is_said_with_the_permission(workspace: Workspace) -> None:
    store = AwsSecretsStore(Where(REGION, "team"))
    secrets.bind_inventory_store(store)
    with Stubber(store.client) as stub:
        stub.add_client_error("get_secret_value", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(AWSError, match="needs the IAM permission secretsmanager:GetSecretValue"):
            secrets.load("resource:x:1")
        stub.add_client_error("describe_secret", "ThrottlingException", "Rate exceeded", 400)
        with pytest.raises(AWSError, match="kept throttling"):
            secrets.store("resource:x:1", {"password": "x"})


def test_bad_store_names_are_refused() -> None:
    assert parse("keyring") is None
    assert parse("aws:eu-west-1") == Where("eu-west-1", "changeover")
    for bad in ("vault:x", "aws:", "aws:europe/x", "aws:eu-west-1/a//b", "aws:eu-west-1/a b"):
        with pytest.raises(InvalidInput):
            parse(bad)


def test_the_command_line(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", f"sqlite:///{tmp_path / 'inv.sqlite3'}")

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        return main(list(argv), out, err), out.getvalue(), err.getvalue()

    assert run("resource", "add", "shop-db", DB)[0] == 0
    code, out, err = run("secret-store", "use", STORE)
    assert code == 0, err
    assert f"now kept in {STORE}; moved 1 secret(s)" in out
    code, out, _ = run("secret-store", "show", "--json")
    assert json.loads(out)["setting"] == STORE and json.loads(out)["usable"] is True
    code, out, _ = run("settings", "secret_store")
    assert out.strip() == STORE
    code, _, err = run("settings", "secret_store", "keyring")
    assert code == 1 and "changeover secret-store use" in err
    code, _, err = run("secret-store", "use", "aws:nowhere")
    assert code == 1 and "not an AWS region" in err
    code, out, _ = run("resource", "secret", "shop-db", "--show", "--force")
    assert code == 0 and PASSWORD in out
