"""How the command line shows things: JSON, tables, dates, and the progress bar."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TextIO, TypeVar

from changeover.core.jobs import RateMeter, human_rate, human_seconds
from changeover.core.upgrade.procedure import TITLES, RunEvent

logger = logging.getLogger(__name__)

T = TypeVar("T")

BAR_WIDTH = 150  # characters the progress line may take on a terminal
REDRAW_SECONDS = 0.2  # at most five redraws a second


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def emit_json(data: object, out: TextIO) -> None:
    """``data`` (a dataclass, a list of them, or plain values) as indented JSON; datetimes in ISO 8601."""
    plain = [_plain(d) for d in data] if isinstance(data, list) else _plain(data)
    json.dump(plain, out, default=_json_default, indent=2, ensure_ascii=False)
    out.write("\n")


def when(value: datetime | None) -> str:
    """A moment in local time to the minute, or ``-``."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "-"


def table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO) -> None:
    """Columns padded to their widest cell; ``(none)`` when there are no rows."""
    if not rows:
        out.write("(none)\n")
        return
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    for row in [headers, *rows]:
        out.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() + "\n")


def listing(
    items: Sequence[T], as_json: bool, headers: Sequence[str], row: Callable[[T], Sequence[str]], out: TextIO
) -> None:
    """A list command's answer: the items as JSON, or a table of one ``row`` per item."""
    if as_json:
        emit_json(list(items), out)
    else:
        table([row(item) for item in items], headers, out)


def labelled(label: str, items: Iterable[object], out: TextIO) -> None:
    """One line per item, ``label: item`` (e.g. ``  adapted: ...`` under a report's first line)."""
    for item in items:
        out.write(f"{label}: {item}\n")


_MARKERS = {"done": "ok", "failed": "FAILED", "retrying": "retry", "switched": "!!", "rolled_back": "rolled back"}


class Bar:
    """One line per step on a terminal: a bar with percent, rate and ETA; or one JSON object per event."""

    def __init__(self, out: TextIO, as_json: bool = False) -> None:
        self.out = out
        self.as_json = as_json
        self.tty = out.isatty()
        self.meter = RateMeter()
        self.last = 0.0

    def progress(self, done: int, total: int | None, unit: str, message: str) -> None:
        """A job's progress callback: redraw the bar at most five times a second (terminals only)."""
        if self.as_json:
            record = {"done": done, "total": total, "unit": unit, "message": message}
            self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        self.meter.update(done, total, unit)
        now = time.monotonic()
        if not self.tty or now - self.last < REDRAW_SECONDS:
            return
        self.last = now
        percent = self.meter.percent
        bar = "#" * int((percent or 0) / 5)
        shown = f"{percent:5.1f}%" if percent is not None else "  ... "
        rate, eta = human_rate(self.meter.rate, unit), human_seconds(self.meter.eta)
        line = f"    [{bar:<20}] {shown} {rate:>12} {('ETA ' + eta) if eta else '':>10}  {message[:50]}"
        self.out.write("\r" + line[:BAR_WIDTH].ljust(BAR_WIDTH))
        self.out.flush()

    def clear(self) -> None:
        if self.tty and not self.as_json:
            self.out.write("\r" + " " * BAR_WIDTH + "\r")

    def __call__(self, event: RunEvent) -> None:
        """An upgrade run's event callback: a heading per step, the bar while it runs, its outcome."""
        if self.as_json:
            self.out.write(json.dumps(dataclasses.asdict(event), ensure_ascii=False) + "\n")
            self.out.flush()
            return
        if event.state == "running":
            self.meter.reset()
            self.out.write(f"==> {TITLES[event.step]}\n")
        elif event.state == "progress":
            self.progress(event.done, event.total, event.unit, event.message)
        else:
            self.clear()
            self.out.write(f"    {_MARKERS.get(event.state, event.state)}: {event.message}\n")
            self.out.flush()
