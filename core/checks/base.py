"""What every health check returns, and the shared words for what went wrong.

A check never raises for a sick resource: it returns a :class:`CheckResult` whose reason is the
server's own in plain words, redacted (:func:`changeover.core.redaction.redact`) so no secret gets out.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from .. import redaction
from ..handles import Handle

#: how long a check waits for a server unless told otherwise (seconds)
TIMEOUT = 5.0


class CheckStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    NOT_CHECKABLE = "not_checkable"


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: its status, how long it took, and why (the server's reason, redacted)."""

    status: CheckStatus
    latency_ms: float
    reason: str

    @property
    def ok(self) -> bool:
        return self.status is CheckStatus.OK


@dataclass(frozen=True)
class Address:
    host: str
    port: int | None
    username: str
    password: str
    path: str


def address(handle: Handle, default_port: int | None) -> Address:
    """Host, port, decoded credentials and path of a full non-database handle."""
    parts = urlsplit(handle.full())
    return Address(
        parts.hostname or "",
        parts.port or default_port,
        unquote(parts.username or ""),
        unquote(parts.password or ""),
        unquote(parts.path),
    )


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def ms(self) -> float:
        return round((time.perf_counter() - self.start) * 1000.0, 1)


@contextmanager
def timed() -> Iterator[Timer]:
    yield Timer()


def ok(timer: Timer, reason: str) -> CheckResult:
    return CheckResult(CheckStatus.OK, timer.ms, reason)


def failed(timer: Timer, reason: str, handle: Handle | None = None) -> CheckResult:
    secrets = handle.secrets.values() if handle is not None else ()
    return CheckResult(CheckStatus.FAILED, timer.ms, redaction.redact(reason, secrets))


def not_checkable(reason: str) -> CheckResult:
    return CheckResult(CheckStatus.NOT_CHECKABLE, 0.0, reason)


def where(host: str, port: int | None) -> str:
    return f"{host}:{port}" if port is not None else host


def network_reason(exc: BaseException, host: str, port: int | None) -> str | None:
    """Plain words for the network errors every protocol shares (refused, timeout, TLS, no such host)."""
    at = where(host, port)
    if isinstance(exc, ConnectionRefusedError):
        return f"Connection refused at {at}: nothing listens there. Is the server running on that port?"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"Timed out waiting for {at}: the server did not answer in time (a firewall, or a busy server)."
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS error at {at}: the server's certificate is not trusted ({exc.verify_message})."
    if isinstance(exc, ssl.SSLError):
        return f"TLS error at {at}: {exc.reason or exc}. Does that port speak TLS?"
    if isinstance(exc, socket.gaierror):
        return f"No such host '{host}': the name does not resolve."
    if isinstance(exc, ConnectionResetError):
        return (
            f"Wrong protocol on {at}: the server closed the connection at once (it speaks another protocol on "
            "that port, or turns this client away)."
        )
    return None


def wrong_protocol(kind: str, at: str, detail: str = "") -> str:
    tail = f" ({detail})" if detail else ""
    return f"Wrong protocol on {at}: the server there does not speak {kind}{tail}. Is this the right port?"


def cause_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during, innermost last."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
