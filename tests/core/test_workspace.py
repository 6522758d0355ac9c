"""The use cases, end to end over a real inventory, a real .env file and real hook processes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import pytest
import sqlalchemy as sa

from changeover.core.errors import ConfigStoreError, Conflict, HookError, InvalidInput, KeyringUnavailable, NotFound
from changeover.core.workspace import Workspace

SECRET = "Sup3r-s3cret!pw"
HANDLE = f"postgresql://shop:{SECRET.replace('!', '%21')}@db.internal:5432/shop"
ENV = "# shop\nexport DEBUG=0\n\nSECRET_KEY='k3y value'\n"


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop" / ".env"
    path.parent.mkdir()
    path.write_text(ENV)
    path.chmod(0o600)
    return path


@pytest.fixture
def restarts(tmp_path: Path) -> Path:
    return tmp_path / "restarts.log"


def add_shop(ws: Workspace, env_file: Path, restarts: Path, **options: object) -> None:
    ws.add_deploy(
        "shop",
        str(env_file),
        app="shop",
        environment="production",
        restart_cmd=f"echo restarted >> {restarts}",
        **options,
    )  # type: ignore[arg-type]


def dump_inventory(ws: Workspace) -> str:
    """Every value of every row of every table, as text."""
    chunks = []
    with ws.inventory.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


def test_register_attach_detach_keeps_secret_out_of_the_inventory(
    any_workspace: Workspace, env_file: Path, restarts: Path, memory_keyring: object
) -> None:
    ws = any_workspace
    add_shop(ws, env_file, restarts)
    info = ws.register_resource("shop-db", HANDLE)
    assert info.handle == "postgresql://shop:•••@db.internal:5432/shop"

    ws.attach("shop-db", "shop")
    assert f"DATABASE_URL={HANDLE}\n" in env_file.read_text()
    assert env_file.read_text().startswith(ENV)
    assert restarts.read_text() == "restarted\n"
    assert ws.show_resource("shop-db").state == "attached"
    assert [a.env_var for a in ws.show_deploy("shop").attachments] == ["DATABASE_URL"]

    ws.detach("shop-db", "shop")
    assert env_file.read_text() == ENV
    assert restarts.read_text() == "restarted\nrestarted\n"
    detached = ws.show_resource("shop-db")
    assert detached.state == "detached"
    assert detached.keep_until is not None and detached.detached_at is not None
    assert 6.9 < (detached.keep_until - detached.detached_at).total_seconds() / 86400 < 7.1
    assert [r.name for r in ws.list_resources("detached")] == ["shop-db"]
    assert len(detached.history) == 1 and detached.history[0].detached_at is not None

    text = dump_inventory(ws)
    assert "shop-db" in text and "db.internal" in text  # the dump really covers the rows
    assert SECRET not in text and "Sup3r" not in text
    assert all(SECRET not in e.detail for e in ws.events())
    assert {e.action for e in ws.events()} >= {"add deploy", "register", "attach", "detach"}
    assert SECRET in next(iter(memory_keyring.items.values()))  # type: ignore[attr-defined]


def test_deprovision_refused_while_attached_and_on_wrong_confirmation(
    workspace: Workspace, env_file: Path, restarts: Path, memory_keyring: object
) -> None:
    add_shop(workspace, env_file, restarts)
    workspace.register_resource("shop-db", HANDLE)
    workspace.attach("shop-db", "shop")
    with pytest.raises(Conflict, match="attached to shop as DATABASE_URL: detach it first"):
        workspace.deprovision("shop-db", "shop-db")
    workspace.detach("shop-db", "shop")
    with pytest.raises(InvalidInput, match="confirmation does not match"):
        workspace.deprovision("shop-db", "shop-dB")
    assert workspace.show_resource("shop-db").state == "detached"
    assert memory_keyring.items  # type: ignore[attr-defined]

    workspace.deprovision("shop-db", "shop-db")
    assert workspace.show_resource("shop-db").state == "deprovisioned"
    assert memory_keyring.items == {}  # type: ignore[attr-defined]
    assert workspace.list_resources() == []
    assert [r.name for r in workspace.list_resources("all")] == ["shop-db"]
    with pytest.raises(Conflict, match="kept for history"):
        workspace.register_resource("shop-db", HANDLE)


def test_variable_in_use_is_refused_unless_replaced(workspace: Workspace, env_file: Path, restarts: Path) -> None:
    add_shop(workspace, env_file, restarts)
    workspace.register_resource("old-db", "postgresql://a:b@old/shop")
    workspace.register_resource("new-db", HANDLE)
    workspace.attach("old-db", "shop")
    before = env_file.read_bytes()
    with pytest.raises(Conflict, match="DATABASE_URL is already in use on shop .by 'old-db'"):
        workspace.attach("new-db", "shop")
    assert env_file.read_bytes() == before
    with pytest.raises(Conflict, match="already in use on shop .in its config"):
        workspace.attach("new-db", "shop", "SECRET_KEY")

    workspace.attach("new-db", "shop", replace=True)
    assert workspace.show_resource("old-db").state == "detached"
    assert workspace.show_resource("new-db").state == "attached"
    assert env_file.read_text().count("DATABASE_URL=") == 1
    assert f"DATABASE_URL={HANDLE}" in env_file.read_text()


def test_one_resource_attached_to_several_deploys(
    workspace: Workspace, tmp_path: Path, env_file: Path, restarts: Path
) -> None:
    add_shop(workspace, env_file, restarts)
    other = tmp_path / "worker.env"
    other.write_text("")
    workspace.add_deploy("worker", str(other))
    workspace.register_resource("cache", "redis://:pw@cache:6379/0")
    workspace.attach("cache", "shop")
    workspace.attach("cache", "worker", "CACHE_URL")
    assert other.read_text() == "CACHE_URL=redis://:pw@cache:6379/0\n"
    workspace.detach("cache", "shop")
    assert workspace.show_resource("cache").state == "attached"  # still on worker
    workspace.detach("cache", "worker")
    assert workspace.show_resource("cache").state == "detached"


def test_failing_restart_hook_undoes_the_config_change(workspace: Workspace, env_file: Path, tmp_path: Path) -> None:
    workspace.add_deploy("shop", str(env_file), restart_cmd="echo boom >&2; exit 3")
    workspace.register_resource("shop-db", HANDLE)
    with pytest.raises(HookError, match=r"restart hook failed \(exit 3\): boom.*undone"):
        workspace.attach("shop-db", "shop")
    assert env_file.read_text() == ENV
    assert list(env_file.parent.iterdir()) == [env_file]  # no backup left behind
    assert workspace.show_resource("shop-db").state == "available"
    failed = workspace.events("shop-db")[0]
    assert failed.result == "failed" and "exit 3" in failed.detail


def test_hanging_hook_is_stopped_at_its_timeout(workspace: Workspace, env_file: Path, tmp_path: Path) -> None:
    marker = tmp_path / "hook-child-ran"
    workspace.add_deploy("shop", str(env_file), restart_cmd=f"sleep 30; touch {marker}", hook_timeout=1)
    workspace.register_resource("shop-db", HANDLE)
    with pytest.raises(HookError, match="did not finish within 1 s"):
        workspace.attach("shop-db", "shop")
    assert env_file.read_text() == ENV
    assert not marker.exists()


def test_hook_output_is_redacted_in_the_audit_trail(workspace: Workspace, env_file: Path) -> None:
    workspace.add_deploy("shop", str(env_file), restart_cmd="cat .env")
    workspace.register_resource("shop-db", HANDLE)
    workspace.attach("shop-db", "shop")
    detail = workspace.events("shop-db")[0].detail
    assert "DATABASE_URL=postgresql://shop:•••@db.internal" in detail
    assert "Sup3r" not in detail and "k3y value" not in detail


def test_read_only_env_file_changes_nothing(workspace: Workspace, env_file: Path, restarts: Path) -> None:
    add_shop(workspace, env_file, restarts)
    workspace.register_resource("shop-db", HANDLE)
    env_file.chmod(0o400)
    with pytest.raises(ConfigStoreError, match="read-only"):
        workspace.attach("shop-db", "shop")
    assert env_file.read_text() == ENV
    assert not restarts.exists()
    assert workspace.show_resource("shop-db").state == "available"


def test_missing_env_file_and_bad_names(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ConfigStoreError, match="does not exist"):
        workspace.add_deploy("shop", str(tmp_path / "missing.env"))
    with pytest.raises(InvalidInput, match="not a valid deploy name"):
        workspace.add_deploy("shop prod", str(tmp_path / "missing.env"))
    assert workspace.list_deploys() == []
    info = workspace.add_deploy("shop", str(tmp_path / "new.env"), create_env_file=True)
    assert stat.S_IMODE(os.stat(info.config_location).st_mode) == 0o600
    with pytest.raises(NotFound, match="No resource named 'nope'"):
        workspace.attach("nope", "shop")


def test_invalid_variable_name_changes_nothing(workspace: Workspace, env_file: Path, restarts: Path) -> None:
    add_shop(workspace, env_file, restarts)
    workspace.register_resource("shop-db", HANDLE)
    with pytest.raises(InvalidInput, match="'2DB' is not a valid environment variable name"):
        workspace.attach("shop-db", "shop", "2DB")
    assert env_file.read_text() == ENV


def test_remove_deploy_refused_while_attached(workspace: Workspace, env_file: Path, restarts: Path) -> None:
    add_shop(workspace, env_file, restarts)
    workspace.register_resource("shop-db", HANDLE)
    workspace.attach("shop-db", "shop")
    with pytest.raises(Conflict, match="still has attached resources .shop-db as DATABASE_URL"):
        workspace.remove_deploy("shop")
    workspace.detach("shop-db", "shop")
    workspace.remove_deploy("shop")
    assert workspace.list_deploys() == []
    assert env_file.exists()


def test_maintenance_by_flag_then_restart(workspace: Workspace, env_file: Path, restarts: Path) -> None:
    add_shop(workspace, env_file, restarts, maintenance_var="MAINTENANCE_MODE")
    workspace.set_maintenance("shop", True)
    assert "MAINTENANCE_MODE=1\n" in env_file.read_text()
    workspace.set_maintenance("shop", False)
    assert env_file.read_text() == ENV
    assert restarts.read_text() == "restarted\nrestarted\n"


def test_maintenance_by_commands(workspace: Workspace, env_file: Path, tmp_path: Path) -> None:
    flag = tmp_path / "maint"
    workspace.add_deploy("shop", str(env_file), maintenance_on_cmd=f"touch {flag}", maintenance_off_cmd=f"rm {flag}")
    workspace.set_maintenance("shop", True)
    assert flag.exists()
    workspace.set_maintenance("shop", False)
    assert not flag.exists()


def test_import_registers_and_attaches_what_the_env_uses(
    workspace: Workspace, tmp_path: Path, memory_keyring: object
) -> None:
    env = tmp_path / ".env"
    env.write_text(
        f"DATABASE_URL={HANDLE}\nREDIS_URL=redis://cache:6379/0\nSTRIPE_API_KEY=sk_live_abc\n"
        "SITE_URL=https://shop.example.com\nMETRICS_URL=https://tok3n@metrics.example.com\nDEBUG=1\n"
    )
    before = env.read_bytes()
    result = workspace.import_deploy("shop", str(env))
    assert dict(result.attached) == {
        "DATABASE_URL": "shop-database-url",
        "REDIS_URL": "shop-redis-url",
        "STRIPE_API_KEY": "shop-stripe-api-key",
        "METRICS_URL": "shop-metrics-url",
    }
    assert env.read_bytes() == before
    assert workspace.show_resource("shop-stripe-api-key").handle == "•••"
    text = dump_inventory(workspace)
    assert "sk_live_abc" not in text and "Sup3r" not in text and "tok3n" not in text
    # A second deploy that uses the same database attaches the same resource.
    env2 = tmp_path / "worker.env"
    env2.write_text(f"DATABASE_URL={HANDLE}\n")
    again = workspace.import_deploy("worker", str(env2))
    assert dict(again.attached) == {"DATABASE_URL": "shop-database-url"}


class LockedKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("locked")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("locked")


def test_locked_keyring_is_one_clear_error_and_nothing_is_written(
    workspace: Workspace, env_file: Path, restarts: Path, memory_keyring: object
) -> None:
    add_shop(workspace, env_file, restarts)
    workspace.register_resource("shop-db", HANDLE)
    keyring.set_keyring(LockedKeyring())
    with pytest.raises(KeyringUnavailable, match="unlock your keyring|Unlock your keyring") as caught:
        workspace.attach("shop-db", "shop")
    assert caught.value.title == "Keyring unavailable"
    assert env_file.read_text() == ENV
    with pytest.raises(KeyringUnavailable):
        workspace.register_resource("cache", "redis://:pw@cache:6379/0")
    assert [r.name for r in workspace.list_resources()] == ["shop-db"]


def test_absent_keyring_is_refused(workspace: Workspace) -> None:
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    with pytest.raises(KeyringUnavailable, match="No usable keyring"):
        workspace.register_resource("shop-db", HANDLE)
    assert workspace.list_resources() == []
    # A handle without a secret needs no keyring at all.
    assert workspace.register_resource("cache", "redis://cache:6379/0").has_secret is False
