"""What a provider is: who makes databases on a server, drops them, and describes them.

A :class:`Provider` works on one registered server (a PostgreSQL or MariaDB/MySQL server reached by an
admin handle, or a folder of SQLite files; AWS RDS later through the same interface). Describing a
database (version, size, tables with estimated rows) and checking it is empty work on any database URL
of the three engines, through :func:`describe` and :func:`check_empty`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import URL

from .. import handles
from ..errors import ChangeoverError, Conflict
from ..hooks import redact


class ProviderError(ChangeoverError):
    """A server refused or failed an operation (connect, create, drop)."""

    title = "Database server problem"


class TargetNotEmpty(Conflict):
    """A load was aimed at a database that already holds something."""

    title = "Target database is not empty"


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int  # an estimate from the catalog
    size_bytes: int = 0


@dataclass(frozen=True)
class DatabaseInfo:
    engine: str  # postgresql | mysql | sqlite
    server_version: str
    size_bytes: int
    tables: tuple[TableInfo, ...]

    @property
    def estimated_rows(self) -> int:
        return sum(t.rows for t in self.tables)


@dataclass(frozen=True)
class Connection:
    """Someone else's session on a database: who and from where."""

    user: str
    client: str
    application: str = ""

    def __str__(self) -> str:
        app = f" ({self.application})" if self.application else ""
        return f"{self.user or '?'} from {self.client or 'local socket'}{app}"


class Provider(Protocol):
    """Makes and drops databases on one server. Every method raises :class:`ProviderError` on failure."""

    kind: str
    #: True when :meth:`provision` takes a size/plan (cloud providers); local servers have none
    has_plans: bool

    def server_version(self) -> str: ...

    def provision(self, database: str, user: str, password: str, *, plan: str | None = None) -> handles.Handle:
        """Create ``database`` and its dedicated ``user``; return the full handle (password included)."""
        ...

    def database_url(self, database: str) -> URL:
        """An admin URL to ``database`` on this server (for backups and inspection)."""
        ...

    def open_connections(self, database: str) -> list[Connection]:
        """Sessions on ``database`` other than Changeover's own."""
        ...

    def deprovision(self, database: str, user: str | None) -> None:
        """Drop ``database`` and its ``user``; what is already gone is not an error."""
        ...

    def set_password(self, user: str, password: str) -> None:
        """Give ``user`` a new password (rotation); a server without users raises :class:`ProviderError`."""
        ...


def driver_message(exc: Exception) -> str:
    """The first line of a driver error's own text: never the SQL statement or its parameters."""
    orig = getattr(exc, "orig", None) or exc
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    text = str(args[1]) if len(args) >= 2 and isinstance(args[0], int) else str(orig)
    return (text.strip().splitlines() or [type(orig).__name__])[0][:300]


def url_secrets(url: URL) -> tuple[str, ...]:
    return tuple(s for s in [url.password] if isinstance(s, str) and s)


@contextmanager
def connect(
    url: URL, label: str, doing: str, *, autocommit: bool = False, connect_args: dict[str, object] | None = None
) -> Iterator[sa.Connection]:
    """A short-lived connection; driver errors become :class:`ProviderError` saying what failed (redacted)."""
    engine = sa.create_engine(
        url,
        poolclass=sa.NullPool,
        connect_args=connect_args or {},
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )
    try:
        with engine.connect() as conn:
            yield conn
    except sa.exc.DBAPIError as exc:
        raise ProviderError(f"{label} could not {doing}: {redact(driver_message(exc), url_secrets(url))}") from None
    finally:
        engine.dispose()


class ServerProvider:
    """What the PostgreSQL and MariaDB/MySQL providers share: an admin connection and its error handling."""

    kind = ""
    has_plans = False
    version_sql = ""
    connect: Callable[..., contextlib.AbstractContextManager[sa.Connection]]

    def __init__(self, admin: handles.Handle, url: URL) -> None:
        self.admin = admin
        self.url = url

    @contextmanager
    def _admin(self, doing: str, *extra_secrets: str) -> Iterator[sa.Connection]:
        try:
            with type(self).connect(self.url, doing, autocommit=True) as conn:
                yield conn
        except ProviderError as exc:
            raise ProviderError(redact(exc.message, (*self.admin.secrets.values(), *extra_secrets))) from None

    def server_version(self) -> str:
        with self._admin("tell its version") as conn:
            return str(conn.execute(sa.text(self.version_sql)).scalar_one())

    def database_url(self, database: str) -> URL:
        return self.url.set(database=database)


def engine_of(url: URL) -> str:
    """``postgresql``, ``mysql`` (MariaDB too) or ``sqlite``; :class:`ProviderError` for anything else."""
    from ..transfer.typemap import engine_of as family

    try:
        return family(url)
    except ValueError:
        raise ProviderError(f"Changeover cannot handle {url.get_backend_name()} databases.") from None


def describe(url: URL) -> DatabaseInfo:
    """Server version, size in bytes and tables with estimated row counts, from the catalog."""
    engine = engine_of(url)
    if engine == "postgresql":
        from . import postgres

        return postgres.describe(url)
    if engine == "mysql":
        from . import mysql

        return mysql.describe(url)
    from . import sqlite

    return sqlite.describe(url)


def check_empty(url: URL) -> None:
    """Raise :class:`TargetNotEmpty` naming what is in the database, if anything is."""
    engine = engine_of(url)
    if engine == "postgresql":
        from . import postgres

        found = postgres.contents(url)
    elif engine == "mysql":
        from . import mysql

        found = mysql.contents(url)
    else:
        from . import sqlite

        found = sqlite.contents(url)
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise TargetNotEmpty(
            f"The target database '{url.database}' is not empty (it holds {shown}); nothing was changed. "
            "Load into a new, empty database instead.",
        )
