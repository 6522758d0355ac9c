"""PostgreSQL servers: databases and their roles made and dropped through an admin handle."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from .. import engines, handles
from . import base
from .base import ProviderError

logger = logging.getLogger(__name__)

_ident = engines.POSTGRESQL.quote


class PostgresProvider(base.ServerProvider):
    """Makes databases on a PostgreSQL server through an admin handle (a role with CREATEDB and CREATEROLE)."""

    engine = engines.POSTGRESQL
    kind: str = engine.name
    version_sql = "SHOW server_version"

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
            _check_password(password)
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
            self.kind, user, password, self.url.host, self.url.port, database, dict(self.url.query)
        )
        return handles.parse(url.render_as_string(hide_password=False), kind=self.kind)

    def set_password(self, user: str, password: str) -> None:
        _check_password(password)
        with self._admin(f"set a new password for '{user}'", password) as conn:
            # ALTER ROLE takes no parameters; the alphabet checked above is safe inside a literal.
            conn.execute(sa.text(f"ALTER ROLE {_ident(user)} PASSWORD '{password}'"))

    def open_login(self, user: str, password: str, *, owner: str, like: str) -> bool:
        """The owner logs in as itself; its alternate is a member of it whose sessions start as the owner
        (``SET role``), so every privilege it has and every object it creates stay the owner's."""
        _check_password(password)
        with self._admin(f"let '{user}' log in", password) as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :u"), {"u": user}).first()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sa.text(f"{verb} ROLE {_ident(user)} LOGIN PASSWORD '{password}'"))
            if user != owner:
                try:
                    conn.execute(sa.text(f"GRANT {_ident(owner)} TO {_ident(user)}"))
                    conn.execute(sa.text(f"ALTER ROLE {_ident(user)} SET role = {_literal(owner)}"))
                except BaseException:
                    if not exists:
                        conn.execute(sa.text(f"DROP ROLE IF EXISTS {_ident(user)}"))
                    raise
        return not exists

    def login_exists(self, user: str) -> bool:
        with self._admin(f"look for the role '{user}'") as conn:
            return conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :u"), {"u": user}).first() is not None

    def close_login(self, user: str) -> None:
        with self._admin(f"stop '{user}' logging in") as conn:
            conn.execute(sa.text(f"ALTER ROLE {_ident(user)} NOLOGIN PASSWORD NULL"))

    def drop_login(self, user: str) -> None:
        with self._admin(f"drop the role '{user}'") as conn:
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {_ident(user)}"))

    def deprovision(self, database: str, user: str | None) -> None:
        with self._admin(f"drop the database '{database}'") as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {_ident(database)}"))
            if user:
                conn.execute(sa.text(f"DROP ROLE IF EXISTS {_ident(user)}"))


def _check_password(password: str) -> None:
    """CREATE/ALTER ROLE take no parameters: only the generated alphabet [A-Za-z0-9_-] goes inside a literal."""
    if not password.replace("-", "").replace("_", "").isalnum():
        raise ProviderError("Refusing a generated password with unexpected characters.")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
