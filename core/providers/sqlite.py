"""A folder of SQLite files as a "server": each provisioned database is one file in it."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL

from .. import handles
from .base import Connection, DatabaseInfo, ProviderError, TableInfo

logger = logging.getLogger(__name__)

SUFFIX = ".sqlite3"


def path_of(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise ProviderError("The SQLite handle names no file.")
    return Path(url.database)


HEADER = b"SQLite format 3\x00"


def _open(path: Path, *, must_exist: bool = True) -> sqlite3.Connection:
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


def describe(url: URL) -> DatabaseInfo:
    path = path_of(url)
    conn = _open(path)
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
                est = conn.execute(f'SELECT max(rowid) FROM "{name.replace(chr(34), chr(34) * 2)}"').fetchone()
                rows = int(est[0] or 0) if est else 0
            except sqlite3.OperationalError:  # WITHOUT ROWID tables
                rows = 0
            tables.append(TableInfo(name, rows))
    finally:
        conn.close()
    return DatabaseInfo("sqlite", sqlite3.sqlite_version, path.stat().st_size, tuple(tables))


def contents(url: URL) -> list[str]:
    path = path_of(url)
    if not path.exists() or path.stat().st_size == 0:
        return []
    conn = _open(path)
    try:
        rows = conn.execute(
            "SELECT type || ' ' || name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY 1"
        ).fetchall()
    finally:
        conn.close()
    return [str(r[0]) for r in rows]


class SQLiteFolderProvider:
    """Provisions SQLite files in one folder; there is no user and no password."""

    kind = "sqlite"
    has_plans = False

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def server_version(self) -> str:
        return sqlite3.sqlite_version

    def _path(self, database: str) -> Path:
        return self.folder / f"{database}{SUFFIX}"

    def database_url(self, database: str) -> URL:
        return URL.create("sqlite", database=str(self._path(database)))

    def provision(self, database: str, user: str, password: str, *, plan: str | None = None) -> handles.Handle:
        if not self.folder.is_dir():
            raise ProviderError(f"The SQLite folder {self.folder} does not exist (was it moved?).")
        path = self._path(database)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            raise ProviderError(
                f"A file named {path.name} already exists in {self.folder}: choose another name."
            ) from None
        except OSError as exc:
            raise ProviderError(f"Cannot create {path}: {exc.strerror}.") from None
        os.close(fd)
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
        return handles.parse(f"sqlite:///{path}", kind="sqlite")

    def open_connections(self, database: str) -> list[Connection]:
        """SQLite has no sessions to list: a writer holding a lock is what can be seen."""
        path = self._path(database)
        if not path.exists():
            return []
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            return [Connection("a process", "this machine", "holding a lock on the file")]
        finally:
            conn.close()
        return []

    def set_password(self, user: str, password: str) -> None:
        raise ProviderError("SQLite databases have no users or passwords: there is nothing to rotate.")

    def deprovision(self, database: str, user: str | None) -> None:
        path = self._path(database)
        for extra in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
            try:
                extra.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ProviderError(f"Cannot delete {extra}: {exc.strerror}.") from None
