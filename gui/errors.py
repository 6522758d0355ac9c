"""Logging to a rotating file in the platform log folder, and a dialog for every uncaught error."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from changeover.core import paths
from changeover.core.errors import ChangeoverError

from .dialogs import error_box

logger = logging.getLogger(__name__)

LOG_NAME = "changeover.log"
_handler: logging.Handler | None = None


def log_file() -> Path:
    return Path(paths.log_dir()) / LOG_NAME


def setup_logging(level: int = logging.INFO) -> Path:
    """Send Changeover's log to ``log_dir()/changeover.log`` (1 MB, 5 files kept); idempotent."""
    global _handler
    path = log_file()
    if _handler is not None:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("changeover")
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler
    return path


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
