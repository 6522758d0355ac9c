"""Start the desktop app: logging, the uncaught-error dialog, the default inventory, the main window."""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from changeover.core.errors import ChangeoverError

from . import errors
from .dialogs import error_box

if TYPE_CHECKING:  # the window's and the inventory's modules load in run(), not with this one
    from changeover.core.workspace import Workspace

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


def open_window(workspace: Workspace | None, settings: QSettings | None = None) -> MainWindow:
    """A main window over ``workspace``, showing, its first read of the inventory started.

    With no workspace (the app's start) the window is shown over an inventory still to open: ``run`` opens it
    off the GUI thread (``MainController.open_workspace``) once the window is painted, then it is read."""
    from .controller import MainController
    from .main_window import MainWindow

    controller = MainController(workspace)
    window = MainWindow(controller, settings)
    controller.setParent(window)
    window.show()
    if workspace is None:
        controller.opened.connect(lambda: _opened(window))
    else:
        _opened(window)
    return window


def _opened(window: MainWindow) -> None:
    from . import upgrade  # the wizard's pages and the upgrade engine: not needed for the first paint

    window.controller.refresh()
    upgrade.install(window)  # "Upgrade database…", and an unfinished upgrade offered at start-up


def _open_default_workspace() -> Workspace:
    """The inventory the app opens (CHANGEOVER_DATABASE_URL, else SQLite in the user data folder), a config
    change a crash interrupted finished or dropped first. Runs on a worker thread."""
    from changeover.core.workspace import Workspace

    workspace = Workspace.open()
    try:
        for outcome in workspace.recover():
            logger.warning("recovered an interrupted change: %s", outcome)
    except ChangeoverError as exc:
        logger.error("could not recover interrupted changes: %s", exc.message)
    return workspace


def _open_and_freeze() -> Workspace:
    """The default inventory opened, then everything loaded so far frozen out of garbage collection, as at
    start-up (tune_gc): the modules the inventory brought (SQLAlchemy's, Alembic's) are never walked again.
    Runs before any read of the inventory has started."""
    workspace = _open_default_workspace()
    gc.freeze()
    return workspace


class FirstPaint(QObject):
    """Calls ``then`` once, after ``widget`` is first painted (at the latest after ``fallback_ms``)."""

    def __init__(self, widget: QWidget, then: Callable[[], object], fallback_ms: int = 300) -> None:
        super().__init__(widget)
        self.then: Callable[[], object] | None = then
        widget.installEventFilter(self)
        QTimer.singleShot(fallback_ms, self.fire)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint and self.then is not None:
            QTimer.singleShot(0, self.fire)  # after this paint has reached the screen
        return False

    def fire(self) -> None:
        then, self.then = self.then, None
        if then is not None:
            parent = self.parent()
            if isinstance(parent, QObject):
                parent.removeEventFilter(self)
            then()


#: the longest a full collection waits for the jobs to end (an upgrade may run for an hour)
FULL_COLLECTION_WAIT_S = 30.0


class GuiThreadCollector(QObject):
    """Python's garbage collector runs on the GUI thread only, from a timer.

    An automatic collection runs in whichever thread happens to allocate: in a job's worker thread it may
    free a Qt object of the window (a dialog in a reference cycle), which Qt must only delete on its own
    thread, and the process dies (seen: a segmentation fault in a health read). So automatic collection is
    off and this timer does what it would have done, by generation and with the same thresholds.

    Whichever thread collects holds the GIL meanwhile, so a collection is a stall of the window; it lasts as
    long as the objects it walks. The timer looks often (``interval_ms``), so that the young generations a
    background read fills are walked in small batches, and a full collection (every object) waits while
    ``busy()`` says work runs (a large read or an upgrade: it would walk what they are building). What a full
    collection leaves is frozen (``gc.freeze``): it is what the window shows and keeps, so the next full one
    walks only what came since, not the 100,000 objects of a large inventory again. The price: a frozen object
    that later ends up in a reference cycle is never collected (the records are plain data, freed by their
    reference counts when the next read replaces them).
    """

    def __init__(
        self, parent: QObject | None = None, interval_ms: int = 50, busy: Callable[[], bool] | None = None
    ) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self.busy = busy
        self.due_since = 0.0  # when a full collection fell due while work ran (monotonic seconds; 0: none due)
        self.froze = False  # whether it froze survivors (stop() thaws them)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        gc.disable()
        self.timer.start(interval_ms)

    def check(self) -> None:
        count0, count1, count2 = gc.get_count()
        if count2 > self.threshold[2]:
            now = time.monotonic()
            self.due_since = self.due_since or now
            if not (self.busy is not None and self.busy()) or now - self.due_since > FULL_COLLECTION_WAIT_S:
                gc.collect(2)  # the full collection that was due, now that nothing runs (or it waited too long)
                gc.freeze()  # what is left lives on (the shown inventory): the next full one walks only what is new
                self.froze = True
                self.due_since = 0.0
                return
        if count0 > self.threshold[0]:
            gc.collect(1 if count1 > self.threshold[1] else 0)

    def stop(self) -> None:
        """Back to automatic collection (after one full collection here, on the GUI thread)."""
        self.timer.stop()
        if self.froze:
            gc.unfreeze()
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


#: how often a thread holding the GIL hands it over when another wants it (Python's default: 5 ms)
SWITCH_INTERVAL_S = 0.001


def tune_switching() -> None:
    """Hand the GIL over every millisecond instead of every five, when another thread waits for it.

    A job busy in Python (who uses a resource reads every deploy's config for seconds) otherwise keeps the
    GIL 5 ms each time the GUI thread, or a quick read answering a click, wants it back, which they do at
    every call into Qt or SQLite: a redraw or a detail read then took several times as long as its work.
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def run(argv: list[str] | None = None) -> int:
    """The ``changeover`` command with no arguments: the window over the default inventory.

    The window is shown first, its tables empty, and painted; the inventory is then opened (the database
    layers imported, the schema checked or migrated) on a worker thread and read: what a user waits for
    before seeing the window is Qt and the window's own modules, not the inventory's."""
    started = time.perf_counter()
    log_path = errors.setup_logging()
    app = application(argv)
    holder: dict[str, MainWindow] = {}
    errors.install_excepthook(lambda: holder.get("window"))
    window = open_window(None)
    holder["window"] = window
    controller = window.controller
    logger.info("window shown %.3f s after start", time.perf_counter() - started)

    def cannot_open(error: BaseException) -> None:
        if not isinstance(error, ChangeoverError):
            window.show_error(error)  # a bug: the error dialog with the traceback in the log
            return
        logger.error("cannot open the inventory: %s", error.message)
        box = error_box(window, error.title, error.message, str(log_path))
        box.finished.connect(window.close)
        box.open()

    controller.open_failed.connect(cannot_open)
    controller.opened.connect(lambda: logger.info("inventory open %.3f s after start", time.perf_counter() - started))
    FirstPaint(window, lambda: controller.open_workspace(_open_and_freeze))
    tune_gc()
    tune_switching()
    # from here on, garbage is collected on this thread only, in full only while no job runs
    GuiThreadCollector(window, busy=lambda: controller.runner.running > 0)
    try:
        return app.exec()
    finally:
        controller.runner.cancel_all()
        controller.runner.wait()
        controller.close_workspace()
