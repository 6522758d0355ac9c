"""Two-phase rotation of PostgreSQL and MariaDB users (alternating users), provisioned or registered by hand,
while a client keeps connecting with whatever the deploy's config holds: the real servers, real .env files."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from dotenv import dotenv_values
from sqlalchemy.engine import make_url

from changeover.core import servers
from changeover.core.errors import ChangeoverError, ConfigStoreError, Conflict
from changeover.core.rotation import RotationResult
from changeover.core.workspace import Workspace

from ..conftest import MYSQL_URL, POSTGRES_URL, unique_name
from ..waiting import wait_for

DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}


def engine_for(url: str) -> sa.Engine:
    parsed = make_url(url)
    return sa.create_engine(parsed.set(drivername=DRIVERS[parsed.get_backend_name()]), poolclass=sa.NullPool)


def connects(url: str) -> bool:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def admin_url(kind: str) -> str:
    return POSTGRES_URL if kind == "postgresql" else MYSQL_URL


def users_named(kind: str, prefix: str) -> set[str]:
    """The server's users whose name starts with ``prefix`` (read as the admin)."""
    sql = (
        "SELECT rolname FROM pg_roles WHERE rolname LIKE :p"
        if kind == "postgresql"
        else "SELECT user FROM mysql.user WHERE user LIKE :p"
    )
    engine = sa.create_engine(admin_url(kind), poolclass=sa.NullPool)
    with engine.connect() as conn:
        found = {str(u) for u in conn.execute(sa.text(sql), {"p": prefix + "%"}).scalars()}
    engine.dispose()
    return found


class Client(threading.Thread):
    """An app that re-reads its .env and connects with what it holds, in a loop, until stopped."""

    def __init__(self, env: Path, var: str = "DATABASE_URL") -> None:
        super().__init__(daemon=True)
        self.env, self.var = env, var
        self.stop = threading.Event()
        self.ok: list[str] = []  # the user of each successful connection
        self.failed: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            url = dotenv_values(self.env)[self.var] or ""
            if connects(url):
                self.ok.append(make_url(url).username or "")
            else:
                self.failed.append(make_url(url).username or "")

    def __enter__(self) -> Client:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(timeout=60)


@pytest.fixture(params=["postgresql", "mysql"])
def provisioned(
    request: pytest.FixtureRequest, workspace: Workspace, tmp_path: Path
) -> Iterator[tuple[str, str, list[Path]]]:
    """(kind, resource, the .env files of web and worker) of a database provisioned on the real server."""
    request.getfixturevalue("postgres_admin" if request.param == "postgresql" else "mysql_admin")
    servers.register_server(workspace, "srv", admin_url(request.param))
    name = unique_name(f"rot-{request.param}").replace("_", "-")
    servers.provision(workspace, "srv", name)
    envs: list[Path] = []
    for deploy in ("web", "worker"):
        env = tmp_path / f"{deploy}.env"
        env.write_text("DEBUG=1\n")
        workspace.add_deploy(deploy, str(env), restart_cmd=f"echo restarted >> {tmp_path / deploy}.log")
        workspace.attach(name, deploy)
        envs.append(env)
    yield request.param, name, envs
    for env in envs:
        env.chmod(0o644)
    if workspace.show_resource(name).state != "deprovisioned":
        for attachment in workspace.show_resource(name).attachments:
            workspace.detach(name, attachment.deploy)
        servers.deprovision(workspace, name, name, final_backup=False)


