"""Helpers shared by the GUI tests."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from changeover.gui.main_window import MainWindow


def settle(qtbot: QtBot, window: MainWindow, timeout: int = 10000) -> None:
    """Wait until no job runs and the window has redrawn from the inventory after the last change."""
    qtbot.waitUntil(lambda: window.controller.runner.running == 0, timeout=timeout)
