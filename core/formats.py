"""How sizes, counts, rates and durations read, the same in the window, the wizard and the CLI.

Sizes are decimal (1 kB = 1000 bytes), like the rates a copy reports, so a size and the rate that moves
it are in the same units.
"""

from __future__ import annotations

#: decimal size units, largest first (the window's locale-aware sizes use the same)
SIZE_UNITS = _SCALES = ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"))


def human_bytes(size: float | None, missing: str = "") -> str:
    """``size`` bytes as a short text (``1.5 MB``); ``missing`` when the size is not known."""
    if size is None:
        return missing
    for scale, name in _SCALES:
        if size >= scale:
            return f"{size / scale:.1f} {name}"
    return f"{int(size)} B"


def human_count(value: int, unit: str) -> str:
    """An amount of work: bytes as a size, anything else as a grouped number and its unit."""
    return human_bytes(value) if unit == "bytes" else f"{value:,} {unit}".strip()


def human_rate(rate: float | None, unit: str) -> str:
    """Units per second (bytes as ``MB/s``); empty when the rate is not known yet."""
    if rate is None:
        return ""
    if unit == "bytes":
        return f"{human_bytes(rate)}/s"
    return f"{rate:,.0f} {unit}/s"


def human_seconds(seconds: float | None) -> str:
    """A duration as ``m:ss`` (or ``h:mm:ss``); empty when it is not known."""
    if seconds is None:
        return ""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 deploy``, ``3 deploys`` (``many`` for irregular words): never ``1 deploy(s)``."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"