def test_two_phase_rotation_while_a_client_keeps_connecting(
    workspace: Workspace, provisioned: tuple[str, str, list[Path]], tmp_path: Path
) -> None:
    kind, name, envs = provisioned
    old = dotenv_values(envs[0])["DATABASE_URL"] or ""
    owner = make_url(old).username or ""
    set_at = workspace.show_resource(name).secret_set_at
    with engine_for(old).begin() as conn:
        conn.execute(sa.text("CREATE TABLE kept (id integer primary key)"))
        conn.execute(sa.text("INSERT INTO kept VALUES (1)"))

    with Client(envs[0]) as client:
        wait_for("the client's first connection", lambda: len(client.ok + client.failed) > 0)
        first = workspace.rotate(name)
        alternate = dotenv_values(envs[0])["DATABASE_URL"] or ""
        owner_revoked = not connects(old)  # NOLOGIN (PostgreSQL), locked (MariaDB)
        wait_for("a connection as the alternate", lambda: client.ok[-1:] == [f"{owner}_alt"] or bool(client.failed))
        second = workspace.rotate(name)  # and back: the pair alternates
        wait_for("a connection as the owner again", lambda: client.ok[-1:] == [owner] or bool(client.failed))
    assert client.failed == []

    assert isinstance(first, RotationResult) and first.deploys == ("web", "worker")
    assert f"{owner}_alt beside {owner}" in first.how and owner in first.revoked
    new = dotenv_values(envs[0])["DATABASE_URL"] or ""
    assert make_url(new).username == owner and new != old  # back on the owner, with a new password
    assert dotenv_values(envs[1])["DATABASE_URL"] == new and workspace.full_handle(name) == new
    assert f"{owner}_alt" in second.revoked
    assert make_url(alternate).username == f"{owner}_alt"
    assert owner_revoked and connects(new) and not connects(alternate)
    if kind == "mysql":  # the local PostgreSQL trusts every password: its revoke is NOLOGIN, checked above
        assert not connects(old)
    info = workspace.show_resource(name)
    assert info.secret_set_at == set_at and info.secret_rotated_at is not None
    assert f"{owner}:•••@" in info.handle

    # Every privilege and object still works for whoever is logged in: the table the owner made, a new one.
    with engine_for(new).begin() as conn:
        assert conn.execute(sa.text("SELECT id FROM kept")).scalar_one() == 1
    assert (tmp_path / "web.log").read_text() == "restarted\n" * 3  # attach, then each rotation

    events = [e for e in workspace.events(name) if e.action == "rotate password"]
    assert [e.result for e in events] == ["ok", "ok"]
    for event in events:
        assert "web" in event.detail and "worker" in event.detail and "revoked" in event.detail
        for handle in (old, new):
            password = make_url(handle).password
            assert password and password not in event.detail

    # Deprovision drops the pair, both users.
    for deploy in ("web", "worker"):
        workspace.detach(name, deploy)
    servers.deprovision(workspace, name, name, final_backup=False)
    assert users_named(kind, owner) == set()


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_a_user_registered_by_hand_rotates_through_a_registered_server(
    request: pytest.FixtureRequest, workspace: Workspace, tmp_path: Path, kind: str
) -> None:
    admin = request.getfixturevalue("postgres_admin" if kind == "postgresql" else "mysql_admin")
    user = unique_name("co_hand")
    database = unique_name("co_handdb")

    def drop() -> None:
        with admin.connect() as conn:
            if kind == "postgresql":
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{user}_alt"'))
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{user}"'))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{database}`"))
                conn.execute(sa.text(f"DROP USER IF EXISTS `{user}_alt`@'%', `{user}`@'%'"))

    request.addfinalizer(drop)
    with admin.connect() as conn:
        if kind == "postgresql":
            conn.execute(sa.text(f"CREATE ROLE \"{user}\" LOGIN PASSWORD 'hand-pw-1'"))
            conn.execute(sa.text(f'CREATE DATABASE "{database}" OWNER "{user}"'))
        else:
            conn.execute(sa.text(f"CREATE DATABASE `{database}`"))
            conn.execute(sa.text(f"CREATE USER `{user}`@'%' IDENTIFIED BY 'hand-pw-1'"))
            conn.execute(sa.text(f"GRANT SELECT, INSERT, CREATE ON `{database}`.* TO `{user}`@'%'"))
    port = 5432 if kind == "postgresql" else 3306
    handle = f"{kind}://{user}:hand-pw-1@127.0.0.1:{port}/{database}"
    workspace.register_resource("hand", handle)
    env = tmp_path / ".env"
    env.write_text("")
    workspace.add_deploy("app", str(env))
    workspace.attach("hand", "app")

    with pytest.raises(Conflict, match=f"registered by hand and no .* server is registered at 127.0.0.1:{port}"):
        workspace.rotate("hand")
    assert dotenv_values(env)["DATABASE_URL"] == handle  # refused before anything changed

    servers.register_server(workspace, "admin", admin_url(kind))
    result = workspace.rotate("hand")
    new = dotenv_values(env)["DATABASE_URL"] or ""
    assert result.deploys == ("app",) and make_url(new).username == f"{user}_alt"
    assert connects(new)
    if kind == "mysql":  # the grants were copied; the local PostgreSQL trusts passwords, NOLOGIN is the test
        with engine_for(new).begin() as conn:
            conn.execute(sa.text("CREATE TABLE made_by_alt (id int)"))
            conn.execute(sa.text("INSERT INTO made_by_alt VALUES (1)"))
    else:  # what the alternate makes is the owner's: ownership stays with the original user
        with engine_for(new).begin() as conn:
            conn.execute(sa.text("CREATE TABLE made_by_alt (id int)"))
            owner = conn.execute(sa.text("SELECT tableowner FROM pg_tables WHERE tablename = 'made_by_alt'"))
            assert owner.scalar_one() == user
    assert not connects(handle)


