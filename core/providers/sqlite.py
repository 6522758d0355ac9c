"""A folder of SQLite files as a "server": each provisioned database is one file in it."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL

from .. import engines, handles
from ..engines.sqlite import COMPANIONS
from .base import Connection, ProviderError

logger = logging.getLogger(__name__)

SUFFIX = ".sqlite3"


class SQLiteFolderProvider:
    """Provisions SQLite files in one folder; there is no user and no password."""

    engine = engines.SQLITE
    kind: str = engine.name
    has_plans = False

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def server_version(self) -> str:
        return sqlite3.sqlite_version

    def _path(self, database: str) -> Path:
        return self.folder / f"{database}{SUFFIX}"

    def database_url(self, database: str) -> URL:
        return URL.create(self.kind, database=str(self._path(database)))

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
        return handles.parse(f"sqlite:///{path}", kind=self.kind)

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
        for extra in (path, *(Path(f"{path}{suffix}") for suffix in COMPANIONS)):
            try:
                extra.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ProviderError(f"Cannot delete {extra}: {exc.strerror}.") from None
