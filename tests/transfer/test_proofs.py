"""Backups an admin can trust: test-restore into a scratch database, restore, and proofs in the manifest.

Each engine is exercised for real: PostgreSQL and MariaDB through a registered server (the scratch
database is provisioned there and dropped), SQLite in a private temporary file. A damaged backup here is
not only damaged bytes: it is a valid artifact of the same database with one row changed, its sha256 and
size written into the manifest, so only the comparison of the loaded data with the manifest can catch it.
"""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.engine import URL, make_url

from changeover.cli import main
from changeover.core import backups, servers
from changeover.core.engines import TargetNotEmpty, open_engine
from changeover.core.errors import InvalidInput, NotFound
from changeover.core.inventory.models import Event
from changeover.core.transfer.formats.manifest import digest_artifact, read
from changeover.core.workspace import Workspace
from tests.conftest import unique_name
from tests.transfer.helpers import scalar

ENGINES = ["sqlite", "postgresql", "mysql"]
Provision = Callable[..., tuple[URL, str]]


def _exists(admin: sa.Engine, engine: str, name: str) -> bool:
    sql = (
        "SELECT 1 FROM pg_database WHERE datname = :n"
        if engine == "postgresql"
        else "SELECT 1 FROM information_schema.schemata WHERE schema_name = :n"
    )
    with admin.connect() as conn:
        return conn.execute(sa.text(sql), {"n": name}).first() is not None


@pytest.fixture
def admin(request: pytest.FixtureRequest, engine: str) -> sa.Engine | None:
    """The test's own admin connection to the engine's server (None for SQLite)."""
    if engine == "sqlite":
        return None
    engine_admin: sa.Engine = request.getfixturevalue("postgres_admin" if engine == "postgresql" else "mysql_admin")
    return engine_admin


