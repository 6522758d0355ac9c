"""MariaDB/MySQL servers: databases and their users made and dropped through an admin handle."""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa

from .. import engines, handles
from ..engines.mysql import SYSTEM_SCHEMAS
from . import base
from .base import ProviderError

logger = logging.getLogger(__name__)

_ident = engines.MYSQL.quote
#: what SHOW GRANTS says of the account's password hash (never copied: the new user has its own)
_IDENTIFIED = re.compile(r" IDENTIFIED (?:BY PASSWORD '[^']*'|VIA (?:[^']|'[^']*')*?)(?= REQUIRE | WITH |$)")


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

    def open_login(self, user: str, password: str, *, owner: str, like: str) -> bool:
        """MariaDB 10.11 keeps one password per account: ``user`` gets the grants of ``like``, account by
        account (the same hosts), copied afresh at every rotation. ``owner`` is not used: the accounts of
        the pair are only locked, never dropped, so views and routines they define keep their DEFINER."""
        with self._admin(f"let '{user}' log in", password) as conn:
            hosts = _hosts(conn, like)
            if not hosts:
                raise ProviderError(f"The user '{like}' does not exist on the server (was it dropped?).")
            made: list[str] = []
            try:
                self._copy_accounts(conn, user, password, like, hosts, made)
            except BaseException:
                for host in made:
                    conn.execute(sa.text("DROP USER IF EXISTS :u@:h"), {"u": user, "h": host})
                raise
        return bool(made)

    @staticmethod
    def _copy_accounts(
        conn: sa.Connection, user: str, password: str, like: str, hosts: list[str], made: list[str]
    ) -> None:
        """An account of ``user`` for each host of ``like``, with its grants; the hosts created go in ``made``."""
        for host in hosts:
            account = {"u": user, "h": host, "p": password}
            if conn.execute(sa.text("SELECT 1 FROM mysql.user WHERE user = :u AND host = :h"), account).first():
                conn.execute(sa.text("ALTER USER :u@:h IDENTIFIED BY :p ACCOUNT UNLOCK"), account)
                conn.execute(sa.text("REVOKE ALL PRIVILEGES, GRANT OPTION FROM :u@:h"), account)
            else:
                conn.execute(sa.text("CREATE USER :u@:h IDENTIFIED BY :p"), account)
                made.append(host)
            source = f"{_ident(like)}@{_ident(host)}"
            target = f"{_ident(user)}@{_ident(host)}"
            grants = conn.execute(sa.text("SHOW GRANTS FOR :u@:h"), {"u": like, "h": host}).scalars().all()
            for grant in grants:
                statement = _IDENTIFIED.sub("", str(grant))
                if source not in statement:
                    raise ProviderError(f"Cannot copy a grant of '{like}' that names no account of it.")
                statement = statement.replace(f"TO {source}", f"TO {target}")
                statement = statement.replace(f"FOR {source}", f"FOR {target}")
                conn.exec_driver_sql(statement.replace("%", "%%"))  # the driver formats even without values

    def login_exists(self, user: str) -> bool:
        with self._admin(f"look for the user '{user}'") as conn:
            return bool(_hosts(conn, user))

    def close_login(self, user: str) -> None:
        with self._admin(f"lock '{user}'") as conn:
            for host in _hosts(conn, user):
                conn.execute(sa.text("ALTER USER :u@:h ACCOUNT LOCK"), {"u": user, "h": host})

    def drop_login(self, user: str) -> None:
        with self._admin(f"drop the user '{user}'") as conn:
            for host in _hosts(conn, user):
                conn.execute(sa.text("DROP USER IF EXISTS :u@:h"), {"u": user, "h": host})

    def deprovision(self, database: str, user: str | None) -> None:
        with self._admin(f"drop the database '{database}'") as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {_ident(database)}"))
            if user:
                conn.execute(sa.text("DROP USER IF EXISTS :u@'%'"), {"u": user})


def _hosts(conn: sa.Connection, user: str) -> list[str]:
    """The hosts of every account named ``user`` (a user may have one for localhost and one for '%')."""
    rows = conn.execute(sa.text("SELECT host FROM mysql.user WHERE user = :u ORDER BY host"), {"u": user})
    return [str(h) for h in rows.scalars()]
