"""Preferences: the inventory's settings a user tunes (retention, backups kept, secret age, health refresh),
each a spin box bounded by the range core accepts; the backups folder is shown with an Open button."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialog, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from changeover.core.context import SETTING_RANGES

from ..widgets import dialog_buttons

logger = logging.getLogger(__name__)

#: the settings this dialog shows: key, label (with mnemonic), unit, what it does
FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("retention_days", "&Keep detached resources for", " days", "How long a detached resource is kept by default"),
    ("backup_keep", "Keep at &least", " backups", "Prune keeps at least this many backups of each resource"),
    ("backup_keep_days", "and every backup &younger than", " days", "Prune never removes a younger backup"),
    ("env_backups", "Earlier .env &versions kept", " files", "Copies of a deploy's .env kept beside it (0: none)"),
    ("secret_warn_days", "Mark secrets &older than", " days", "The credentials manager marks older secrets"),
    ("health_interval_minutes", "Re-check &health every", " min", "How often attached resources are re-checked"),
)


class PreferencesDialog(QDialog):
    """Edit ▸ Preferences…: ``values()`` hands back only the settings that changed."""

    def __init__(
        self,
        current: dict[str, str],
        backups_folder: Path,
        parent: QWidget | None = None,
        opener: Callable[[QUrl], object] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.current = dict(current)
        self.opener = opener or QDesktopServices.openUrl
        self.spins: dict[str, QSpinBox] = {}
        form = QFormLayout()
        for key, text, unit, tip in FIELDS:
            low, high = SETTING_RANGES[key]
            spin = QSpinBox()
            spin.setRange(low, high)
            spin.setSuffix(unit)
            spin.setValue(int(current.get(key, low)))
            spin.setToolTip(tip)
            spin.setAccessibleName(text.replace("&", ""))
            label = QLabel(text + ":")
            label.setBuddy(spin)
            form.addRow(label, spin)
            self.spins[key] = spin
        self.backups_folder = backups_folder
        folder = QLabel(str(backups_folder))
        folder.setWordWrap(True)
        folder.setAccessibleName("Backups folder")
        self.open_backups = QPushButton("&Open")
        self.open_backups.setToolTip("Open the backups folder in the file manager")
        self.open_backups.clicked.connect(self._open_backups)
        row = QHBoxLayout()
        row.addWidget(folder, 1)
        row.addWidget(self.open_backups)
        form.addRow("Backups folder:", row)
        note = QLabel(
            "The backups folder is in your user data folder (set XDG_DATA_HOME to move it). "
            "These settings live in the inventory: everyone sharing it shares them."
        )
        note.setWordWrap(True)
        self.buttons = dialog_buttons(self, "&Save")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.buttons)

    def _open_backups(self) -> None:
        folder = self.backups_folder
        self.opener(QUrl.fromLocalFile(str(folder if folder.exists() else folder.parent)))

    def values(self) -> dict[str, str]:
        """The settings the user changed, as the text core's ``set_setting`` takes."""
        changed = {}
        for key, spin in self.spins.items():
            value = str(spin.value())
            if value != self.current.get(key):
                changed[key] = value
        return changed