@pytest.fixture
def provision(
    engine: str, workspace: Workspace, request: pytest.FixtureRequest, tmp_path: Path, admin: sa.Engine | None
) -> Iterator[Provision]:
    """``provision(prefix, filled=True)``: a new resource provisioned on the registered server "srv" of
    ``engine`` (filled with the two tables of :func:`_fill`), as its full URL and its name. Every database and
    user it made is dropped after the test."""
    if engine == "sqlite":
        folder = tmp_path / "dbs"
        folder.mkdir()
        servers.register_server(workspace, "srv", str(folder))
    else:
        fixture = "postgres_admin_handle" if engine == "postgresql" else "mysql_admin_handle"
        servers.register_server(workspace, "srv", request.getfixturevalue(fixture))
    made: list[str] = []

    def make(prefix: str, filled: bool = True) -> tuple[URL, str]:
        name = unique_name(prefix)
        made.append(servers.database_name(name))
        servers.provision(workspace, "srv", name)
        url = make_url(workspace.full_handle(name))
        url = url.set(drivername={"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}.get(engine, "sqlite"))
        if filled:
            _fill(url)
        return url, name

    yield make
    if admin is None:
        return
    with admin.connect() as conn:
        for name in made:
            if engine == "postgresql":
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{name}"'))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
                conn.execute(sa.text("DROP USER IF EXISTS :u@'%'"), {"u": name})


def _fill(url: URL) -> None:
    engine = open_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE authors (id integer PRIMARY KEY, name varchar(80) NOT NULL)"))
        conn.execute(
            sa.text(
                "CREATE TABLE books (id integer PRIMARY KEY, author_id integer NOT NULL REFERENCES authors (id), "
                "title varchar(200) NOT NULL, pages integer)"
            )
        )
        conn.execute(sa.text("INSERT INTO authors VALUES (1, 'Ursula'), (2, 'Stanisław')"))
        for i in range(1, 41):
            conn.execute(
                sa.text("INSERT INTO books VALUES (:i, :a, :t, :p)"),
                {"i": i, "a": 1 + i % 2, "t": f"Book {i}", "p": 100 + i},
            )
    engine.dispose()


def _scratch_name(where: str | None) -> str:
    match = re.search(r"scratch database (co_proof_[0-9a-f]+)", where or "")
    assert match, where
    return match.group(1)


def _assert_scratch_dropped(engine: str, admin: sa.Engine | None, where: str | None) -> None:
    if engine == "sqlite":
        assert where == "a private temporary SQLite file"
        return
    assert admin is not None
    assert where and "server srv" in where
    assert not _exists(admin, engine, _scratch_name(where))


def _events(workspace: Workspace, action: str) -> list[Event]:
    with workspace.session() as session:
        return list(session.scalars(select(Event).where(Event.action == action).order_by(Event.id)))


def _one_row_changed(workspace: Workspace, url: URL, resource: str) -> Path:
    """A backup whose artifact is valid but holds one row of ``books`` changed: the artifact of a second
    backup taken after the change, put into the first backup's folder with its sha256 and size."""
    good = backups.backup_resource(workspace, resource).folder
    scalar(url, "UPDATE books SET title = 'Changed' WHERE id = 7")
    changed = backups.backup_resource(workspace, resource).folder
    manifest = read(good)
    artifact = good / manifest.artifact
    if artifact.is_dir():
        shutil.rmtree(artifact)
        shutil.copytree(changed / read(changed).artifact, artifact)
    else:
        shutil.copyfile(changed / read(changed).artifact, artifact)
    sha256, size = digest_artifact(artifact)
    dataclasses.replace(manifest, sha256=sha256, size_bytes=size).write(good)
    shutil.rmtree(changed)
    return good


@pytest.mark.parametrize("engine", ENGINES)
def test_backup_with_test_restore_proves_it_and_drops_the_scratch(
    engine: str, workspace: Workspace, provision: Provision, admin: sa.Engine | None
) -> None:
    _, name = provision("co_pr")

    result = backups.backup_resource(workspace, name, test_restore=True)

    proof = result.manifest.proof
    assert proof is not None and proof.ok and proof.kind == "test-restore"
    assert "2 tables, 42 rows" in proof.detail
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", proof.at)
    assert read(result.folder).proven
    _assert_scratch_dropped(engine, admin, proof.where)
    listed = workspace.list_backups(name)
    assert [(b.folder, b.proven, b.proven_where) for b in listed] == [(result.folder, True, proof.where)]
    (event,) = _events(workspace, "test-restore")
    assert (event.result, event.object_name) == ("ok", name)
    assert "scratch dropped" in event.detail
    assert make_url(workspace.full_handle(name)).password or engine == "sqlite"
    password = make_url(workspace.full_handle(name)).password
    if password:
        assert password not in (result.folder / "manifest.json").read_text() and password not in event.detail


@pytest.mark.parametrize("engine", ENGINES)
def test_a_backup_with_one_row_changed_fails_its_test_restore_naming_the_table(
    engine: str,
    workspace: Workspace,
    provision: Provision,
    admin: sa.Engine | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, name = provision("co_bad")
    damaged = _one_row_changed(workspace, url, name)
    assert digest_artifact(damaged / read(damaged).artifact) == (read(damaged).sha256, read(damaged).size_bytes)

    with pytest.raises(backups.TestRestoreFailed) as failed:
        backups.test_restore_backup(workspace, damaged)

    assert "books" in failed.value.message and "authors" not in failed.value.message
    assert failed.value.proof.table == "books"
    proof = read(damaged).proof
    assert proof is not None and not proof.ok and proof.table == "books"
    assert not read(damaged).proven
    _assert_scratch_dropped(engine, admin, proof.where)
    (event,) = _events(workspace, "test-restore")
    assert event.result == "failed" and "books" in event.detail

    # the same through the command line: exit 1, the table named on stderr, and a FAILED proof in the list
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))
    out, err = io.StringIO(), io.StringIO()
    assert main(["backups", "verify", str(damaged)], out, err) == 1
    assert "books" in err.getvalue() and "test-restore" in err.getvalue()
    out = io.StringIO()
    assert main(["backups", name], out, io.StringIO()) == 0
    assert "FAILED" in out.getvalue()


@pytest.mark.parametrize("engine", ENGINES)
def test_restore_into_an_empty_resource_is_verified_and_a_full_one_refused(
    engine: str, workspace: Workspace, provision: Provision, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, source_name = provision("co_src")
    folder = backups.backup_resource(workspace, source_name).folder
    target, target_name = provision("co_dst", filled=False)

    result = workspace.restore_backup(folder, target_name)

    assert (result.tables, result.rows, result.verified) == (2, 42, True)
    assert scalar(target, "SELECT title FROM books WHERE id = 7") == "Book 7"
    proof = read(folder).proof
    assert proof is not None and proof.ok and proof.kind == "restore" and proof.where == f"resource {target_name}"
    (event,) = _events(workspace, "restore")
    assert event.result == "ok" and event.object_name == target_name and read(folder).sha256[:16] in event.detail

    # a database that holds something is refused, in words, and left as it was
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))
    out, err = io.StringIO(), io.StringIO()
    assert main(["restore", str(folder), target_name], out, err) == 1
    assert "not empty" in err.getvalue() and "books" in err.getvalue()
    assert scalar(target, "SELECT count(*) FROM books") == 40
    with pytest.raises(TargetNotEmpty):
        workspace.restore_backup(folder, target_name)
    assert [e.result for e in _events(workspace, "restore")] == ["ok", "failed", "failed"]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_deprovision_proves_the_final_backup_before_the_drop_unless_declined(
    engine: str, workspace: Workspace, provision: Provision, admin: sa.Engine | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, name = provision("co_gone")

    servers.deprovision(workspace, name, name)

    (final,) = workspace.list_backups(name)
    assert final.proven and final.rows == 42
    _assert_scratch_dropped(engine, admin, final.proven_where)
    (proof,) = _events(workspace, "test-restore")
    (gone,) = _events(workspace, "deprovision")
    assert proof.id < gone.id and gone.result == "ok"
    assert f"final backup proven in {final.proven_where}" in gone.detail and final.sha256 in gone.detail

    _, other_name = provision("co_gone2")
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))
    args = ["deprovision", other_name, "--confirm", other_name, "--no-test-restore"]
    assert main(args, io.StringIO(), io.StringIO()) == 0
    (unproven,) = workspace.list_backups(other_name)
    assert not unproven.proven and unproven.proof_ok is None
    assert "not test-restored (declined by the admin)" in _events(workspace, "deprovision")[-1].detail
    assert len(_events(workspace, "test-restore")) == 1


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_final_backup_that_cannot_be_proven_stops_the_deprovision(
    engine: str, workspace: Workspace, provision: Provision, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, name = provision("co_keep")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "no-such-folder"))  # nowhere for the scratch file
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))
    err = io.StringIO()

    assert main(["deprovision", name, "--confirm", name], io.StringIO(), err) == 1

    assert "was not dropped" in err.getvalue() and "--no-test-restore" in err.getvalue()
    assert scalar(url, "SELECT count(*) FROM books") == 40
    assert workspace.show_resource(name).state != "deprovisioned"
    assert [e.result for e in _events(workspace, "test-restore")] == ["failed"]
    assert [e.result for e in _events(workspace, "deprovision")] == ["failed"]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_damaged_bytes_fail_the_proof_before_anything_loads(
    engine: str, workspace: Workspace, provision: Provision
) -> None:
    _, name = provision("co_bytes")
    folder = backups.backup_resource(workspace, name).folder
    artifact = folder / read(folder).artifact
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))

    with pytest.raises(backups.TestRestoreFailed, match="checksum does not match.*cannot be trusted"):
        backups.test_restore_backup(workspace, folder)
    proof = read(folder).proof
    assert proof is not None and not proof.ok and proof.table is None


