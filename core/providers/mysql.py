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
        """An account of ``user`` for each host of ``like``, with exactly its grants; the hosts created go in
        ``made``. An existing account keeps its grants while it is brought in line (views it defines keep
        working): what ``like`` has is granted first, then what ``like`` lacks is revoked."""
        for host in hosts:
            account = {"u": user, "h": host, "p": password}
            existed = conn.execute(sa.text("SELECT 1 FROM mysql.user WHERE user = :u AND host = :h"), account).first()
            if existed:
                conn.execute(sa.text("ALTER USER :u@:h IDENTIFIED BY :p ACCOUNT UNLOCK"), account)
            else:
                conn.execute(sa.text("CREATE USER :u@:h IDENTIFIED BY :p"), account)
                made.append(host)
            source = f"{_ident(like)}@{_ident(host)}"
            target = f"{_ident(user)}@{_ident(host)}"
            wanted = [_renamed(g, source, target, like) for g in _grants(conn, like, host)]
            for statement in wanted:
                _execute(conn, statement)
            extra = [g for g in _grants(conn, user, host) if g not in wanted] if existed else []
            for statement in extra:
                revoke = _revoke_of(statement)
                if revoke is None:
                    logger.warning("left a grant of %s that %s lacks: it cannot be turned into a REVOKE", user, like)
                    continue
                _execute(conn, revoke)
            if extra:
                for statement in wanted:  # a revoke of a line takes all of it: what was wanted comes back
                    _execute(conn, statement)

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


def _grants(conn: sa.Connection, user: str, host: str) -> list[str]:
    """The account's grants as SHOW GRANTS writes them, without its password hash."""
    rows = conn.execute(sa.text("SHOW GRANTS FOR :u@:h"), {"u": user, "h": host}).scalars().all()
    return [_IDENTIFIED.sub("", str(row)) for row in rows]


def _renamed(statement: str, source: str, target: str, like: str) -> str:
    if source not in statement:
        raise ProviderError(f"Cannot copy a grant of '{like}' that names no account of it.")
    return statement.replace(f"TO {source}", f"TO {target}").replace(f"FOR {source}", f"FOR {target}")


def _execute(conn: sa.Connection, statement: str) -> None:
    conn.exec_driver_sql(statement.replace("%", "%%"))  # the driver formats even without values


_GRANT = re.compile(r"GRANT (?P<what>.+?) ON (?P<on>.+?) TO (?P<who>`[^`]*`@`[^`]*`)(?P<rest>.*)", re.S)
_ROLE = re.compile(r"GRANT (?P<role>`[^`]*`) TO (?P<who>`[^`]*`@`[^`]*`)( WITH ADMIN OPTION)?", re.S)


def _revoke_of(statement: str) -> str | None:
    """The REVOKE that takes back one SHOW GRANTS line (None: nothing to take back, or not understood)."""
    if statement.startswith(("SET DEFAULT ROLE", "GRANT USAGE ON *.*")):
        return None
    role = _ROLE.fullmatch(statement)
    if role:
        return f"REVOKE {role['role']} FROM {role['who']}"
    grant = _GRANT.fullmatch(statement)
    if grant is None:
        return None
    what = grant["what"] + (", GRANT OPTION" if "WITH GRANT OPTION" in grant["rest"] else "")
    return f"REVOKE {what} ON {grant['on']} FROM {grant['who']}"
