"""Logging to a rotating file in the platform log folder, and a dialog for every uncaught error."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from changeover.core import logs
from changeover.core.errors import ChangeoverError

from .dialogs import error_box

logger = logging.getLogger(__name__)


def log_file() -> Path:
    return Path(logs.log_file())


def setup_logging() -> Path:
    """The rotating log in the platform log folder, shared with the CLI (core.logs)."""
    return Path(logs.setup_logging())


def report(
    exc_type: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
    parent: QWidget | None = None,
) -> QMessageBox | None:
    """Log an error and open a dialog with its message and the log file's path (non-blocking)."""
    if isinstance(exc, ChangeoverError):
        logger.info("%s: %s", exc.title, exc.message)
        box = error_box(parent, exc.title, exc.message)
    else:
        path = setup_logging()
        logger.error("Uncaught error:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
        box = error_box(
            parent,
            "Something went wrong",
            f"Changeover hit an unexpected error ({exc_type.__name__}). Please report it with the log file.",
            str(path),
        )
    if QApplication.instance() is None:
        return None
    box.open()
    return box


def install_excepthook(parent: Callable[[], QWidget | None]) -> None:
    """Route uncaught exceptions (including those raised in slots) to :func:`report`."""

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        try:
            report(exc_type, exc, tb, parent())
        except Exception:  # noqa: BLE001 - the hook must never raise
            sys.__excepthook__(exc_type, exc, tb)

    sys.excepthook = hook
