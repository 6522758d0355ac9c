"""What a provider is: who makes databases on a server, drops them, and lists who is connected.

A :class:`Provider` works on one registered server (a PostgreSQL or MariaDB/MySQL server reached by an
admin handle, a folder of SQLite files, or an AWS account and region where each database is a whole RDS
instance: an :class:`InstanceProvider`). What differs between
engines (driver, quoting, catalog reads) is asked of the engine (:mod:`changeover.core.engines`); describing
a database and checking it is empty are engine work too (``engines.describe``, ``engines.check_empty``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.engine import URL

from .. import engines, handles
from ..engines import ProviderError
from ..hooks import redact
from ..jobs import Progress

__all__ = [
    "Connection",
    "InstanceOptions",
    "InstanceProvider",
    "Provider",
    "ProviderError",
    "SecondLogins",
    "ServerProvider",
]


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


@runtime_checkable
class SecondLogins(Protocol):
    """A server where a rotation can open a second login beside the one in use (two phases, no downtime).

    The logins alternate between two users of one pair: ``owner`` (the original user, who keeps owning
    the objects) and its alternate. Every method raises :class:`ProviderError` on failure.
    """

    def open_login(self, user: str, password: str, *, owner: str, like: str) -> bool:
        """Let ``user`` log in with ``password`` with every privilege ``like`` (the user in use) has now.

        Creates ``user`` if it does not exist (returns True), else gives it the password and lets it log in
        again (False). ``like`` keeps working until :meth:`close_login`.
        """
        ...

    def login_exists(self, user: str) -> bool:
        """Whether the server has a user (role, account) named ``user``."""
        ...

    def close_login(self, user: str) -> None:
        """``user`` can no longer log in; its objects, grants and memberships stay (the revoke)."""
        ...

    def drop_login(self, user: str) -> None:
        """Drop ``user`` (a login opened by a rotation that was undone); already gone is not an error."""
        ...


@dataclass(frozen=True)
class InstanceOptions:
    """What is chosen per database where each database is its own instance (AWS RDS)."""

    engine: str  # postgres | mysql | mariadb
    version: str | None = None
    storage_gb: int | None = None
    public: bool = False


@runtime_checkable
class InstanceProvider(Provider, Protocol):
    """A provider whose every database is a whole managed instance (AWS RDS): the engine, storage and
    exposure are chosen per database, making one is long work with progress and cancel, and dropping one
    takes the provider's own final snapshot instead of Changeover's backup."""

    def provision_instance(
        self,
        database: str,
        password: str,
        *,
        plan: str | None,
        options: InstanceOptions,
        resource: str,
        progress: Progress,
        cancel: threading.Event | None,
    ) -> handles.Handle:
        """Create the instance and its database, wait until it is available; the full handle."""
        ...

    def drop_instance(
        self, database: str, *, final_snapshot: str | None, progress: Progress, resource: str | None = None
    ) -> tuple[str | None, list[str]]:
        """Delete ``resource``'s instance (lifting its deletion protection), after ``final_snapshot`` unless None;
        the snapshot really taken (None when declined or the instance was already gone) and what was done,
        in words."""
        ...


class ServerProvider:
    """What the PostgreSQL and MariaDB/MySQL providers share: an admin connection and its error handling."""

    engine: ClassVar[engines.Engine]
    kind = ""
    has_plans = False
    version_sql = ""

    def __init__(self, admin: handles.Handle, url: URL) -> None:
        self.admin = admin
        self.url = url

    @contextmanager
    def _admin(self, doing: str, *extra_secrets: str) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect(self.url, doing, autocommit=True) as conn:
                yield conn
        except ProviderError as exc:
            raise ProviderError(redact(exc.message, (*self.admin.secrets.values(), *extra_secrets))) from None

    def server_version(self) -> str:
        with self._admin("tell its version") as conn:
            return str(conn.execute(sa.text(self.version_sql)).scalar_one())

    def database_url(self, database: str) -> URL:
        return self.url.set(database=database)

    def open_connections(self, database: str) -> list[Connection]:
        with self._admin(f"list the sessions on '{database}'") as conn:
            others = self.engine.other_sessions(conn, database)
        return [Connection(s.user, s.client, s.application) for s in others]
