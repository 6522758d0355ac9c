"""A bare API key: it names no server to ask, so it is "not checkable", never an error."""

from __future__ import annotations

from ..handles import Handle
from .base import CheckResult, not_checkable


def check(handle: Handle, timeout: float) -> CheckResult:
    return not_checkable("A bare API key names no server to ask; it is used as it is.")
