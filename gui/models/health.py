"""How a kept health result reads in a cell (short, with its time) and in its tooltip (the whole reason)."""

from __future__ import annotations

import logging
from datetime import datetime

from changeover.core.checks import CheckStatus, ResourceCheck

from .base import when

logger = logging.getLogger(__name__)

#: the widest the health column gets when columns are fitted: a long reason is elided, never widening it
HEALTH_COLUMN_WIDTH = 260

NOT_CHECKED = "not checked"
NOT_CHECKED_TIP = "Not checked yet: Resource ▸ Check health (Ctrl+H) checks the selected resources now"

_WORDS = {CheckStatus.OK: "✔ ok", CheckStatus.FAILED: "✘ failed", CheckStatus.NOT_CHECKABLE: "– not checkable"}


def checked_time(at: datetime, now: datetime | None = None) -> str:
    """When a check ran: the time alone today, else the date and time (local)."""
    local = at.astimezone()
    today = (now or datetime.now(local.tzinfo)).astimezone().date()
    return local.strftime("%H:%M") if local.date() == today else when(at)


def health_text(check: ResourceCheck | None, now: datetime | None = None) -> str:
    """The cell: outcome, latency and time, then the reason (the view elides what does not fit)."""
    if check is None:
        return NOT_CHECKED
    head = _WORDS[check.status]
    if check.status is not CheckStatus.NOT_CHECKABLE:
        head += f" {check.latency_ms:.0f} ms"
    head += f" at {checked_time(check.checked_at, now)}"
    return f"{head}: {check.reason}" if check.reason and not check.ok else head


def health_tip(check: ResourceCheck | None) -> str:
    """The tooltip and detail line: everything the kept result says, the reason in full."""
    if check is None:
        return NOT_CHECKED_TIP
    words = _WORDS[check.status].split(" ", 1)[1]
    latency = "" if check.status is CheckStatus.NOT_CHECKABLE else f" in {check.latency_ms:.1f} ms"
    stamp = check.checked_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    reason = f"\n{check.reason}" if check.reason else ""
    return f"{check.resource}: {words}{latency}, checked {stamp}{reason}"
