"""The job adapter, the uncaught-error dialog and log, icons for dark palettes, and the app's start."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QThread
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from changeover.core import paths
from changeover.core.errors import Cancelled, Conflict
from changeover.gui import errors, icons
from changeover.gui.jobs import JobRunner

Progress = Callable[[int, int | None, str, str], None]


def test_job_runs_off_the_gui_thread_and_reports(qtbot: QtBot) -> None:
    runner = JobRunner()
    seen: dict[str, object] = {}

    def job(progress: Progress, cancel: threading.Event) -> str:
        seen["thread"] = QThread.currentThread()
        progress(1, 2, "steps", "half way")
        return "done"

    progress: list[tuple[object, ...]] = []
    results: list[object] = []
    with qtbot.waitSignal(runner.busy_changed, check_params_cb=lambda busy: busy is False, timeout=5000):
        started = runner.start(job, on_finished=results.append, on_progress=lambda *a: progress.append(a))
        assert runner.running == 1
    assert results == ["done"]
    assert progress == [(1, 2, "steps", "half way")]
    assert seen["thread"] is not QApplication.instance().thread()  # type: ignore[union-attr]
    assert runner.running == 0
    assert started.name == "job"


def test_job_failures_and_cancel(qtbot: QtBot) -> None:
    runner = JobRunner()

    def refuse(progress: Progress, cancel: threading.Event) -> None:
        raise Conflict("not now")

    failures: list[BaseException] = []
    with qtbot.waitSignal(runner.busy_changed, check_params_cb=lambda busy: busy is False, timeout=5000):
        runner.start(refuse, on_failed=failures.append)
    assert len(failures) == 1
    assert isinstance(failures[0], Conflict) and failures[0].message == "not now"

    release = threading.Event()

    def slow(progress: Progress, cancel: threading.Event) -> None:
        release.wait(5)
        if cancel.is_set():
            raise Cancelled("stopped")

    job = runner.start(slow)
    with qtbot.waitSignal(job.signals.cancelled, timeout=5000):
        runner.cancel_all()
        release.set()


def test_uncaught_error_opens_a_dialog_and_is_logged(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    path = errors.setup_logging()
    try:
        assert path.parent == paths.log_dir()
        try:
            raise RuntimeError("boom in a slot")
        except RuntimeError as exc:
            box = errors.report(type(exc), exc, exc.__traceback__)
        assert isinstance(box, QMessageBox)
        qtbot.addWidget(box)
        assert box.isVisible()
        assert str(path) in box.informativeText()
        assert "RuntimeError" in box.informativeText()
        assert "boom in a slot" in path.read_text(encoding="utf-8")
        assert "Traceback" in path.read_text(encoding="utf-8")
        box.accept()
    finally:
        root = logging.getLogger("changeover")
        for handler in [h for h in root.handlers if getattr(h, "baseFilename", None) == str(path)]:
            root.removeHandler(handler)
            handler.close()


def test_excepthook_routes_to_report(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(errors, "report", lambda t, e, tb, parent=None: calls.append(str(e)))
    errors.install_excepthook(lambda: None)
    sys.excepthook(ValueError, ValueError("x"), None)
    assert calls == ["x"]


def test_icons_are_recoloured_for_a_dark_palette(qapp: QApplication) -> None:
    dark = QPalette()
    dark.setColor(QPalette.ColorRole.Window, QColor("#202020"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#f0f0f0"))
    light = QPalette()
    light.setColor(QPalette.ColorRole.Window, QColor("#f8f8f8"))
    light.setColor(QPalette.ColorRole.WindowText, QColor("#101010"))
    assert icons.is_dark(dark) and not icons.is_dark(light)
    for palette, bright in ((dark, True), (light, False)):
        image = icons.get_colored_icon("add", palette).pixmap(24, 24).toImage()
        center = image.pixelColor(12, 12)
        assert center.alpha() > 200
        assert (center.lightness() > 200) is bright
    for svg in icons.ICON_DIR.glob("*.svg"):
        assert not icons.get_colored_icon(svg.stem).isNull(), svg


def test_run_opens_the_default_inventory(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, qapp: QApplication) -> None:
    from changeover.gui import app, launcher

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(errors, "setup_logging", lambda: Path(paths.log_dir()) / "changeover.log")
    windows: list[object] = []
    real_open = app.open_window

    def open_window(workspace, settings=None):  # type: ignore[no-untyped-def]
        window = real_open(workspace, settings)
        qtbot.addWidget(window)
        windows.append(window)
        return window

    class Loop:
        """Stands in for QApplication.exec(): waits for the first redraw instead of running forever."""

        def exec(self) -> int:
            qtbot.waitUntil(lambda: bool(windows) and windows[0].snapshot is not None, timeout=10000)  # type: ignore[attr-defined]
            return 0

    monkeypatch.setattr(app, "open_window", open_window)
    monkeypatch.setattr(app, "application", lambda argv=None: Loop())
    assert launcher.main([]) == 0
    window = windows[0]
    assert window.inventory_label.toolTip().endswith(str(paths.data_dir() / "inventory.sqlite3"))  # type: ignore[attr-defined]
    assert (paths.data_dir() / "inventory.sqlite3").exists()
    assert window.welcome.isVisible()  # type: ignore[attr-defined]


def test_priority_a_dropped_queued_job_and_a_separate_lane(qtbot: QtBot) -> None:
    from PySide6.QtCore import QThreadPool

    pool = QThreadPool()
    pool.setMaxThreadCount(1)
    runner = JobRunner(pool=pool)
    gate = threading.Event()
    order: list[str] = []

    def blocker(progress: Progress, cancel: threading.Event) -> str:
        gate.wait(10)
        return "blocker"

    def named(text: str) -> Callable[[Progress, threading.Event], str]:
        def job(progress: Progress, cancel: threading.Event) -> str:
            order.append(text)
            return text

        return job

    first = runner.start(blocker)
    low = runner.start(named("low"))
    dropped = runner.start(named("dropped"))
    high = runner.start(named("high"), priority=1)
    assert runner.drop_queued(dropped) and runner.running == 3  # off the queue: never runs, never reports
    assert not runner.drop_queued(dropped)
    # Another lane runs while this one is held.
    lane = QThreadPool()
    lane.setMaxThreadCount(1)
    results: list[object] = []
    runner.start(named("other lane"), pool=lane, on_finished=results.append)
    qtbot.waitUntil(lambda: results == ["other lane"], timeout=5000)
    gate.set()
    qtbot.waitUntil(lambda: runner.running == 0, timeout=5000)
    assert order == ["other lane", "high", "low"]  # the click's read before the queued background one
    assert not runner.drop_queued(first) and not runner.drop_queued(high) and not runner.drop_queued(low)
    assert runner.wait(5000)
