"""SQLite: a file, read with the standard library's sqlite3; no server, no users, no sequences."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL

from .base import DatabaseInfo, Engine, ProviderError, TableInfo

HEADER = b"SQLite format 3\x00"
#: the files SQLite keeps beside a database
COMPANIONS = ("-wal", "-shm", "-journal")

_VIEW_WHY = "its SQL is written for the source engine: recreate it on the target by hand"
_TRIGGER_WHY = "trigger bodies are engine-specific code: recreate it on the target by hand"


def path_of(url: URL) -> Path:
    """The database file a SQLite URL names."""
    if not url.database or url.database == ":memory:":
        raise ProviderError("The SQLite handle names no file.")
    return Path(url.database)


def open_file(path: Path, *, must_exist: bool = True) -> sqlite3.Connection:
    """A sqlite3 connection (read-only when the file must exist); a file without SQLite's header is refused."""
    if must_exist and not path.exists():
        raise ProviderError(f"There is no SQLite file at {path}.")
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as handle:
            if handle.read(len(HEADER)) != HEADER:
                raise ProviderError(
                    f"{path} is not a SQLite database (it lacks SQLite's file header): check the handle's path."
                )
    try:
        return sqlite3.connect(f"file:{path}?mode=ro" if must_exist else str(path), uri=must_exist, timeout=10)
    except sqlite3.Error as exc:
        raise ProviderError(f"SQLite could not open {path}: {exc}") from None


class SQLite(Engine):
    name = "sqlite"
    label = "SQLite"
    driver = "sqlite"
    backends = ("sqlite",)
    paramstyle_marker = "?"
    bulk_path = "executemany in one transaction"
    alters_constraints = False
    has_sessions = False
    file_based = True
    names_indexes = True
    driver_typed = False
    parallel_writes = False

    def dialect(self) -> sa.engine.Dialect:
        return sqlite.dialect()

    def probe(self, url: URL, timeout: float) -> sa.Engine:
        if not url.database or not Path(url.database).exists():
            raise ProviderError("The SQLite file does not exist.")
        # Read-only, so a check never creates or changes the file.
        url = url.set(drivername=self.driver, query={"mode": "ro", "uri": "true"}, database=f"file:{url.database}")
        return sa.create_engine(url, connect_args={"timeout": timeout}, poolclass=sa.NullPool)

    def describe(self, url: URL) -> DatabaseInfo:
        path = path_of(url)
        conn = open_file(path)
        try:
            names = [
                str(r[0])
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                    "ORDER BY name"
                )
            ]
            tables = []
            for name in names:
                # SQLite keeps no row estimate unless ANALYZE ran; max(rowid) is an index lookup, not a scan.
                try:
                    est = conn.execute(f"SELECT max(rowid) FROM {self.quote(name)}").fetchone()
                    rows = int(est[0] or 0) if est else 0
                except sqlite3.OperationalError:  # WITHOUT ROWID tables
                    rows = 0
                tables.append(TableInfo(name, rows))
        finally:
            conn.close()
        return DatabaseInfo(self.name, sqlite3.sqlite_version, path.stat().st_size, tuple(tables))

    def contents(self, url: URL) -> list[str]:
        path = path_of(url)
        if not path.exists() or path.stat().st_size == 0:
            return []
        conn = open_file(path)
        try:
            rows = conn.execute(
                "SELECT type || ' ' || name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY 1"
            ).fetchall()
        finally:
            conn.close()
        return [str(r[0]) for r in rows]

    def declared_types(self, conn: sa.Connection, tables: list[str]) -> dict[tuple[str, str], str]:
        declared: dict[tuple[str, str], str] = {}
        for name in tables:
            for row in conn.exec_driver_sql(f"PRAGMA table_info({self.quote(name)})"):
                declared[(name, str(row[1]))] = str(row[2])
        return declared

    def auto_numbered(self, column: dict[str, Any], declared: str, single_key: str | None) -> bool:
        # INTEGER PRIMARY KEY is the rowid: it takes max(rowid)+1 when no value is given.
        return single_key == column["name"] and declared.upper() == "INTEGER"

    def next_auto_value(
        self, conn: sa.Connection, table: str, column: str, max_value: int | None
    ) -> tuple[int | None, str | None]:
        seq_value = None
        if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").first():
            seq_value = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).scalar()
        return max(int(seq_value or 0), max_value or 0) + 1, None

    def set_next_auto_value(self, conn: sa.Connection, table: str, column: str, value: int) -> None:
        """Nothing to do: the rowid takes max(rowid)+1, past every row copied."""

    def not_carried(self, conn: sa.Connection) -> list[tuple[str, str, str]]:
        found = [
            ("view", str(r[0]), _VIEW_WHY)
            for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'view'")
        ]
        found += [
            ("trigger", str(r[0]), _TRIGGER_WHY)
            for r in conn.exec_driver_sql("SELECT name || ' on ' || tbl_name FROM sqlite_master WHERE type = 'trigger'")
        ]
        return found

    def empty(self, url: URL) -> None:
        path = Path(url.database or "")
        for suffix in ("", *COMPANIONS):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
