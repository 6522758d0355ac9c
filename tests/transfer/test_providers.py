"""Servers as providers: register, provision, deprovision on PostgreSQL, MariaDB and a SQLite folder.

Real local servers only. Admin handles carry a real password (a MariaDB admin made for the test) so
the keyring path is exercised; PostgreSQL runs with trust auth here, so its password is only carried.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from changeover.core import backups, paths, servers
from changeover.core.engines import TargetNotEmpty, check_empty, describe
from changeover.core.errors import Conflict, InvalidInput
from changeover.core.inventory.models import Resource, Server
from changeover.core.workspace import Workspace
from tests.memory_keyring import InMemoryKeyring
from tests.transfer.helpers import ADMIN_PW


def _keyring_values(keyring: InMemoryKeyring) -> str:
    return json.dumps(sorted(keyring.items.values()))


def _inventory_dump(ws: Workspace) -> str:
    with ws.inventory.session() as session:
        rows = [
            (s.name, s.kind, s.handle, s.secret_ref, json.dumps(s.options)) for s in session.scalars(sa.select(Server))
        ]
        rows += [(r.name, r.kind, r.handle, r.secret_ref, r.note) for r in session.scalars(sa.select(Resource))]
    return repr(rows)


def _pg_exists(admin: sa.Engine, name: str) -> tuple[bool, bool]:
    with admin.connect() as conn:
        db = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        role = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
    return db is not None, role is not None


def _mysql_exists(admin: sa.Engine, name: str) -> tuple[bool, bool]:
    with admin.connect() as conn:
        db = conn.execute(
            sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :n"), {"n": name}
        ).first()
        user = conn.execute(sa.text("SELECT 1 FROM mysql.user WHERE user = :n"), {"n": name}).first()
    return db is not None, user is not None


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.mark.servers
def test_register_server_keeps_the_admin_password_in_the_keyring_only(
    workspace: Workspace, memory_keyring: InMemoryKeyring, mysql_admin_handle: str
) -> None:
    info = servers.register_server(workspace, "maria", mysql_admin_handle)

    assert info.kind == "mysql"
    assert info.version.startswith("10.") or info.version[:1].isdigit()
    assert ADMIN_PW not in info.handle and "•••" in info.handle
    assert ADMIN_PW not in _inventory_dump(workspace)
    assert ADMIN_PW in _keyring_values(memory_keyring)
    assert [s.name for s in servers.list_servers(workspace)] == ["maria"]
    assert all(ADMIN_PW not in e.detail for e in workspace.events())


@pytest.mark.servers
def test_register_server_refuses_a_wrong_password_and_stores_nothing(
    workspace: Workspace, memory_keyring: InMemoryKeyring, mysql_admin_handle: str
) -> None:
    wrong = mysql_admin_handle.replace(ADMIN_PW, "not-the-password")

    with pytest.raises(Exception) as raised:
        servers.register_server(workspace, "maria", wrong)

    assert "not-the-password" not in str(raised.value)
    assert "denied" in str(raised.value).lower()
    assert servers.list_servers(workspace) == []
    assert memory_keyring.items == {}


@pytest.mark.servers
@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_provision_then_deprovision_on_a_server(
    engine: str,
    workspace: Workspace,
    memory_keyring: InMemoryKeyring,
    request: pytest.FixtureRequest,
    postgres_admin: sa.Engine,
    mysql_admin: sa.Engine,
    cleanup: list[tuple[str, str]],
) -> None:
    handle = request.getfixturevalue(f"{'postgres' if engine == 'postgresql' else 'mysql'}_admin_handle")
    exists = (
        (lambda n: _pg_exists(postgres_admin, n))
        if engine == "postgresql"
        else (lambda n: _mysql_exists(mysql_admin, n))
    )
    servers.register_server(workspace, "srv", handle)
    name = _name("app")
    database = servers.database_name(name)
    cleanup.append((engine, database))

    made = servers.provision(workspace, "srv", name)

    assert (made.origin, made.server, made.kind) == ("provisioned", "srv", engine)
    assert exists(database) == (True, True)
    full = workspace.full_handle(name)
    password = make_url(full).password
    assert password and len(password) >= 24
    assert password not in made.handle and password not in _inventory_dump(workspace)
    assert password in _keyring_values(memory_keyring)
    # The new user can use its database with the generated password.
    target = make_url(full).set(drivername="postgresql+psycopg" if engine == "postgresql" else "mysql+pymysql")
    eng = sa.create_engine(target, poolclass=sa.NullPool)
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id integer PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    eng.dispose()
    assert servers.show_server(workspace, "srv").resources == (name,)

    gone = servers.deprovision(workspace, name, name)

    assert gone.state == "deprovisioned"
    assert exists(database) == (False, False)
    assert password not in _keyring_values(memory_keyring)
    found = backups.list_backups(name)
    assert len(found) == 1 and found[0][1].table_rows() == {"t": 1}
    assert password not in (found[0][0] / "manifest.json").read_text()
    assert "final backup" in workspace.events(name)[0].detail


@pytest.mark.servers
@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_deprovision_is_refused_while_someone_is_connected(
    engine: str,
    workspace: Workspace,
    request: pytest.FixtureRequest,
    postgres_admin: sa.Engine,
    mysql_admin: sa.Engine,
    cleanup: list[tuple[str, str]],
) -> None:
    handle = request.getfixturevalue(f"{'postgres' if engine == 'postgresql' else 'mysql'}_admin_handle")
    exists = (
        (lambda n: _pg_exists(postgres_admin, n))
        if engine == "postgresql"
        else (lambda n: _mysql_exists(mysql_admin, n))
    )
    servers.register_server(workspace, "srv", handle)
    name = _name("busy")
    database = servers.database_name(name)
    cleanup.append((engine, database))
    servers.provision(workspace, "srv", name)
    url = make_url(workspace.full_handle(name))
    url = url.set(drivername="postgresql+psycopg" if engine == "postgresql" else "mysql+pymysql")
    eng = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with eng.connect() as other:
            other.execute(sa.text("SELECT 1"))
            with pytest.raises(Conflict) as refused:
                servers.deprovision(workspace, name, name)
            assert "open connection" in refused.value.message
            assert database in refused.value.message  # the user (named like the database) is named
    finally:
        eng.dispose()

    assert exists(database) == (True, True)
    assert workspace.show_resource(name).state == "available"
    assert backups.list_backups(name) == []
    assert workspace.events(name)[0].result == "failed"


@pytest.mark.servers
def test_deprovision_without_final_backup_when_declined(
    workspace: Workspace, postgres_admin_handle: str, postgres_admin: sa.Engine, cleanup: list[tuple[str, str]]
) -> None:
    servers.register_server(workspace, "pg", postgres_admin_handle)
    name = _name("nob")
    cleanup.append(("postgresql", servers.database_name(name)))
    servers.provision(workspace, "pg", name)

    servers.deprovision(workspace, name, name, final_backup=False)

    assert backups.list_backups(name) == []
    assert not (paths.backups_dir() / name).exists()
    assert _pg_exists(postgres_admin, servers.database_name(name)) == (False, False)
    assert "declined" in workspace.events(name)[0].detail


@pytest.mark.servers
def test_plan_is_refused_on_a_local_server(
    workspace: Workspace, postgres_admin_handle: str, postgres_admin: sa.Engine
) -> None:
    servers.register_server(workspace, "pg", postgres_admin_handle)
    name = _name("plan")

    with pytest.raises(InvalidInput, match="no sizes or plans"):
        servers.provision(workspace, "pg", name, plan="db.t3.micro")

    assert _pg_exists(postgres_admin, servers.database_name(name)) == (False, False)
    assert workspace.list_resources() == []


def test_sqlite_folder_provision_and_deprovision(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "dbs"
    folder.mkdir()
    server = servers.register_server(workspace, "local", str(folder))
    assert (server.kind, server.handle, server.has_secret) == ("sqlite", str(folder), False)

    made = servers.provision(workspace, "local", "notes")

    path = folder / "notes.sqlite3"
    assert path.exists() and made.handle == f"sqlite:///{path}"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE n (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT)")
    conn.executemany("INSERT INTO n (body) VALUES (?)", [("a",), ("b",)])
    conn.commit()
    conn.close()
    info = backups.describe_resource(workspace, "notes")
    assert [(t.name, t.rows) for t in info.tables] == [("n", 2)]

    servers.deprovision(workspace, "notes", "notes")

    assert not path.exists()
    [(folder_, manifest)] = backups.list_backups("notes")
    assert manifest.table_rows() == {"n": 2} and (folder_ / manifest.artifact).exists()
    assert workspace.show_resource("notes").state == "deprovisioned"


def test_sqlite_deprovision_refused_while_a_writer_holds_the_file(workspace: Workspace, tmp_path: Path) -> None:
    servers.register_server(workspace, "local", str(tmp_path))
    servers.provision(workspace, "local", "busy")
    writer = sqlite3.connect(tmp_path / "busy.sqlite3", isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(Conflict, match="open connection"):
            servers.deprovision(workspace, "busy", "busy")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert (tmp_path / "busy.sqlite3").exists()


@pytest.mark.servers
def test_describe_and_check_empty_on_postgres(make_postgres_db: object) -> None:
    url = make_postgres_db()  # type: ignore[operator]
    check_empty(url)
    eng = sa.create_engine(url, poolclass=sa.NullPool)
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE big (id serial PRIMARY KEY, body text)"))
        conn.execute(sa.text("INSERT INTO big (body) SELECT repeat('x', 100) FROM generate_series(1, 5000)"))
        conn.execute(sa.text("ANALYZE big"))
    eng.dispose()

    info = describe(url)

    assert info.server_version.split(".")[0].isdigit()
    assert info.size_bytes > 500_000
    assert [(t.name, t.rows) for t in info.tables] == [("big", 5000)]
    with pytest.raises(TargetNotEmpty, match="table public.big"):
        check_empty(url)


@pytest.mark.servers
def test_describe_and_check_empty_on_mysql(make_mysql_db: object) -> None:
    url = make_mysql_db()  # type: ignore[operator]
    check_empty(url)
    eng = sa.create_engine(url, poolclass=sa.NullPool)
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE PROCEDURE p() SELECT 1"))
    eng.dispose()

    assert describe(url).tables == ()
    with pytest.raises(TargetNotEmpty, match="routine p"):
        check_empty(url)


def test_sqlite_folder_given_as_a_url_and_bad_folders_refused(workspace: Workspace, tmp_path: Path) -> None:
    info = servers.register_server(workspace, "files", f"sqlite:///{tmp_path}")
    assert info.handle == str(tmp_path) and info.kind == "sqlite"

    with pytest.raises(InvalidInput, match="does not exist"):
        servers.register_server(workspace, "gone", str(tmp_path / "missing"))
    with pytest.raises(InvalidInput, match="not a database server"):
        servers.register_server(workspace, "cache", "redis://127.0.0.1:6379/0")
    with pytest.raises(Conflict, match="already exists"):
        servers.register_server(workspace, "files", str(tmp_path))
    assert [s.name for s in servers.list_servers(workspace)] == ["files"]


def test_a_server_carrying_resources_cannot_be_removed(workspace: Workspace, tmp_path: Path) -> None:
    servers.register_server(workspace, "files", str(tmp_path))
    servers.provision(workspace, "files", "kept")

    with pytest.raises(Conflict, match="kept"):
        servers.remove_server(workspace, "files")
    servers.deprovision(workspace, "kept", "kept", final_backup=False)
    with pytest.raises(Conflict, match="history"):
        servers.remove_server(workspace, "files")

    servers.register_server(workspace, "spare", str(tmp_path))
    servers.remove_server(workspace, "spare")
    assert [s.name for s in servers.list_servers(workspace)] == ["files"]
