"""Health checks and "Test connection" (:func:`check_connection`): can this machine reach a resource?

Plain Python for a worker thread (the window's or the CLI's), over :mod:`.checks`: each kind is asked
over its own protocol (SQL ``SELECT 1``, Redis AUTH + PING, SMTP EHLO...). A result never contains the
handle, which may hold a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from . import checks, handles
from .context import Context

logger = logging.getLogger(__name__)

TIMEOUT = checks.TIMEOUT


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


def check_connection(handle_text: str, timeout: float = TIMEOUT) -> ConnectionResult:
    """Try the resource behind a full handle with its own protocol (:mod:`.checks`); never raises."""
    try:
        handle = handles.parse(handle_text)
    except handles.HandleError as exc:
        return ConnectionResult(False, exc.message)
    result = checks.check(handle, timeout)
    return ConnectionResult(result.ok, result.reason or f"{handle.kind} answered in {result.latency_ms:.0f} ms.")


def check_health(ctx: Context, resources: Iterable[str], timeout: float = TIMEOUT) -> dict[str, HealthResult]:
    """Check each resource by name with its protocol and keep the results (:func:`.checks.check_resources`)."""
    found: dict[str, HealthResult] = {}
    for item in checks.check_resources(ctx, list(resources), timeout=timeout):
        health = {"ok": Health.OK, "failed": Health.UNREACHABLE}.get(str(item.status), Health.UNKNOWN)
        found[item.resource] = HealthResult(item.resource, health, item.reason or "answered")
    logger.info("health of %d resources checked", len(found))
    return found
