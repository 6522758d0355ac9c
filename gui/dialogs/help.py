"""The Help menu's windows: every keyboard shortcut, where Changeover keeps its files (with Open buttons),
and About."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

logger = logging.getLogger(__name__)

#: keys that are not menu actions: how the tables and panes are driven
TABLE_KEYS = (
    ("Tab / Shift+Tab", "Move to the next / previous control (out of a table too)"),
    ("↑ ↓ PgUp PgDn Home End", "Move between rows of a table"),
    ("Alt + underlined letter", "Press that button or go to that field"),
    ("Enter", "The dialog's default button (never a hidden one)"),
    ("Esc", "Close the dialog without changing anything"),
)

#: opens a folder or file in the desktop's own application (tests put a recorder here)
Opener = Callable[[QUrl], object]


def _close_buttons(dialog: QDialog) -> QDialogButtonBox:
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    box.rejected.connect(dialog.reject)
    box.button(QDialogButtonBox.StandardButton.Close).clicked.connect(dialog.reject)
    return box


class ShortcutsDialog(QDialog):
    """Help ▸ Keyboard shortcuts: every action with its keys, then how tables and dialogs are driven."""

    def __init__(self, actions: Sequence[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [
            (a.shortcut().toString(QKeySequence.SequenceFormat.NativeText), a.text().replace("&", "")) for a in actions
        ]
        rows = [(keys, text) for keys, text in rows if keys] + list(TABLE_KEYS)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Keys", "Does"])
        self.table.setAccessibleName("Keyboard shortcuts")
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)
        for row, (keys, text) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(keys))
            self.table.setItem(row, 1, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(_close_buttons(self))
        self.resize(560, 620)

    def rows(self) -> list[tuple[str, str]]:
        cells = [(self.table.item(r, 0), self.table.item(r, 1)) for r in range(self.table.rowCount())]
        return [(keys.text(), does.text()) for keys, does in cells if keys is not None and does is not None]


class LocationsDialog(QDialog):
    """Help ▸ Where Changeover keeps things: the log, the inventory, the backups folder, each with Open."""

    def __init__(
        self,
        places: Sequence[tuple[str, str, Path | None]],
        parent: QWidget | None = None,
        opener: Opener | None = None,
    ) -> None:
        """``places``: (what, text shown, folder or file to open or None when it is not a local file)."""
        super().__init__(parent)
        self.setWindowTitle("Where Changeover keeps things")
        self.opener: Opener = opener or QDesktopServices.openUrl
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        for row, (what, text, target) in enumerate(places):
            grid.addWidget(QLabel(f"<b>{what}</b>"), row, 0, Qt.AlignmentFlag.AlignTop)
            label = QLabel(text)
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setAccessibleName(what)
            grid.addWidget(label, row, 1)
            button = QPushButton(f"Open {what.lower()}")
            button.setAccessibleName(f"Open the {what.lower()}")
            if target is None:
                button.setEnabled(False)
                button.setToolTip("Not a file on this computer")
            else:
                button.clicked.connect(lambda _c=False, t=target: self.open_place(t))
            self.buttons[what] = button
            grid.addWidget(button, row, 2, Qt.AlignmentFlag.AlignTop)
        grid.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(_close_buttons(self))
        self.setMinimumWidth(640)

    def open_place(self, target: Path) -> None:
        """Open ``target`` in the desktop's file manager (a file's folder when the file does not exist yet)."""
        shown = target if target.exists() else target.parent
        self.opener(QUrl.fromLocalFile(str(shown)))


def about_text(version: str, keyring: str) -> str:
    return (
        f"<h3>Changeover {version}</h3>"
        "<p>A desktop console for twelve-factor deploys and their attached resources: attach, detach, "
        "swap and upgrade them, with every credential in the OS keyring.</p>"
        f"<p>{keyring}</p><p>MIT licence.</p>"
    )
