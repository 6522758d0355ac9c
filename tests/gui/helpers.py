"""Helpers shared by the GUI tests."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from changeover.gui.dialogs import DeprovisionDialog
from changeover.gui.main_window import MainWindow

#: this machine's Redis (RECIPES.md), database 0; the ``machine_redis`` fixture says whether it answers
MACHINE_REDIS = "redis://127.0.0.1:6379/0"


def settle(qtbot: QtBot, window: MainWindow, timeout: int = 10000) -> None:
    """Wait until no job runs and the window has redrawn from the inventory after the last change."""
    qtbot.waitUntil(lambda: window.controller.runner.running == 0, timeout=timeout)


def open_deprovision(qtbot: QtBot, window: MainWindow) -> DeprovisionDialog:
    """Deprovision… on the selected resource: the core says first whether it may be, then the dialog opens."""
    with qtbot.waitSignal(window.deprovision_dialog_opened, timeout=10000):
        window.deprovision()
    assert isinstance(window.dialog, DeprovisionDialog)
    return window.dialog
