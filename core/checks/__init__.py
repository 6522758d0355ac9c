"""Health checks that speak each protocol (one module per family), and the use case over the inventory."""

from __future__ import annotations

from .base import TIMEOUT, CheckResult, CheckStatus

__all__ = ["TIMEOUT", "CheckResult", "CheckStatus"]
