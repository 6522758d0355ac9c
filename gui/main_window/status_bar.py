"""The status bar: where secrets are kept (or a warning saying what to do), where the inventory is, and
whether work is under way."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar

from changeover.core.secrets import KEPT_IN

from ..icons import get_colored_icon, warning_color

logger = logging.getLogger(__name__)


class StatusBar(QStatusBar):
    def __init__(self) -> None:
        super().__init__()
        self.keyring_label = QLabel("Keyring: …")
        self.keyring_label.setAccessibleName("Keyring status")
        self.inventory_label = QLabel("Inventory: …")
        self.inventory_label.setAccessibleName("Inventory location")
        self.inventory_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A long inventory path is cut at the window's edge (the tooltip has it all) instead of widening the window.
        self.inventory_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.busy_label = QLabel("")
        self.busy_label.setAccessibleName("Work in progress")
        self.keyring_icon = QLabel()
        self.addWidget(self.keyring_icon)
        self.addWidget(self.keyring_label)
        self.addWidget(self.inventory_label, 1)
        self.addPermanentWidget(self.busy_label)

    def show_keyring(self, line: str) -> None:
        """The keyring's line from core: where secrets are kept, or a warning (icon, bold, red) saying what to do."""
        usable = line.startswith(KEPT_IN)
        self.keyring_icon.setPixmap(get_colored_icon("key" if usable else "warning").pixmap(16, 16))
        self.keyring_icon.setToolTip("" if usable else "No secret can be stored or read until this is fixed")
        self.keyring_label.setText(line if usable else f"Warning: {line}")
        font = self.keyring_label.font()
        font.setBold(not usable)
        self.keyring_label.setFont(font)
        # the failed-state red of the tables, readable on the palette
        self.keyring_label.setStyleSheet("" if usable else f"color: {warning_color().name()};")

    def show_inventory(self, location: str) -> None:
        """Where the inventory is: a file's path (``~`` for the home folder), or a server's URL, password hidden."""
        self.inventory_label.setText(f"Inventory: {readable_location(location)}")
        self.inventory_label.setToolTip(location)

    def set_busy(self, busy: bool) -> None:
        self.busy_label.setText("Working…" if busy else "")


def readable_location(location: str) -> str:
    """``sqlite:////home/me/x.sqlite3`` reads ``~/x.sqlite3``; a server URL stays as it is (password hidden)."""
    if not location.startswith("sqlite:///"):
        return location
    path = location.removeprefix("sqlite:///")
    home = str(Path.home())
    if path == home or path.startswith(home.rstrip("/") + "/"):
        return "~" + path[len(home.rstrip("/")) :]
    return path
