"""Register and Attach show their whole hint text, however long it grows as the admin types."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from changeover.core import demo as demo_module
from changeover.core.workspace import Workspace
from changeover.gui.main_window import MainWindow

from ..helpers import settle


def fits(label: QLabel) -> bool:
    """The label is tall enough for its wrapped text at its width."""
    return label.isVisible() and label.height() >= label.heightForWidth(label.width())


def test_register_shows_the_whole_handle_check(qtbot: QtBot, window: MainWindow) -> None:
    dialog = window.register_resource()
    qtbot.waitExposed(dialog)
    qtbot.keyClicks(dialog.name, "orders")
    long_host = "replica-" + "x" * 40 + ".eu-west-1.rds.amazonaws.com"
    qtbot.keyClicks(dialog.handle, f"postgresql://app@{long_host}:5432/orders_production_reporting")
    assert len(dialog.status.text()) > 80
    qtbot.waitUntil(lambda: fits(dialog.status), timeout=3000)
    qtbot.keyClicks(dialog.handle, "?sslmode=verify-full&application_name=changeover-reporting-readonly")
    qtbot.waitUntil(lambda: fits(dialog.status), timeout=3000)
    dialog.reject()


def test_attach_shows_the_whole_replace_hint(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace
) -> None:
    demo_module.create_demo(workspace)
    window = make_window()
    settle(qtbot, window)
    window.select_resource(demo_module.CACHE)
    dialog = window.attach()
    assert dialog is not None
    qtbot.waitExposed(dialog)
    dialog.env_var.setText("DATABASE_URL")  # held by the demo database: the hint says so
    assert "tick Replace" in dialog.hint.text()
    qtbot.waitUntil(lambda: fits(dialog.hint), timeout=3000)
    dialog.reject()
