"""One way the window writes numbers, sizes, durations and moments: the user's locale for separators,
local time with seconds and zone for the audit trail, never a raw ISO string or "1 deploy(s)".

Pure functions over QLocale (a value type: safe on the worker threads that render table cells).
"""

from __future__ import annotations

import logging
from datetime import datetime

from PySide6.QtCore import QLocale

from changeover.core.formats import SIZE_UNITS, human_seconds

logger = logging.getLogger(__name__)


def number(value: int | float, decimals: int = 0) -> str:
    """A count with the locale's group separator (``12,345`` or ``12 345``)."""
    locale = QLocale.system()
    if locale.language() == QLocale.Language.C:  # the C locale groups nothing: group in thousands as core does
        return f"{value:,.{decimals}f}"
    if decimals == 0:
        return locale.toString(int(round(value)))
    return locale.toString(float(value), "f", decimals)


def size(value: int | float | None, missing: str = "") -> str:
    """Bytes, decimal units like core.formats.human_bytes, the decimal point the locale's (``1.5 MB``)."""
    if value is None:
        return missing
    for scale, unit in SIZE_UNITS:
        if value >= scale:
            return f"{number(value / scale, 1)} {unit}"
    return f"{number(value)} B"


def count(value: int, unit: str) -> str:
    """An amount of work: bytes as a size, anything else as a grouped number and its unit."""
    return size(value) if unit == "bytes" else f"{number(value)} {unit}".strip()


def rate(per_second: float | None, unit: str) -> str:
    """Units per second (bytes as ``MB/s``); empty when the rate is not known yet."""
    if per_second is None:
        return ""
    return f"{size(per_second)}/s" if unit == "bytes" else f"{number(per_second)} {unit}/s"


def duration(seconds: float | None) -> str:
    """``m:ss`` or ``h:mm:ss`` (under a minute: ``12 s``); empty when not known."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{number(seconds, 1 if seconds < 10 else 0)} s"
    return human_seconds(seconds)


def moment(value: datetime | None) -> str:
    """A moment in local time, to the second, with its zone: ``2026-12-01 13:04:05 CET``."""
    if value is None:
        return ""
    local = value.astimezone()
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or local.strftime('%z')}"


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 deploy``, ``3 deploys``, the count with the locale's separators."""
    return f"{number(count)} {one if count == 1 else (many or one + 's')}"
