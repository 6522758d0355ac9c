"""MariaDB/MySQL servers: databases and their users made and dropped through an admin handle."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from .. import engines, handles
from ..engines.mysql import SYSTEM_SCHEMAS
from . import base
from .base import ProviderError

logger = logging.getLogger(__name__)

_ident = engines.MYSQL.quote


class MySQLProvider(base.ServerProvider):
    """Makes databases on a MariaDB/MySQL server through an admin handle (CREATE, CREATE USER, GRANT OPTION)."""

    engine = engines.MYSQL
    kind: str = engine.name
    version_sql = "SELECT VERSION()"

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
            self.kind, user, password, self.url.host, self.url.port, database, dict(self.url.query)
        )
        return handles.parse(url.render_as_string(hide_password=False), kind=self.kind)

    def set_password(self, user: str, password: str) -> None:
        with self._admin(f"set a new password for '{user}'", password) as conn:
            conn.execute(sa.text("ALTER USER :u@'%' IDENTIFIED BY :p"), {"u": user, "p": password})

    def deprovision(self, database: str, user: str | None) -> None:
        with self._admin(f"drop the database '{database}'") as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {_ident(database)}"))
            if user:
                conn.execute(sa.text("DROP USER IF EXISTS :u@'%'"), {"u": user})
