"""Rotating a provider-made database user's password: server, keyring, every attached deploy, one audit row."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from dotenv import dotenv_values
from sqlalchemy.engine import make_url

from changeover.core import servers
from changeover.core.errors import ChangeoverError, ConfigStoreError, Conflict
from changeover.core.providers import ProviderError
from changeover.core.workspace import Workspace

from ..conftest import MYSQL_URL, POSTGRES_URL, unique_name


def connects(url: str) -> bool:
    driver = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
    parsed = make_url(url)
    engine = sa.create_engine(parsed.set(drivername=driver[parsed.get_backend_name()]), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def password_hash(handle: str) -> str:
    """The password hash the server keeps for the handle's user (read as the admin)."""
    url = make_url(handle)
    if url.get_backend_name() == "postgresql":
        admin, sql = POSTGRES_URL, "SELECT rolpassword FROM pg_authid WHERE rolname = :u"
    else:
        admin, sql = MYSQL_URL, "SELECT authentication_string FROM mysql.user WHERE user = :u"
    engine = sa.create_engine(admin, poolclass=sa.NullPool)
    with engine.connect() as conn:
        value = str(conn.execute(sa.text(sql), {"u": url.username}).scalar_one())
    engine.dispose()
    return value


@pytest.fixture(params=["postgresql", "mysql"])
def provisioned(
    request: pytest.FixtureRequest, workspace: Workspace, tmp_path: Path, memory_keyring: object
) -> tuple[str, list[Path]]:
    if request.param == "postgresql":
        request.getfixturevalue("postgres_admin")
        admin = POSTGRES_URL
    else:
        request.getfixturevalue("mysql_admin")
        admin = MYSQL_URL
    servers.register_server(workspace, "srv", admin)
    name = unique_name(f"rot-{request.param}").replace("_", "-")
    servers.provision(workspace, "srv", name)
    envs: list[Path] = []

    def drop() -> None:
        for env in envs:
            env.chmod(0o644)
        for attachment in workspace.show_resource(name).attachments:
            workspace.detach(name, attachment.deploy)
        servers.deprovision(workspace, name, name, final_backup=False)

    request.addfinalizer(drop)
    for deploy in ("web", "worker"):
        env = tmp_path / f"{deploy}.env"
        env.write_text("DEBUG=1\n")
        workspace.add_deploy(deploy, str(env), restart_cmd=f"echo restarted >> {tmp_path / deploy}.log")
        workspace.attach(name, deploy)
        envs.append(env)
    return name, envs


def test_rotate_changes_the_password_everywhere(
    workspace: Workspace, provisioned: tuple[str, list[Path]], tmp_path: Path
) -> None:
    name, envs = provisioned
    old = dotenv_values(envs[0])["DATABASE_URL"]
    assert old and connects(old)
    before = password_hash(old)

    provisioned_at = workspace.show_resource(name).secret_set_at
    assert provisioned_at is not None and workspace.show_resource(name).secret_rotated_at is None

    result = servers.rotate(workspace, name)

    assert result.deploys == ("web", "worker") and result.failed == ()
    assert result.resource.secret_set_at == provisioned_at  # the age counts from the rotation now
    assert result.resource.secret_rotated_at is not None and result.resource.secret_rotated_at >= provisioned_at
    new = dotenv_values(envs[0])["DATABASE_URL"]
    assert new and new != old and dotenv_values(envs[1])["DATABASE_URL"] == new
    assert connects(new)
    assert password_hash(new) != before
    if make_url(new).get_backend_name() == "mysql":  # the local PostgreSQL trusts every local login
        assert not connects(old)
    assert workspace.full_handle(name) == new
    assert (tmp_path / "web.log").read_text() == "restarted\nrestarted\n"  # attach, then rotation
    [event] = [e for e in workspace.events(name) if e.action == "rotate password"]
    assert event.result == "ok" and "web" in event.detail and "worker" in event.detail
    new_password = make_url(new).password
    assert new_password and new_password not in event.detail


def test_rotate_from_the_cli(
    workspace: Workspace, provisioned: tuple[str, list[Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from changeover.cli import main

    name, envs = provisioned
    before = dotenv_values(envs[0])["DATABASE_URL"]
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", workspace.inventory.url.render_as_string(hide_password=False))
    out, err = io.StringIO(), io.StringIO()
    assert main(["resource", "rotate", name], out, err) == 0, err.getvalue()
    assert "rewrote and restarted: web, worker" in out.getvalue()
    after = dotenv_values(envs[0])["DATABASE_URL"]
    assert after and after != before and make_url(after).password not in out.getvalue()


def test_rotate_refuses_before_touching_the_server(workspace: Workspace, provisioned: tuple[str, list[Path]]) -> None:
    name, envs = provisioned
    old = dotenv_values(envs[0])["DATABASE_URL"]
    assert old and connects(old)
    before = password_hash(old)
    envs[1].chmod(0o444)
    with pytest.raises(ConfigStoreError, match="read-only"):
        servers.rotate(workspace, name)
    assert password_hash(old) == before
    assert dotenv_values(envs[0])["DATABASE_URL"] == old
    assert workspace.full_handle(name) == old


def test_only_provider_made_users_are_rotated(workspace: Workspace, tmp_path: Path) -> None:
    workspace.register_resource("manual", "postgresql://app:pw@db.internal/app")
    with pytest.raises(Conflict, match="registered by hand"):
        servers.rotate(workspace, "manual")
    (tmp_path / "files").mkdir()
    servers.register_server(workspace, "files", str(tmp_path / "files"))
    servers.provision(workspace, "files", "notes")
    with pytest.raises(ChangeoverError, match="no database user|nothing to rotate"):
        servers.rotate(workspace, "notes")
    assert isinstance(ProviderError("x"), ChangeoverError)
