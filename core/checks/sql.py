"""SQL databases: connect with the driver Changeover ships and ask ``SELECT 1`` (PostgreSQL, MariaDB/MySQL,
SQLite). A SQLite handle must name an existing file that is an SQLite database; the check opens it read-only."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import sqlalchemy as sa

from .. import engines, kinds
from ..engines.base import driver_message
from ..handles import Handle
from .base import CheckResult, failed, ok, timed, wrong_protocol

logger = logging.getLogger(__name__)

_SQLITE_MAGIC = b"SQLite format 3\x00"
_WRONG_PASSWORD = re.compile(r"password authentication failed|access denied|authentication failed", re.I)
_REFUSED = re.compile(r"connection refused|can't connect to .*\(111\)|errno 111", re.I)
_TIMEOUT = re.compile(r"timeout expired|timed out|errno 110", re.I)
_NO_DATABASE = re.compile(r'database "[^"]*" does not exist|unknown database', re.I)
_WRONG_PROTOCOL = re.compile(
    r"invalid response to ssl negotiation|expected authentication request|received invalid response"
    r"|server closed the connection unexpectedly|lost connection to mysql server|packet sequence"
    r"|malformed packet|unexpected response|bad handshake|invalid literal",
    re.I,
)


def check(handle: Handle, timeout: float) -> CheckResult:
    url = handle.sqlalchemy_url()
    with timed() as timer:
        if engines.of(url).file_based:
            problem = _sqlite_file_problem(url.database or "")
            if problem:
                return failed(timer, problem)
        at = f"{url.host}:{url.port or kinds.get(handle.kind).port_for(handle.scheme)}" if url.host else "the socket"
        try:
            engine = engines.of(url).probe(url, max(timeout, 1.0))
        except engines.ProviderError as exc:
            return failed(timer, exc.message, handle)
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
                version = connection.dialect.server_version_info
        except sa.exc.SQLAlchemyError as exc:
            return failed(timer, _reason(handle, at, driver_message(exc)), handle)
        except Exception as exc:  # a driver tripping over a server of another protocol
            logger.debug("%s check: %s", handle.kind, type(exc).__name__)
            return failed(timer, wrong_protocol(handle.kind, at, type(exc).__name__), handle)
        finally:
            engine.dispose()
        shown = ".".join(str(p) for p in version) if version else ""
        return ok(timer, f"Connected to {handle.kind} {shown}".strip() + "; SELECT 1 answered.")


def _sqlite_file_problem(path: str) -> str:
    file = Path(path)
    if not file.exists():
        return f"The SQLite file {path} does not exist."
    if not file.is_file():
        return f"{path} is not a file."
    try:
        with file.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        return f"The SQLite file {path} cannot be read ({exc.strerror})."
    if head and head != _SQLITE_MAGIC:
        return f"{path} is not an SQLite database (its first bytes are not an SQLite header)."
    return ""


def _reason(handle: Handle, at: str, text: str) -> str:
    if _WRONG_PASSWORD.search(text):
        return f"Wrong user name or password: the {handle.kind} server at {at} says: {text}"
    if _REFUSED.search(text):
        return f"Connection refused at {at}: nothing listens there. Is the server running on that port? ({text})"
    if _TIMEOUT.search(text):
        return f"Timed out waiting for {at}: the server did not answer in time. ({text})"
    if _NO_DATABASE.search(text):
        return f"The server at {at} has no such database: {text}"
    if _WRONG_PROTOCOL.search(text):
        return wrong_protocol(handle.kind, at, text)
    return f"The {handle.kind} server at {at} refused the connection: {text}"
