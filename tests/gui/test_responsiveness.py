"""What keeps the window quick (issue #14's speed targets; the numbers are benchmarks/gui_bench.py's):
the window is painted before the inventory opens, work waits while the window redraws, a large table is
sorted off the GUI thread, the selection's detail goes before the slow "who uses it" read, and full
garbage collections wait for the jobs to end."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from changeover.core import paths
from changeover.core.workspace import Workspace
from changeover.gui import app as gui_app
from changeover.gui import errors, models
from changeover.gui.jobs import JobRunner
from changeover.gui.main_window import MainWindow
from changeover.gui.main_window.window import USES_AFTER_MS

Progress = Callable[[int, int | None, str, str], None]

#: what the first paint must not wait for: the inventory's layers, the AWS SDK, the keyring, other engines
HEAVY = ("alembic", "boto3", "botocore", "keyring", "sqlalchemy.dialects.postgresql", "changeover.core.workspace")


def test_the_window_is_built_and_shown_without_the_inventory_layers(tmp_path: Path) -> None:
    # A fresh interpreter, as when the app starts: the window's own modules must not bring these in.
    code = (
        "import sys\n"
        "from changeover.gui.app import application, open_window\n"
        "app = application([])\n"
        "window = open_window(None)\n"
        "assert window.isVisible()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {"QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


class _Loop:
    """Stands in for QApplication.exec() in run(): waits for ``done``, then returns."""

    def __init__(self, qtbot: QtBot, done: Callable[[], bool]) -> None:
        self.qtbot, self.done = qtbot, done

    def exec(self) -> int:
        self.qtbot.waitUntil(self.done, timeout=15000)
        return 0


def _run_app(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, done: Callable[[list[MainWindow]], bool]) -> list[Any]:
    """run() with its window recorded, the order of its first paint and the inventory's opening noted."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(errors, "setup_logging", lambda: Path(paths.log_dir()) / "changeover.log")
    windows: list[MainWindow] = []
    order: list[str] = []
    real_open, real_workspace = gui_app.open_window, gui_app._open_default_workspace

    class Painted(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
            if event.type() == QEvent.Type.Paint and "painted" not in order:
                order.append("painted")
            return False

    def open_window(workspace: Workspace | None, settings: Any = None) -> MainWindow:
        window = real_open(workspace, settings)
        qtbot.addWidget(window)
        window.installEventFilter(painter)
        windows.append(window)
        return window

    def open_workspace() -> Workspace:
        order.append("opening")
        return real_workspace()

    painter = Painted()
    monkeypatch.setattr(gui_app, "open_window", open_window)
    monkeypatch.setattr(gui_app, "_open_default_workspace", open_workspace)
    monkeypatch.setattr(gui_app, "application", lambda argv=None: _Loop(qtbot, lambda: done(windows)))
    assert gui_app.run([]) == 0
    return [windows, order]


def test_run_paints_the_window_then_opens_and_reads_the_inventory(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, qapp: QApplication
) -> None:
    windows, order = _run_app(qtbot, monkeypatch, lambda ws: bool(ws) and ws[0].snapshot is not None)
    assert order == ["painted", "opening"]
    window = windows[0]
    assert window.welcome.isVisible() and not window.controller.is_open  # read, then closed when run() ended
    assert window.inventory_label.toolTip().endswith(str(paths.data_dir() / "inventory.sqlite3"))


def test_an_inventory_that_cannot_be_opened_is_said_over_the_window(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, qapp: QApplication
) -> None:
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", "this is not a url")
    asked: list[str] = []

    def error_shown(windows: list[MainWindow]) -> bool:
        boxes = [b for b in windows[0].findChildren(QMessageBox) if b.isVisible()] if windows else []
        if boxes:
            asked.append(f"{boxes[0].text()}\n{boxes[0].informativeText()}")
            boxes[0].done(0)  # the user reads it and closes it: the window closes with it
        return bool(asked) and not windows[0].isVisible()

    windows, _order = _run_app(qtbot, monkeypatch, error_shown)
    assert "CHANGEOVER_DATABASE_URL is not a database URL" in asked[0]
    assert not windows[0].controller.is_open and windows[0].snapshot is None


def _job(record: list[str], name: str) -> Callable[[Progress, threading.Event], str]:
    def job(progress: Progress, cancel: threading.Event) -> str:
        record.append(name)
        return name

    return job


def test_a_held_runner_starts_its_jobs_on_release_in_order_and_drops_them_on_request(qtbot: QtBot) -> None:
    runner = JobRunner()
    ran: list[str] = []
    assert runner.hold() and not runner.hold()  # the second holder does not release it
    first, second = runner.start(_job(ran, "first")), runner.start(_job(ran, "second"))
    urgent = runner.start(_job(ran, "urgent"), unheld=True)
    qtbot.waitUntil(lambda: runner.running == 2, timeout=5000)  # the held ones count as work to do
    assert ran == ["urgent"]
    runner.release()
    qtbot.waitUntil(lambda: runner.running == 0, timeout=5000)
    assert sorted(ran[1:]) == ["first", "second"] and first is not second and urgent.name == "job"

    runner.hold()
    dropped = runner.start(_job(ran, "dropped"))
    kept = runner.start(_job(ran, "kept"))
    assert runner.drop_queued(dropped) and runner.running == 1
    runner.release(drop=True)  # e.g. the inventory could not be opened: nothing asked for runs
    assert runner.running == 0
    assert runner.start(_job(ran, "after")) is not kept
    qtbot.waitUntil(lambda: "after" in ran, timeout=5000)
    assert "dropped" not in ran and "kept" not in ran


def test_resources_sorted_off_the_gui_thread_are_shown_as_they_come_unless_the_sort_changed(
    workspace: Workspace, qapp: QApplication
) -> None:
    for name in ("b-cache", "a-cache", "c-cache"):
        workspace.register_resource(name, f"redis://{name}.internal:6379/0")
    found = workspace.list_resources("all")
    model = models.ResourcesModel()
    descending = (0, Qt.SortOrder.DescendingOrder)
    model.sort(*descending)
    rows, texts, keys = models.ResourcesModel.prepare(found, descending)
    assert keys == ["c-cache", "b-cache", "a-cache"] and [t[0] for t in texts] == keys
    model.set_records(rows, texts, presorted=descending, keys=keys)
    assert [model.record(i).name for i in range(3)] == keys and model.row_of("a-cache") == 2
    # A read sorted for the old order arrives after the user sorted the other way: the model sorts it.
    model.sort(0, Qt.SortOrder.AscendingOrder)
    model.set_records(rows, texts, presorted=descending, keys=keys)
    assert [model.record(i).name for i in range(3)] == ["a-cache", "b-cache", "c-cache"]
    assert model.row_of("c-cache") == 2 and model.row_of("gone") is None


class _FakeGc:
    """gc's counts and collections as the collector sees them (its decisions are what is tested here)."""

    def __init__(self, counts: tuple[int, int, int]) -> None:
        self.counts = counts
        self.collected: list[int] = []

    def get_count(self) -> tuple[int, int, int]:
        return self.counts

    def freeze(self) -> None:
        self.collected.append(-1)  # -1: the survivors frozen

    def collect(self, generation: int = 2) -> int:
        self.collected.append(generation)
        self.counts = (0, 0, 0) if generation == 2 else (0, 0, self.counts[2] + (generation == 1))
        return 0


def test_a_full_collection_waits_while_jobs_run_young_ones_do_not(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy = [True]
    collector = gui_app.GuiThreadCollector(busy=lambda: busy[0])
    collector.timer.stop()  # driven by hand below
    try:
        t0, t1, t2 = collector.threshold
        fake = _FakeGc((t0 + 1, t1 + 1, t2 + 1))
        monkeypatch.setattr(gui_app, "gc", fake)
        collector.check()
        assert fake.collected == [1]  # a full one is due, but a job runs: the young generations only
        fake.counts = (t0 + 1, 0, t2 + 2)
        collector.check()
        assert fake.collected == [1, 0]
        busy[0] = False
        collector.check()
        assert fake.collected == [1, 0, 2, -1]  # and what it left is frozen: the next one walks only new objects
        # A job that never ends (an upgrade of an hour) does not keep garbage forever.
        busy[0] = True
        fake.counts = (0, 0, t2 + 1)
        collector.check()
        assert fake.collected == [1, 0, 2, -1]
        monkeypatch.setattr(gui_app, "FULL_COLLECTION_WAIT_S", 0.0)
        collector.due_since -= 1.0
        collector.check()
        assert fake.collected == [1, 0, 2, -1, 2, -1]
    finally:
        monkeypatch.undo()
        collector.froze = False  # the fake froze nothing
        collector.deleteLater()
    assert not gc.isenabled()  # the fixture's collector still owns collection for this test


def test_who_uses_a_resource_is_read_once_the_selection_rests(
    qtbot: QtBot, window: MainWindow, workspace: Workspace
) -> None:
    for name in ("cache", "queue"):
        workspace.register_resource(name, f"redis://{name}.internal:6379/0")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    read: list[tuple[str, float]] = []
    real_uses = workspace.uses

    def uses(what: str) -> Any:  # the read itself, on the worker
        read.append((what, time.monotonic()))
        return real_uses(what)

    workspace.uses = uses  # type: ignore[method-assign]
    chosen = time.monotonic()
    with qtbot.waitSignal(window.resources_pane.uses_shown, timeout=10000, check_params_cb=lambda r: r == "queue"):
        assert window.select_resource("cache")
        assert window.select_resource("queue")  # at once: the read for cache never starts
        assert window.controller.runner.running > 0  # a read to come is work under way (shutdown waits for it)
    assert [what for what, _at in read] == ["queue"]
    assert read[0][1] - chosen >= 0.9 * USES_AFTER_MS / 1000  # (a timer may fire a few ms early)
    assert window.detail_dock.resource_view.header.name.text() == "queue"  # the detail did not wait for it


def test_the_window_answers_before_the_inventory_is_open(qtbot: QtBot, settings: Any) -> None:
    from changeover.gui.controller import MainController

    controller = MainController(None)
    window = MainWindow(controller, settings)
    controller.setParent(window)
    qtbot.addWidget(window)
    window.show()
    assert not controller.is_open
    with pytest.raises(RuntimeError, match="not open yet"):
        _ = controller.workspace
    job = controller.refresh()  # asked for now, run once it is open: never lost, never run on nothing
    assert controller.runner.running == 1 and window.snapshot is None
    places = window.show_locations()  # Help ▸ Where…: where the inventory is being opened from
    shown = " ".join(label.text() for label in places.findChildren(type(window.inventory_label)))
    assert "<b>Inventory</b> ~/.local/share/changeover/inventory.sqlite3" in shown
    dialog = window.show_credentials()
    assert dialog.isVisible()
    dialog.close()
    assert controller.runner.drop_queued(job) and controller.runner.running == 0


def test_a_table_paints_its_model_inside_one_python_entry(qtbot: QtBot) -> None:
    """The model's calls of a paint run inside the view's own Python frame (one GIL taking per paint), not
    each entering Python from the event loop on its own, which a busy job's thread made wait every time."""
    from PySide6.QtCore import QAbstractTableModel, QModelIndex
    from PySide6.QtWidgets import QTableView

    from changeover.gui.widgets import TableView

    class Recording(QAbstractTableModel):
        def __init__(self) -> None:
            super().__init__()
            self.callers: set[str] = set()

        def rowCount(self, parent: Any = QModelIndex()) -> int:  # noqa: B008, N802
            return 0 if parent.isValid() else 50

        def columnCount(self, parent: Any = QModelIndex()) -> int:  # noqa: B008, N802
            return 0 if parent.isValid() else 4

        def data(self, index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
            caller = sys._getframe(1)
            self.callers.add(caller.f_code.co_name)
            return f"{index.row()}:{index.column()}" if role == Qt.ItemDataRole.DisplayRole else None

    def callers_of_a_paint(view: QTableView) -> set[str]:
        model = Recording()
        view.setModel(model)
        view.resize(500, 400)
        qtbot.addWidget(view)
        view.show()
        qtbot.waitExposed(view)
        model.callers.clear()
        view.viewport().update()
        qtbot.waitUntil(lambda: bool(model.callers), timeout=5000)
        return model.callers

    assert callers_of_a_paint(TableView()) == {"viewportEvent"}
    assert "viewportEvent" not in callers_of_a_paint(QTableView())  # what the plain view does: the check can fail


def test_every_table_and_tree_of_the_window_paints_in_one_python_entry(window: MainWindow) -> None:
    from PySide6.QtWidgets import QAbstractItemView, QHeaderView

    from changeover.gui.widgets import HeaderView, TableView, TreeView

    views = window.findChildren(QAbstractItemView)

    def python_model(view: QAbstractItemView) -> bool:  # a combo box's list of a QStandardItemModel paints in C++
        return not type(view.model()).__module__.startswith("PySide6")

    plain = [
        v.objectName() or type(v).__name__
        for v in views
        if python_model(v)
        and not isinstance(v, TableView | TreeView | HeaderView)
        and not (isinstance(v, QHeaderView) and v.isHidden())
    ]
    assert len(views) >= 4 and plain == [], plain
