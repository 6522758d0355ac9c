"""Start the desktop app: logging, the uncaught-error dialog, the default inventory, the main window."""

from __future__ import annotations

import gc
import logging
import sys
import time

from PySide6.QtCore import QCoreApplication, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from changeover.core.errors import ChangeoverError
from changeover.core.workspace import Workspace

from . import errors, upgrade
from .controller import MainController
from .dialogs import error_box
from .main_window import MainWindow

logger = logging.getLogger(__name__)

ORGANIZATION = "Changeover"
APP_NAME = "Changeover"
DESKTOP_ID = "io.github.changeover.changeover"


def application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (made once), named so QSettings and the desktop file find it."""
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APP_NAME)
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    app = QApplication(argv if argv is not None else sys.argv)
    app.setDesktopFileName(DESKTOP_ID)
    return app


def open_window(workspace: Workspace, settings: QSettings | None = None) -> MainWindow:
    """A main window over ``workspace``, showing, its first read of the inventory started."""
    controller = MainController(workspace)
    window = MainWindow(controller, settings)
    controller.setParent(window)
    window.show()
    controller.refresh()
    upgrade.install(window)  # "Upgrade database…", and an unfinished upgrade offered at start-up
    return window


class GuiThreadCollector(QObject):
    """Python's garbage collector runs on the GUI thread only, from a timer.

    An automatic collection runs in whichever thread happens to allocate: in a job's worker thread it may
    free a Qt object of the window (a dialog in a reference cycle), which Qt must only delete on its own
    thread, and the process dies (seen: a segmentation fault in a health read). So automatic collection is
    off and this timer does what it would have done, by generation and with the same thresholds.
    """

    def __init__(self, parent: QObject | None = None, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        gc.disable()
        self.timer.start(interval_ms)

    def check(self) -> None:
        count0, count1, count2 = gc.get_count()
        if count0 > self.threshold[0]:
            gc.collect(0)
            if count1 > self.threshold[1]:
                gc.collect(1)
                if count2 > self.threshold[2]:
                    gc.collect(2)

    def stop(self) -> None:
        """Back to automatic collection (after one full collection here, on the GUI thread)."""
        self.timer.stop()
        gc.collect()
        gc.enable()


def tune_gc() -> None:
    """Keep Python's garbage collector from stalling the window while a job builds many objects.

    A full collection walks every live object while holding the GIL: with a large inventory that froze
    the GUI thread for 100-200 ms during a background read. Objects made at start-up are frozen out of
    collections and the youngest generation is collected less often (measured: gaps under 30 ms).
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def run(argv: list[str] | None = None) -> int:
    """The ``changeover`` command with no arguments: the window over the default inventory."""
    started = time.perf_counter()
    log_path = errors.setup_logging()
    app = application(argv)
    holder: dict[str, MainWindow] = {}
    errors.install_excepthook(lambda: holder.get("window"))
    try:
        workspace = Workspace.open()  # CHANGEOVER_DATABASE_URL, else SQLite in the user data folder
    except ChangeoverError as exc:
        logger.error("cannot open the inventory: %s", exc.message)
        box = error_box(None, exc.title, exc.message, str(log_path))
        box.finished.connect(app.quit)
        box.show()
        return app.exec()
    try:
        for outcome in workspace.recover():  # a config change a crash interrupted: finish or drop it first
            logger.warning("recovered an interrupted change: %s", outcome)
    except ChangeoverError as exc:
        logger.error("could not recover interrupted changes: %s", exc.message)
    window = open_window(workspace)
    holder["window"] = window
    tune_gc()
    GuiThreadCollector(window)  # from here on, garbage is collected on this thread only
    logger.info("window shown %.3f s after start", time.perf_counter() - started)
    try:
        return app.exec()
    finally:
        window.controller.runner.cancel_all()
        window.controller.runner.wait()
        workspace.close()
