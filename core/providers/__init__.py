"""Servers Changeover provisions on: PostgreSQL, MariaDB/MySQL, a SQLite folder, AWS RDS, S3 buckets."""

from __future__ import annotations

from pathlib import Path

from .. import engines, handles
from .base import Provider, ProviderError
from .mysql import MySQLProvider
from .postgres import PostgresProvider
from .rds import RDSProvider
from .s3 import S3Provider
from .sqlite import SQLiteFolderProvider

__all__ = ["SERVER_ENGINES", "Provider", "ProviderError", "S3Provider", "for_server"]

#: the provider of a server reached by an admin handle, by the engine it runs
_BY_ENGINE: dict[engines.Engine, type[PostgresProvider] | type[MySQLProvider]] = {
    engines.POSTGRESQL: PostgresProvider,
    engines.MYSQL: MySQLProvider,
}


#: the engines whose servers are reached by an admin handle (a SQLite "server" is a folder)
SERVER_ENGINES: tuple[str, ...] = tuple(e.name for e in _BY_ENGINE)


def for_server(where: handles.Handle | Path) -> Provider:
    """The provider of a server: an admin handle (PostgreSQL, MariaDB/MySQL) or a folder of SQLite files."""
    if isinstance(where, Path):
        return SQLiteFolderProvider(where)
    if where.kind == S3Provider.kind:
        return S3Provider.at(where)
    if where.kind == RDSProvider.kind:
        return RDSProvider.at(where.public)
    provider = _BY_ENGINE.get(engines.of(where.kind))
    if provider is None:
        raise ProviderError(f"A {where.kind} handle is not a database server Changeover provisions on.")
    return provider(where)
