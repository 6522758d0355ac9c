"""Test connection: can this machine reach a resource? Plain Python, run on a worker thread.

Databases are opened with SQLAlchemy (the drivers Changeover ships) and asked ``SELECT 1``; every other
kind gets a TCP connect to its host and port. The result never contains the handle, which may hold a
secret.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

from changeover.core import handles

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
class ProbeResult:
    ok: bool
    message: str


def probe(handle_text: str, timeout: float = TIMEOUT) -> ProbeResult:
    """Try to reach the resource behind a full handle; never raises for an unreachable resource."""
    try:
        handle = handles.parse(handle_text)
    except handles.HandleError as exc:
        return ProbeResult(False, exc.message)
    if handle.kind == handles.APIKEY:
        return ProbeResult(False, "An API key has no address to connect to.")
    if handle.is_database:
        return _probe_database(handle, timeout)
    return _probe_tcp(handle, timeout)


def _probe_database(handle: handles.Handle, timeout: float) -> ProbeResult:
    url = handle.sqlalchemy_url()
    if handle.kind == "sqlite":
        if not url.database or not Path(url.database).exists():
            return ProbeResult(False, "The SQLite file does not exist.")
        # Read-only, so a probe never creates or changes the file.
        url = url.set(query={"mode": "ro", "uri": "true"}, database=f"file:{url.database}")
        engine = sa.create_engine(url, connect_args={"timeout": timeout}, poolclass=sa.pool.NullPool)
    else:
        engine = sa.create_engine(url, connect_args={"connect_timeout": int(timeout)}, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            version = connection.dialect.server_version_info
    except sa.exc.SQLAlchemyError as exc:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        return ProbeResult(False, f"Could not connect to the {handle.kind} database ({reason}).")
    finally:
        engine.dispose()
    shown = ".".join(str(p) for p in version) if version else ""
    return ProbeResult(True, f"Connected to {handle.kind} {shown}".strip() + ".")


def _probe_tcp(handle: handles.Handle, timeout: float) -> ProbeResult:
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
        return ProbeResult(False, "The handle names no port to connect to.")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        return ProbeResult(False, f"Could not reach {host}:{port} ({type(exc).__name__}).")
    return ProbeResult(True, f"Reached {host}:{port}.")