def test_a_proof_needs_a_server_of_the_backup_engine(
    workspace: Workspace, make_postgres_db: Callable[..., URL], tmp_path: Path
) -> None:
    url = make_postgres_db()
    _fill(url)
    workspace.register_resource("pg-by-hand", url.set(drivername="postgresql").render_as_string(hide_password=False))
    folder = backups.backup_resource(workspace, "pg-by-hand").folder
    with pytest.raises(InvalidInput, match="none is registered.*changeover server add"):
        backups.test_restore_backup(workspace, folder)
    (tmp_path / "dbs").mkdir()
    servers.register_server(workspace, "files", str(tmp_path / "dbs"))
    with pytest.raises(InvalidInput, match="'files' is a SQLite folder and this is a PostgreSQL backup"):
        backups.test_restore_backup(workspace, folder, server="files")
    with pytest.raises(NotFound, match="No server named 'nope'"):
        backups.test_restore_backup(workspace, folder, server="nope")
    with pytest.raises(NotFound, match="No backup at"):
        backups.test_restore_backup(workspace, tmp_path / "nothing-here")
    assert read(folder).proof is None  # nothing was tried, nothing recorded
    assert [e.result for e in _events(workspace, "test-restore")] == ["failed", "failed", "failed"]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_cli_backup_with_test_restore_says_proven_or_fails_loudly(
    engine: str, workspace: Workspace, provision: Provision, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, name = provision("co_cli")
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))
    out = io.StringIO()
    assert main(["backup", name, "--test-restore"], out, io.StringIO()) == 0
    assert "Proven: test-restored into a private temporary SQLite file" in out.getvalue()
    assert "42 rows: row counts and content checksums match" in out.getvalue()
    assert main(["backup", name, "--server", "srv"], io.StringIO(), io.StringIO()) == 1  # --server needs the proof
    (first,) = workspace.list_backups(name)
    out = io.StringIO()
    assert main(["backups", "verify", f"{name}/{first.folder.name}", "--server", "srv"], out, io.StringIO()) == 0
    assert "into server srv (sqlite, scratch database co_proof_" in out.getvalue()  # a file in the folder server
    assert not any(p.name.startswith("co_proof_") for p in (tmp_path / "dbs").iterdir())

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "no-such-folder"))
    err = io.StringIO()
    assert main(["backup", name, "--test-restore"], io.StringIO(), err) == 1
    assert "test-restore could not make a private temporary folder" in err.getvalue()
    assert [e.result for e in _events(workspace, "backup")] == ["ok", "ok"]  # the bad usage changed nothing
    assert [e.result for e in _events(workspace, "test-restore")] == ["ok", "ok", "failed"]
    newest, proven = workspace.list_backups(name)
    assert not newest.proven and proven.proven  # the unproven backup is kept, and said to be unproven
