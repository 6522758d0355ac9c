"""The shape of long work: ``job(params, progress, cancel)``.

``progress(done, total, unit, message)`` reports how far a job is; ``total=None`` means busy with no
percentage. ``cancel`` is a :class:`threading.Event` the job checks at safe points, raising
:class:`~changeover.core.errors.Cancelled`.
"""

from __future__ import annotations

import threading
from typing import Protocol

from .errors import Cancelled


class Progress(Protocol):
    def __call__(self, done: int, total: int | None, unit: str, message: str) -> None: ...


def no_progress(done: int, total: int | None, unit: str, message: str) -> None:
    """A progress callback that ignores every report."""


def check_cancel(cancel: threading.Event | None, what: str = "The job") -> None:
    """Raise :class:`Cancelled` at a safe point when the user asked to stop."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{what} was cancelled by the user.")
