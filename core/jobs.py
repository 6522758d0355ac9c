"""The shape of long work: ``job(params, progress, cancel)``.

``progress(done, total, unit, message)`` reports how far a job is; ``total=None`` means busy with no
percentage. ``cancel`` is a :class:`threading.Event` the job checks at safe points, raising
:class:`~changeover.core.errors.Cancelled`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from .errors import Cancelled
from .formats import human_rate as human_rate  # moved to formats; kept importable from here
from .formats import human_seconds as human_seconds


class Progress(Protocol):
    def __call__(self, done: int, total: int | None, unit: str, message: str) -> None: ...


def no_progress(done: int, total: int | None, unit: str, message: str) -> None:
    """A progress callback that ignores every report."""


def check_cancel(cancel: threading.Event | None, what: str = "The job") -> None:
    """Raise :class:`Cancelled` at a safe point when the user asked to stop."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{what} was cancelled by the user.")


class RateMeter:
    """Percent, rate and ETA from a job's progress reports, for the faces that show them.

    The rate is measured over a sliding window of recent reports, so it follows changes of pace; the
    ETA is what is left at that rate. ``None`` where it cannot be known (no total, no progress yet).
    """

    def __init__(self, window: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self.samples: deque[tuple[float, int]] = deque()
        self.done = 0
        self.total: int | None = None
        self.unit = ""

    def reset(self) -> None:
        self.samples.clear()
        self.done, self.total, self.unit = 0, None, ""

    def update(self, done: int, total: int | None, unit: str) -> None:
        now = self.clock()
        if unit != self.unit or (self.samples and done < self.samples[-1][1]):
            self.samples.clear()
        self.done, self.total, self.unit = done, total, unit
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window:
            self.samples.popleft()

    @property
    def percent(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(100.0, 100.0 * self.done / self.total))

    @property
    def rate(self) -> float | None:
        """Units per second over the window."""
        if len(self.samples) < 2:
            return None
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        if t1 <= t0 or d1 <= d0:
            return None
        return (d1 - d0) / (t1 - t0)

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate."""
        rate = self.rate
        if rate is None or not self.total:
            return None
        return max(0.0, (self.total - self.done) / rate)
