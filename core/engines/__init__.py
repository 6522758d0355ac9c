"""One object per database engine Changeover handles: PostgreSQL, MariaDB/MySQL and SQLite.

``engines.of(url_or_connection_or_kind)`` gives the :class:`Engine`; ask it (driver, quoting, session
settings, catalog reads, sequences, checksum expressions, what a copy leaves behind) instead of comparing
engine names. See :mod:`.base` for what every engine answers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from .base import (
    FAR_FUTURE,
    FAR_PAST,
    DatabaseInfo,
    Engine,
    EngineName,
    OtherSession,
    ProviderError,
    SequenceState,
    TableInfo,
    TargetNotEmpty,
    display_url,
    driver_message,
    split_key,
    table_key,
    url_secrets,
)
from .mysql import MySQL
from .postgresql import PostgreSQL
from .sqlite import SQLite

__all__ = [
    "ALL",
    "FAR_FUTURE",
    "FAR_PAST",
    "MYSQL",
    "POSTGRESQL",
    "SQLITE",
    "DatabaseInfo",
    "Engine",
    "EngineName",
    "OtherSession",
    "ProviderError",
    "SequenceState",
    "TableInfo",
    "TargetNotEmpty",
    "UnsupportedEngine",
    "check_empty",
    "describe",
    "display_url",
    "driver_message",
    "of",
    "open_engine",
    "split_key",
    "table_key",
    "url_secrets",
]

POSTGRESQL = PostgreSQL()
MYSQL = MySQL()
SQLITE = SQLite()
ALL: tuple[Engine, ...] = (POSTGRESQL, MYSQL, SQLITE)
#: the database kinds Changeover handles, as resource kinds name them
NAMES: tuple[EngineName, ...] = tuple(e.name for e in ALL)
#: the driver Changeover ships per engine (the one table)
DRIVERS: dict[EngineName, str] = {e.name: e.driver for e in ALL}
_BY_BACKEND = {backend: e for e in ALL for backend in e.backends}


class UnsupportedEngine(ProviderError, ValueError):
    """A URL or connection of an engine Changeover does not handle."""

    title = "Unsupported database engine"


def of(what: Engine | URL | sa.Connection | sa.Engine | str) -> Engine:
    """The engine of a URL (or its text), a connection, a SQLAlchemy engine, or a kind (``postgresql``,
    ``mysql``, ``mariadb``, ``sqlite``...); :class:`UnsupportedEngine` for anything else."""
    if isinstance(what, Engine):
        return what
    if isinstance(what, sa.Connection | sa.Engine):
        name = what.dialect.name
    elif isinstance(what, str) and what in _BY_BACKEND:
        name = what
    else:
        try:
            name = sa.engine.make_url(what).get_backend_name()
        except sa.exc.ArgumentError:
            name = str(what)
    found = _BY_BACKEND.get(name)
    if found is None:
        raise UnsupportedEngine(
            f"Changeover cannot handle {name} databases: it handles PostgreSQL, MariaDB/MySQL and SQLite."
        )
    return found


def open_engine(url: URL | str, **kw: Any) -> sa.Engine:
    """A SQLAlchemy engine on ``url`` with the session settings transfer work relies on (``Engine.open``)."""
    return of(url).open(url, **kw)


def describe(url: URL) -> DatabaseInfo:
    """Server version, size in bytes and tables with estimated row counts, from the catalog."""
    return of(url).describe(url)


def check_empty(url: URL) -> None:
    """Raise :class:`TargetNotEmpty` naming what is in the database, if anything is."""
    found = of(url).contents(url)
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise TargetNotEmpty(
            f"The target database '{url.database}' is not empty (it holds {shown}); nothing was changed. "
            "Load into a new, empty database instead.",
        )
