"""PostgreSQL servers: provisioning, description and emptiness checks through the catalog."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import URL

from .. import handles
from . import base
from .base import Connection, DatabaseInfo, ProviderError, TableInfo

logger = logging.getLogger(__name__)

DRIVER = "postgresql+psycopg"


def _driver(url: URL) -> URL:
    return url.set(drivername=DRIVER)


@contextmanager
def connect(url: URL, doing: str, *, autocommit: bool = False) -> Iterator[sa.Connection]:
    args: dict[str, object] = {"connect_timeout": 15, "application_name": "changeover"}
    with base.connect(_driver(url), "PostgreSQL", doing, autocommit=autocommit, connect_args=args) as conn:
        yield conn


def describe(url: URL) -> DatabaseInfo:
    with connect(url, f"describe the database '{url.database}'") as conn:
        version = str(conn.execute(sa.text("SHOW server_version")).scalar_one())
        size = int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())
        rows = conn.execute(
            sa.text(
                """
                SELECT n.nspname, c.relname,
                       GREATEST(c.reltuples, 0)::bigint, pg_total_relation_size(c.oid),
                       c.relpages
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname NOT LIKE 'pg\\_%'
                ORDER BY 1, 2
                """
            )
        ).all()
    tables = tuple(
        TableInfo(name if schema == "public" else f"{schema}.{name}", int(est), int(size_bytes))
        for schema, name, est, size_bytes, _pages in rows
    )
    return DatabaseInfo("postgresql", version, size, tables)


def contents(url: URL) -> list[str]:
    """What the database holds in user schemas: relations, routines, types; empty when nothing."""
    with connect(url, f"look into the database '{url.database}'") as conn:
        found = conn.execute(
            sa.text(
                """
                SELECT kind || ' ' || name FROM (
                  SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'view' WHEN 'S' THEN 'sequence'
                         ELSE 'table' END AS kind, n.nspname || '.' || c.relname AS name
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
                  UNION ALL
                  SELECT 'routine', n.nspname || '.' || p.proname
                  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
                    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
                ) AS things ORDER BY 1
                """
            )
        ).all()
    return [str(row[0]) for row in found]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresProvider(base.ServerProvider):
    """Makes databases on a PostgreSQL server through an admin handle (a role with CREATEDB and CREATEROLE)."""

    kind = "postgresql"
    version_sql = "SHOW server_version"
    connect = staticmethod(connect)

    def __init__(self, admin: handles.Handle) -> None:
        url = admin.sqlalchemy_url()
        super().__init__(admin, url if url.database else url.set(database="postgres"))

    def provision(self, database: str, user: str, password: str, *, plan: str | None = None) -> handles.Handle:
        with self._admin(f"create the database '{database}'", password) as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}).first()
            if exists:
                raise ProviderError(f"A database named '{database}' already exists on the server: choose another name.")
            role = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :u"), {"u": user}).first()
            if role:
                raise ProviderError(f"A role named '{user}' already exists on the server: choose another name.")
            # The password alphabet is [A-Za-z0-9_-]: safe inside a literal; CREATE ROLE takes no parameters.
            if not password.replace("-", "").replace("_", "").isalnum():
                raise ProviderError("Refusing a generated password with unexpected characters.")
            conn.execute(sa.text(f"CREATE ROLE {_ident(user)} LOGIN PASSWORD '{password}'"))
            try:
                conn.execute(sa.text(f"GRANT {_ident(user)} TO CURRENT_USER"))
            except sa.exc.DBAPIError:
                logger.debug("GRANT role to the admin failed (a superuser needs none)")
            try:
                conn.execute(sa.text(f"CREATE DATABASE {_ident(database)} OWNER {_ident(user)} ENCODING 'UTF8'"))
            except BaseException:
                conn.execute(sa.text(f"DROP ROLE IF EXISTS {_ident(user)}"))
                raise
            conn.execute(sa.text(f"REVOKE ALL ON DATABASE {_ident(database)} FROM PUBLIC"))
        url = sa.engine.URL.create(
            "postgresql", user, password, self.url.host, self.url.port, database, dict(self.url.query)
        )
        return handles.parse(url.render_as_string(hide_password=False), kind="postgresql")

    def open_connections(self, database: str) -> list[Connection]:
        with self._admin(f"list the sessions on '{database}'") as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT coalesce(usename, ''), coalesce(host(client_addr), ''), coalesce(application_name, '') "
                    "FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": database},
            ).all()
        return [Connection(str(u), str(c), str(a)) for u, c, a in rows]

    def set_password(self, user: str, password: str) -> None:
        if not password.replace("-", "").replace("_", "").isalnum():
            raise ProviderError("Refusing a generated password with unexpected characters.")
        with self._admin(f"set a new password for '{user}'", password) as conn:
            # ALTER ROLE takes no parameters; the alphabet checked above is safe inside a literal.
            conn.execute(sa.text(f"ALTER ROLE {_ident(user)} PASSWORD '{password}'"))

    def deprovision(self, database: str, user: str | None) -> None:
        with self._admin(f"drop the database '{database}'") as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {_ident(database)}"))
            if user:
                conn.execute(sa.text(f"DROP ROLE IF EXISTS {_ident(user)}"))
