"""Same-engine backup and load on PostgreSQL, MariaDB and SQLite, against the real local servers.

The rich schema (tests/transfer/richschema.py) is backed up and loaded into an empty database; the data
must be identical afterwards (content checksums computed inside the databases), the schema objects
(keys, indexes, checks, view, trigger, routine) carried, and an insert without an explicit id must work.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core import paths
from changeover.core.engines import TargetNotEmpty, check_empty
from changeover.core.errors import Cancelled
from changeover.core.transfer import tools
from changeover.core.transfer.backup import BackupParams, backup
from changeover.core.transfer.formats.manifest import BackupInvalid, digest_artifact, read
from changeover.core.transfer.load import LoadParams, load
from changeover.core.transfer.verify import checksum_database
from tests.transfer.helpers import scalar
from tests.transfer.richschema import AUTO_ID, ROWS, TRIGGERS, VIEWS, create_rich_schema

ROUTINE = {
    "postgresql": "CREATE FUNCTION add_one(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT x + 1'",
    "mysql": "CREATE FUNCTION add_one(x int) RETURNS int DETERMINISTIC RETURN x + 1",
}

Maker = Callable[[], URL]
#: PostgreSQL re-renders casts in a restored check (``'a'::varchar::text``): same meaning, other text
_CAST = re.compile(r"::[a-z ]+(\[\])?")


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def engine(request: pytest.FixtureRequest) -> str:
    if request.param != "sqlite":
        request.applymarker(pytest.mark.servers)
    return str(request.param)


@pytest.fixture
def make_db(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Maker:
    """Empty databases of the engine under test."""
    if engine == "postgresql":
        return request.getfixturevalue("make_postgres_db")  # type: ignore[no-any-return]
    if engine == "mysql":
        return request.getfixturevalue("make_mysql_db")  # type: ignore[no-any-return]
    counter = iter(range(100))
    return lambda: URL.create("sqlite", database=str(tmp_path / f"db{next(counter)}.sqlite3"))


def rich_source(engine: str, make_db: Maker) -> URL:
    url = make_db()
    create_rich_schema(url)
    if engine in ROUTINE:
        eng = sa.create_engine(url, poolclass=sa.NullPool)
        with eng.begin() as conn:
            conn.exec_driver_sql(ROUTINE[engine])
        eng.dispose()
    return url


def schema_of(url: URL) -> dict[str, Any]:
    """Keys, indexes, checks, defaults and columns of every table, plus views, as the inspector sees them."""
    eng = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        insp = sa.inspect(eng)
        found: dict[str, Any] = {"views": sorted(insp.get_view_names())}
        for table in sorted(insp.get_table_names()):
            found[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in insp.get_columns(table)
                ],
                "pk": insp.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"]) for f in insp.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    (i["name"], tuple(map(str, i["column_names"])), bool(i["unique"])) for i in insp.get_indexes(table)
                ),
                "uniques": sorted(tuple(map(str, u["column_names"])) for u in insp.get_unique_constraints(table)),
                "checks": sorted(_CAST.sub("", str(c["sqltext"])) for c in insp.get_check_constraints(table)),
            }
        return found
    finally:
        eng.dispose()


def test_round_trip_carries_everything(engine: str, make_db: Maker) -> None:
    round_trip(engine, make_db)


@pytest.mark.parametrize("engine", ["mysql"], indirect=True)
def test_round_trip_in_the_mariadb_dump_sql_format(engine: str, make_db: Maker) -> None:
    assert round_trip(engine, make_db, mysql_format="sql") == "mariadb-dump-sql"


def round_trip(engine: str, make_db: Maker, **options: Any) -> str:
    source = rich_source(engine, make_db)
    before = checksum_database(source)
    reports: list[tuple[int, int | None, str, str]] = []

    result = backup(BackupParams(source, resource="rich", **options), lambda *a: reports.append(a))

    manifest = read(result.folder)
    assert result.folder.parent == paths.backups_dir() / "rich"
    assert (manifest.sha256, manifest.size_bytes) == digest_artifact(result.artifact)
    assert manifest.table_rows() == {table: len(rows) for table, rows in ROWS.items()}
    assert {t.name: t.checksum for t in manifest.tables} == {name: s.checksum for name, s in before.items()}
    assert manifest.engine == engine and manifest.tool_version and manifest.server_version
    assert reports and all(total is None or done <= total for done, total, _unit, _msg in reports)

    target = make_db()
    stamps: list[float] = [time.monotonic()]
    loaded = load(LoadParams(result.folder, target), lambda *a: stamps.append(time.monotonic()))
    stamps.append(time.monotonic())

    assert loaded.verified and loaded.rows == sum(len(rows) for rows in ROWS.values())
    assert max(b - a for a, b in itertools.pairwise(stamps)) < 1.5  # reported at least about once a second
    assert checksum_database(target) == before
    assert schema_of(target) == schema_of(source)
    # Sequences / AUTO_INCREMENT carried: a new row without an explicit id gets a fresh one.
    top = scalar(source, "SELECT max(id) FROM authors")
    scalar(target, "INSERT INTO authors (name, active) VALUES ('new author', :t)", t=True)
    new_id = scalar(target, "SELECT id FROM authors WHERE name = 'new author'")
    assert new_id > top
    for table in AUTO_ID[1:]:
        assert table in manifest.table_rows()
    # The view and the trigger work in the target; the routine was carried.
    assert scalar(target, f"SELECT count(*) FROM {VIEWS[0]}") == scalar(source, f"SELECT count(*) FROM {VIEWS[0]}")
    scalar(
        target,
        "INSERT INTO books (author_id, title, pages) VALUES (:a, '  padded  ', 1)",
        a=new_id,
    )
    assert scalar(target, "SELECT title FROM books WHERE author_id = :a", a=new_id) == "padded", TRIGGERS
    if engine in ROUTINE:
        assert scalar(target, "SELECT add_one(41)") == 42
    # The source is untouched.
    assert checksum_database(source) == before
    return manifest.format


def test_load_refuses_a_non_empty_target_and_changes_nothing(engine: str, make_db: Maker) -> None:
    source = rich_source(engine, make_db)
    result = backup(BackupParams(source, resource="rich"))
    target = make_db()
    scalar(target, "CREATE TABLE keepme (id integer PRIMARY KEY)")
    scalar(target, "INSERT INTO keepme VALUES (7)")

    with pytest.raises(TargetNotEmpty) as refused:
        load(LoadParams(result.folder, target))

    assert "keepme" in refused.value.message and "nothing was changed" in refused.value.message
    assert sorted(schema_of(target)) == ["keepme", "views"]
    assert scalar(target, "SELECT id FROM keepme") == 7


def _children_running(marker: str) -> list[str]:
    """Command lines of live processes mentioning ``marker`` (a backup's artifact path)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
        except (OSError, IndexError):
            continue
        if marker in cmdline and state != "Z":
            found.append(cmdline)
    return found


@pytest.mark.parametrize("engine", ["postgresql", "mysql"], indirect=True)
def test_cancelled_load_stops_the_tool_and_leaves_the_source_untouched(engine: str, make_db: Maker) -> None:
    source = rich_source(engine, make_db)
    before = checksum_database(source)
    result = backup(BackupParams(source, resource="rich"))
    target = make_db()
    cancel = threading.Event()

    def progress(done: int, total: int | None, unit: str, message: str) -> None:
        if message.startswith(("Restoring", "Loading into")):
            cancel.set()  # the child has not been waited on yet: the next safe point stops it

    with pytest.raises(Cancelled) as stopped:
        load(LoadParams(result.folder, target), progress, cancel)

    assert "cancelled" in stopped.value.message and "untouched" in stopped.value.message
    assert "drop it" in stopped.value.message
    assert _children_running(str(result.folder)) == []
    assert checksum_database(source) == before
    assert read(result.folder).sha256 == digest_artifact(result.artifact)[0]
    # The target is droppable: nobody is left connected to it.
    name = target.database
    admin = target.set(database="postgres" if engine == "postgresql" else "mysql")
    eng = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with eng.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE "{name}"' if engine == "postgresql" else f"DROP DATABASE `{name}`")
    eng.dispose()


def test_cancelled_backup_removes_the_partial_folder(engine: str, make_db: Maker) -> None:
    source = rich_source(engine, make_db)
    cancel = threading.Event()

    def progress(done: int, total: int | None, unit: str, message: str) -> None:
        if message.startswith(("Dumping", "Copying")):
            cancel.set()

    with pytest.raises(Cancelled, match="untouched"):
        backup(BackupParams(source, resource="rich"), progress, cancel)

    assert not (paths.backups_dir() / "rich").exists() or not any((paths.backups_dir() / "rich").iterdir())
    assert checksum_database(source)["authors"].rows == len(ROWS["authors"])


def test_a_damaged_backup_is_refused_before_touching_the_target(engine: str, make_db: Maker) -> None:
    source = rich_source(engine, make_db)
    result = backup(BackupParams(source, resource="rich"))
    data = ("*.tsv", "*.dat")  # MariaDB's table files, pg_dump's directory format's
    files = [result.artifact] if result.artifact.is_file() else [p for g in data for p in result.artifact.rglob(g)]
    biggest = max(files, key=lambda p: p.stat().st_size)
    with biggest.open("r+b") as artifact:
        artifact.seek(biggest.stat().st_size // 2)
        artifact.write(b"\0\1\2\3")
    target = make_db()

    with pytest.raises(BackupInvalid, match="damaged"):
        load(LoadParams(result.folder, target))

    check_empty(target)  # nothing was loaded


def test_manifest_and_logs_hold_no_secret(engine: str, make_db: Maker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    source = rich_source(engine, make_db)
    secretful = source.set(password="s3cret-Never-Shown") if engine == "postgresql" else source

    result = backup(BackupParams(secretful, resource="rich"))

    text = (result.folder / "manifest.json").read_text()
    data = json.loads(text)
    assert "s3cret-Never-Shown" not in text and "s3cret-Never-Shown" not in caplog.text
    if engine == "postgresql":
        assert "•••" in data["source"]
    assert data["created_at"] and data["sha256"] and data["tool"]


@pytest.fixture
def no_native_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without the client tools: discovery finds none (the servers are real)."""
    monkeypatch.setattr(tools, "find_tool", lambda name: None)


@pytest.mark.parametrize("engine", ["mysql"], indirect=True)
def test_mariadb_round_trip_without_the_client_tools(engine: str, make_db: Maker, no_native_tools: None) -> None:
    source = rich_source(engine, make_db)
    before = checksum_database(source)

    result = backup(BackupParams(source, resource="rich"))
    target = make_db()
    loaded = load(LoadParams(result.folder, target))

    assert result.manifest.tool == "pymysql" and result.manifest.format == "mariadb-tsv"
    assert loaded.verified and checksum_database(target) == before
    assert schema_of(target) == schema_of(source)
    assert scalar(target, "SELECT add_one(1)") == 2
    scalar(target, "INSERT INTO authors (name, active) VALUES ('new author', 1)")
    assert scalar(target, "SELECT id FROM authors WHERE name = 'new author'") > scalar(
        source, "SELECT max(id) FROM authors"
    )


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_postgres_round_trip_without_pg_dump(engine: str, make_db: Maker, no_native_tools: None) -> None:
    source = rich_source(engine, make_db)
    before = checksum_database(source)

    result = backup(BackupParams(source, resource="rich"))
    target = make_db()
    loaded = load(LoadParams(result.folder, target))

    assert (result.manifest.tool, result.manifest.format) == ("psycopg", "postgres-copy")
    assert loaded.verified and checksum_database(target) == before
    assert schema_of(target) == schema_of(source)
    assert scalar(target, "SELECT add_one(1)") == 2
    scalar(target, "INSERT INTO authors (name, active) VALUES ('new author', true)")
    assert scalar(target, "SELECT id FROM authors WHERE name = 'new author'") > scalar(
        source, "SELECT max(id) FROM authors"
    )
    scalar(target, "INSERT INTO books (author_id, title, pages) VALUES (1, '  padded  ', 1)")
    assert scalar(target, "SELECT count(*) FROM books WHERE title = 'padded'") == 1


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_pg_dump_backup_without_pg_restore_says_what_to_install(
    engine: str, make_db: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = backup(BackupParams(rich_source(engine, make_db), resource="rich"))
    monkeypatch.setattr(tools, "find_tool", lambda name: None)
    target = make_db()

    with pytest.raises(tools.ToolMissing, match="postgresql-client"):
        load(LoadParams(result.folder, target))

    check_empty(target)


def test_tools_note_says_which_tools_a_backup_will_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from changeover.core.transfer.backup import tools_note

    assert tools_note("sqlite", "3.40.1") is None  # SQLite's own backup API: no tools
    monkeypatch.setattr(tools, "find_tool", lambda name: None)
    assert tools_note("postgresql", "15.4") == (
        "pg_dump/pg_restore missing or older than the server: the built-in copy is used"
    )
    assert tools_note("mysql", "10.11.6") == "mariadb-dump missing: the built-in copy is used"
