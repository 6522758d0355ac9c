"""Warnings in red read on light and dark palettes alike (WCAG AA, 4.5:1, on every row background)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from changeover.core.workspace import Workspace
from changeover.gui.icons import contrast
from changeover.gui.main_window import MainWindow
from changeover.gui.models.events import EventsModel
from changeover.gui.models.resources import ResourcesModel

DARK = {
    QPalette.ColorRole.Window: "#2b2b2b",
    QPalette.ColorRole.WindowText: "#e8e8e8",
    QPalette.ColorRole.Base: "#1e1e1e",
    QPalette.ColorRole.AlternateBase: "#262626",
    QPalette.ColorRole.Text: "#e8e8e8",
}


@pytest.fixture(params=["light", "dark"])
def palette(request: pytest.FixtureRequest, qapp: QApplication) -> Iterator[QPalette]:
    before = qapp.palette()
    if request.param == "dark":
        dark = QPalette(before)
        for role, color in DARK.items():
            dark.setColor(role, QColor(color))
        qapp.setPalette(dark)
    try:
        yield qapp.palette()
    finally:
        qapp.setPalette(before)


def assert_reads(color: QColor, palette: QPalette) -> None:
    for role in (QPalette.ColorRole.Base, QPalette.ColorRole.AlternateBase, QPalette.ColorRole.Window):
        ratio = contrast(color, palette.color(role))
        assert ratio >= 4.5, f"{color.name()} on {palette.color(role).name()} ({role.name}): {ratio:.1f}:1"


def test_overdue_and_failed_rows_read_on_the_palette(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, palette: QPalette
) -> None:
    workspace.register_resource("old-cache", "redis://127.0.0.1:6379/3")
    info = workspace.show_resource("old-cache")
    overdue = dataclasses.replace(info, state="detached", keep_until=datetime.now(UTC) - timedelta(days=2))
    assert overdue.overdue
    model = ResourcesModel()
    model.set_records([overdue])
    brush = model.index(0, 0).data(0x0009)  # Qt.ForegroundRole
    assert brush is not None
    assert_reads(brush.color(), palette)
    [event] = [e for e in workspace.events("old-cache")][:1]
    events = EventsModel()
    events.set_records([dataclasses.replace(event, result="failed")])
    brush = events.index(0, 0).data(0x0009)
    assert brush is not None
    assert_reads(brush.color(), palette)
    window.status_bar.show_keyring("No usable keyring: start or unlock your keyring, then try again.")
    assert_reads(window.status_bar.keyring_label.palette().color(QPalette.ColorRole.WindowText), palette)
