"""MariaDB/MySQL servers: provisioning, description and emptiness checks through information_schema."""

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

DRIVER = "mysql+pymysql"
SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})


@contextmanager
def connect(url: URL, doing: str, *, autocommit: bool = False) -> Iterator[sa.Connection]:
    args: dict[str, object] = {"connect_timeout": 15, "charset": "utf8mb4"}
    with base.connect(
        url.set(drivername=DRIVER), "MariaDB/MySQL", doing, autocommit=autocommit, connect_args=args
    ) as conn:
        yield conn


def describe(url: URL) -> DatabaseInfo:
    with connect(url, f"describe the database '{url.database}'") as conn:
        version = str(conn.execute(sa.text("SELECT VERSION()")).scalar_one())
        rows = conn.execute(
            sa.text(
                "SELECT table_name, coalesce(table_rows, 0), coalesce(data_length, 0) + coalesce(index_length, 0) "
                "FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' "
                "ORDER BY table_name"
            )
        ).all()
    tables = tuple(TableInfo(str(name), int(est), int(size)) for name, est, size in rows)
    return DatabaseInfo("mysql", version, sum(t.size_bytes for t in tables), tables)


def contents(url: URL) -> list[str]:
    with connect(url, f"look into the database '{url.database}'") as conn:
        found = conn.execute(
            sa.text(
                """
                SELECT CONCAT(CASE table_type WHEN 'VIEW' THEN 'view ' ELSE 'table ' END, table_name)
                  FROM information_schema.tables WHERE table_schema = DATABASE()
                UNION ALL SELECT CONCAT('routine ', routine_name)
                  FROM information_schema.routines WHERE routine_schema = DATABASE()
                UNION ALL SELECT CONCAT('event ', event_name)
                  FROM information_schema.events WHERE event_schema = DATABASE()
                """
            )
        ).all()
    return sorted(str(row[0]) for row in found)


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class MySQLProvider(base.ServerProvider):
    """Makes databases on a MariaDB/MySQL server through an admin handle (CREATE, CREATE USER, GRANT OPTION)."""

    kind = "mysql"
    version_sql = "SELECT VERSION()"
    connect = staticmethod(connect)

    def __init__(self, admin: handles.Handle) -> None:
        super().__init__(admin, admin.sqlalchemy_url())

    def provision(self, database: str, user: str, password: str, *, plan: str | None = None) -> handles.Handle:
        if database in SYSTEM_SCHEMAS:
            raise ProviderError(f"'{database}' is a system schema name: choose another name.")
        with self._admin(f"create the database '{database}'", password) as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :d"), {"d": database}
            ).first()
            if exists:
                raise ProviderError(f"A database named '{database}' already exists on the server: choose another name.")
            taken = conn.execute(sa.text("SELECT 1 FROM mysql.user WHERE user = :u"), {"u": user}).first()
            if taken:
                raise ProviderError(f"A user named '{user}' already exists on the server: choose another name.")
            conn.execute(
                sa.text(f"CREATE DATABASE {_ident(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            )
            try:
                conn.execute(sa.text("CREATE USER :u@'%' IDENTIFIED BY :p"), {"u": user, "p": password})
                conn.execute(sa.text(f"GRANT ALL PRIVILEGES ON {_ident(database)}.* TO :u@'%'"), {"u": user})
            except BaseException:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {_ident(database)}"))
                conn.execute(sa.text("DROP USER IF EXISTS :u@'%'"), {"u": user})
                raise
        url = sa.engine.URL.create(
            "mysql", user, password, self.url.host, self.url.port, database, dict(self.url.query)
        )
        return handles.parse(url.render_as_string(hide_password=False), kind="mysql")

    def open_connections(self, database: str) -> list[Connection]:
        with self._admin(f"list the sessions on '{database}'") as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT user, host, coalesce(command, '') FROM information_schema.processlist "
                    "WHERE db = :d AND id <> CONNECTION_ID()"
                ),
                {"d": database},
            ).all()
        return [Connection(str(u), str(h).rsplit(":", 1)[0], "") for u, h, _c in rows]

    def set_password(self, user: str, password: str) -> None:
        with self._admin(f"set a new password for '{user}'", password) as conn:
            conn.execute(sa.text("ALTER USER :u@'%' IDENTIFIED BY :p"), {"u": user, "p": password})

    def deprovision(self, database: str, user: str | None) -> None:
        with self._admin(f"drop the database '{database}'") as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {_ident(database)}"))
            if user:
                conn.execute(sa.text("DROP USER IF EXISTS :u@'%'"), {"u": user})
