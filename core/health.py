"""Health checks and "Test connection" (:func:`check_connection`): can this machine reach a resource?

Plain Python for a worker thread (the window's or the CLI's). Databases are opened with SQLAlchemy (the
drivers Changeover ships) and asked ``SELECT 1``; every other kind gets a TCP connect to its host and
port. A result never contains the handle, which may hold a secret.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

import sqlalchemy as sa

from . import engines, handles
from .errors import ChangeoverError

logger = logging.getLogger(__name__)

TIMEOUT = 5.0

DEFAULT_PORTS = {
    "redis": 6379,
    "memcached": 11211,
    "amqp": 5672,
    "beanstalk": 11300,
    "smtp": 25,
    "couchdb": 5984,
}


@dataclass(frozen=True)
class ConnectionResult:
    """Whether a connection was made, and a sentence saying to what (or why not)."""

    ok: bool
    message: str


class Health(StrEnum):
    OK = "ok"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"  # the handle could not be read (e.g. the keyring is locked)


@dataclass(frozen=True)
class HealthResult:
    resource: str
    health: Health
    message: str

    @property
    def text(self) -> str:
        """One line for a table cell: ``ok: Connected to postgresql 15.4.``"""
        return f"{self.health}: {self.message}"


class HandleSource(Protocol):
    """What a health check needs from the workspace: a resource's full handle, secrets included."""

    def full_handle(self, name: str) -> str: ...


def check_connection(handle_text: str, timeout: float = TIMEOUT) -> ConnectionResult:
    """Try to reach the resource behind a full handle; never raises for an unreachable resource."""
    try:
        handle = handles.parse(handle_text)
    except handles.HandleError as exc:
        return ConnectionResult(False, exc.message)
    if handle.kind == handles.APIKEY:
        return ConnectionResult(False, "An API key has no address to connect to.")
    if handle.is_database:
        return _connect_database(handle, timeout)
    return _connect_tcp(handle, timeout)


def check_health(
    workspace: HandleSource, resources: Iterable[str], timeout: float = TIMEOUT
) -> dict[str, HealthResult]:
    """Test the connection to each resource by name; a handle that cannot be read is ``unknown``."""
    found: dict[str, HealthResult] = {}
    for name in resources:
        try:
            handle_text = workspace.full_handle(name)
        except ChangeoverError as exc:
            found[name] = HealthResult(name, Health.UNKNOWN, exc.message)
            continue
        result = check_connection(handle_text, timeout)
        found[name] = HealthResult(name, Health.OK if result.ok else Health.UNREACHABLE, result.message)
    logger.info("health of %d resources checked", len(found))
    return found


def _connect_database(handle: handles.Handle, timeout: float) -> ConnectionResult:
    url = handle.sqlalchemy_url()
    try:
        engine = engines.of(url).probe(url, timeout)
    except engines.ProviderError as exc:
        return ConnectionResult(False, exc.message)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            version = connection.dialect.server_version_info
    except sa.exc.SQLAlchemyError as exc:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        return ConnectionResult(False, f"Could not connect to the {handle.kind} database ({reason}).")
    finally:
        engine.dispose()
    shown = ".".join(str(p) for p in version) if version else ""
    return ConnectionResult(True, f"Connected to {handle.kind} {shown}".strip() + ".")


def _connect_tcp(handle: handles.Handle, timeout: float) -> ConnectionResult:
    parts = urlsplit(handle.public)
    host = parts.hostname or ""
    port = parts.port or DEFAULT_PORTS.get(handle.kind)
    if handle.kind in {"http", "s3"} and port is None:
        port = 80 if parts.scheme == "http" else 443
    if handle.kind == "smtp" and parts.scheme == "smtps" and parts.port is None:
        port = 465
    if handle.kind == "amqp" and parts.scheme == "amqps" and parts.port is None:
        port = 5671
    if port is None:
        return ConnectionResult(False, "The handle names no port to connect to.")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        return ConnectionResult(False, f"Could not reach {host}:{port} ({type(exc).__name__}).")
    return ConnectionResult(True, f"Reached {host}:{port}.")
