"""Garbage is collected on the GUI thread only: a collection in a job's thread could free a widget there."""

from __future__ import annotations

import gc
import threading

from pytestqt.qtbot import QtBot

from changeover.gui.app import GuiThreadCollector


def test_no_collection_runs_in_a_worker_and_the_gui_thread_collects(qtbot: QtBot) -> None:
    # tests/conftest.py installs the app's collector for every test with Qt widgets, as run() does
    assert not gc.isenabled()
    threshold = gc.get_threshold()[0]
    threads: set[str] = set()

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            threads.add(threading.current_thread().name)

    gc.callbacks.append(note)
    try:

        def churn() -> None:  # cycles enough to trigger several automatic collections, were they on
            for _ in range(5 * threshold):
                a: list[object] = []
                a.append(a)

        worker = threading.Thread(target=churn, name="job-worker")
        worker.start()
        worker.join()
        assert "job-worker" not in threads
        qtbot.waitUntil(lambda: threading.main_thread().name in threads, timeout=5000)
    finally:
        gc.callbacks.remove(note)


def test_stopping_the_collector_gives_collection_back(qtbot: QtBot) -> None:
    assert not gc.isenabled()
    GuiThreadCollector().stop()
    assert gc.isenabled()
    gc.disable()  # the fixture's collector is still running for this test