def test_a_taken_alternate_name_is_refused_before_anything_changes(
    workspace: Workspace, provisioned: tuple[str, str, list[Path]], request: pytest.FixtureRequest
) -> None:
    kind, name, envs = provisioned
    old = dotenv_values(envs[0])["DATABASE_URL"] or ""
    owner = make_url(old).username
    admin = request.getfixturevalue("postgres_admin" if kind == "postgresql" else "mysql_admin")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{owner}_alt"' if kind == "postgresql" else f"CREATE USER `{owner}_alt`"))
    try:
        with pytest.raises(Conflict, match="that Changeover did not make"):
            workspace.rotate(name)
        assert dotenv_values(envs[0])["DATABASE_URL"] == old and connects(old)
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(f'DROP ROLE "{owner}_alt"' if kind == "postgresql" else f"DROP USER `{owner}_alt`@'%'")
            )


def test_rotate_from_the_cli(
    workspace: Workspace, provisioned: tuple[str, str, list[Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from changeover.cli import main

    _, name, envs = provisioned
    before = dotenv_values(envs[0])["DATABASE_URL"]
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", workspace.inventory.url.render_as_string(hide_password=False))
    out, err = io.StringIO(), io.StringIO()
    assert main(["resource", "rotate", name], out, err) == 0, err.getvalue()
    assert "rewrote and restarted: web, worker" in out.getvalue() and "revoked:" in out.getvalue()
    after = dotenv_values(envs[0])["DATABASE_URL"]
    assert after and after != before and make_url(after).password not in out.getvalue()
    out = io.StringIO()
    assert main(["resource", "rotate", name, "--json"], out, err) == 0, err.getvalue()
    data = json.loads(out.getvalue())
    assert data["deploys"] == ["web", "worker"] and data["failed"] == []
    assert {"resource", "how", "revoked", "note"} <= set(data)
    assert data["resource"]["name"] == name and make_url(after).password not in out.getvalue()


def test_rotate_refuses_before_touching_the_server(
    workspace: Workspace, provisioned: tuple[str, str, list[Path]]
) -> None:
    kind, name, envs = provisioned
    old = dotenv_values(envs[0])["DATABASE_URL"] or ""
    envs[1].chmod(0o444)
    with pytest.raises(ConfigStoreError, match="read-only"):
        workspace.rotate(name)
    assert dotenv_values(envs[0])["DATABASE_URL"] == old and connects(old)
    assert workspace.full_handle(name) == old
    assert users_named(kind, f"{make_url(old).username}_alt") == set()  # no second user was made


def test_kinds_that_cannot_rotate_say_why_and_offer_replace(workspace: Workspace, tmp_path: Path) -> None:
    workspace.register_resource("mail", "smtp://postmaster:pw@mail.example.com:587")
    with pytest.raises(Conflict, match=r"issued by the relay.*`changeover resource secret mail -`"):
        workspace.rotate("mail")
    (tmp_path / "files").mkdir()
    servers.register_server(workspace, "files", str(tmp_path / "files"))
    servers.provision(workspace, "files", "notes")
    with pytest.raises(ChangeoverError, match="nothing to rotate"):
        workspace.rotate("notes")
    workspace.register_resource("queue", "amqp://app:pw@broker.example.com:5672/%2F")
    with pytest.raises(Conflict, match="rabbitmqctl on the broker's own machine, and the broker is at broker"):
        workspace.rotate("queue")
    [event, *_] = [e for e in workspace.events("mail") if e.action == "rotate password"]
    assert event.result == "failed" and "pw" not in event.detail.replace("postmaster", "")


class PasswordOnly:
    """A real server's provider that can only set a password, as the AWS RDS provider does for its master user."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.kind, self.has_plans = "mysql", False

    def set_password(self, user: str, password: str) -> None:
        self.real.set_password(user, password)  # type: ignore[attr-defined]


def test_a_provider_that_only_sets_passwords_rotates_in_one_phase_and_sets_the_old_one_back(
    workspace: Workspace, tmp_path: Path, mysql_admin: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    servers.register_server(workspace, "srv", MYSQL_URL)
    name = unique_name("rot-one").replace("_", "-")
    servers.provision(workspace, "srv", name)
    real = servers.provider_for
    monkeypatch.setattr(servers, "provider_for", lambda server: PasswordOnly(real(server)))
    envs = []
    for deploy in ("a", "b"):
        env = tmp_path / f"{deploy}.env"
        env.write_text("")
        flag = tmp_path / f"{deploy}.fail"
        workspace.add_deploy(deploy, str(env), restart_cmd=f"test ! -e {flag}")
        workspace.attach(name, deploy)
        envs.append(env)
    try:
        old = dotenv_values(envs[0])["DATABASE_URL"] or ""
        (tmp_path / "b.fail").write_text("")
        with pytest.raises(ChangeoverError, match="a was put back .* the old password was set back: nothing changed"):
            workspace.rotate(name)
        assert dotenv_values(envs[0])["DATABASE_URL"] == old and connects(old)

        (tmp_path / "b.fail").unlink()
        result = workspace.rotate(name)
        new = dotenv_values(envs[1])["DATABASE_URL"] or ""
        assert "one phase" in result.how and result.deploys == ("a", "b")
        assert make_url(new).username == make_url(old).username and connects(new) and not connects(old)
    finally:
        monkeypatch.undo()
        for deploy in ("a", "b"):
            workspace.detach(name, deploy)
        servers.deprovision(workspace, name, name, final_backup=False)


def grants(user: str) -> list[str]:
    """SHOW GRANTS of ``user``@'%', its name and password hash cut out, to compare two users' rights."""
    engine = sa.create_engine(MYSQL_URL, poolclass=sa.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SHOW GRANTS FOR :u@'%'"), {"u": user}).scalars().all()
    engine.dispose()
    return sorted(str(r).replace(f"TO `{user}`@", "TO `U`@").split(" IDENTIFIED BY PASSWORD")[0] for r in rows)


def test_mariadb_pair_keeps_the_same_grants_and_definer_views_keep_working(
    workspace: Workspace, tmp_path: Path, mysql_admin: sa.Engine
) -> None:
    servers.register_server(workspace, "srv", MYSQL_URL)
    name = unique_name("rot-grants").replace("_", "-")
    servers.provision(workspace, "srv", name)
    env = tmp_path / ".env"
    env.write_text("")
    workspace.add_deploy("app", str(env))
    workspace.attach(name, "app")
    try:
        old = dotenv_values(env)["DATABASE_URL"] or ""
        owner = make_url(old).username or ""
        database = make_url(old).database
        with engine_for(old).begin() as conn:  # a view whose DEFINER is the owner, run with the owner's rights
            conn.execute(sa.text("CREATE TABLE t (id int)"))
            conn.execute(sa.text("INSERT INTO t VALUES (7)"))
            conn.execute(sa.text("CREATE SQL SECURITY DEFINER VIEW v AS SELECT id FROM t"))

        workspace.rotate(name)
        alternate = dotenv_values(env)["DATABASE_URL"] or ""
        assert grants(f"{owner}_alt") == grants(owner)
        with engine_for(alternate).connect() as conn:  # the owner is locked, yet its view still runs
            assert conn.execute(sa.text("SELECT id FROM v")).scalar_one() == 7

        with mysql_admin.connect() as conn:  # an admin takes a right from the user in use...
            conn.execute(sa.text(f"REVOKE DELETE ON `{database}`.* FROM `{owner}_alt`@'%'"))
        workspace.rotate(name)  # ...and it does not come back with the other user of the pair
        assert grants(owner) == grants(f"{owner}_alt")
        assert not re.search(r"\bDELETE\b(?! HISTORY)", " ".join(grants(owner)))
        with engine_for(dotenv_values(env)["DATABASE_URL"] or "").connect() as conn:
            assert conn.execute(sa.text("SELECT id FROM v")).scalar_one() == 7
    finally:
        workspace.detach(name, "app")
        servers.deprovision(workspace, name, name, final_backup=False)
