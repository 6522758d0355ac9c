"""A backup's actions: restore it into an empty resource, or delete it (the core says when it may not)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from changeover.core.backups import BackupInfo
from changeover.core.records import ResourceInfo

from ..formatting import size
from ..widgets import ConfirmDialog, GrowToFit, dialog_buttons, named

logger = logging.getLogger(__name__)

_GONE = ("deprovisioned", "failed")


def backup_label(backup: BackupInfo) -> str:
    return f"the backup of {backup.resource or backup.folder.parent.name} from {backup.created_at[:19]} UTC"


class RestoreDialog(QDialog):
    """Choose the resource a backup is restored into: a live database of the backup's engine.

    The core loads only into an empty database and says what a non-empty one holds; this dialog offers
    every database of the engine and leaves that judgement to it."""

    def __init__(self, backup: BackupInfo, resources: Iterable[ResourceInfo], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.backup = backup
        self.setWindowTitle("Restore a backup")
        fits = [r for r in resources if r.kind == backup.engine and r.state not in _GONE]
        self.target = named(QComboBox(), "Restore into", "An empty database resource of the backup's engine")
        for resource in sorted(fits, key=lambda r: (r.name == backup.resource, r.name)):
            self.target.addItem(f"{resource.name} ({resource.state})", resource.name)
        self.explanation = named(QLabel(), "Restore explanation")
        self.explanation.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.explanation)
        form = QFormLayout()
        form.addRow("Restore &into:", self.target)
        layout.addLayout(form)
        self.buttons = dialog_buttons(self, "&Restore")
        layout.addWidget(self.buttons)
        self.grow = GrowToFit(self)
        what = f"{backup_label(backup)} ({size(backup.size_bytes)}, {backup.tables} tables, {backup.rows:,} rows)"
        if fits:
            self.explanation.setText(
                f"Restore {what} into an empty {backup.engine} database. A database that holds tables is refused "
                "and left as it is. After the load each table's rows and checksum are compared with the backup."
            )
        else:
            self.explanation.setText(
                f"No {backup.engine} database resource to restore {what} into: provision an empty one "
                "(Tools ▸ Servers…) or register one, then restore."
            )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(fits))

    def values(self) -> tuple[str, str]:
        return str(self.backup.folder), str(self.target.currentData())


def delete_backup_dialog(backup: BackupInfo, parent: QWidget | None = None) -> ConfirmDialog:
    proven = " It is proven by a test restore." if backup.proof_ok else ""
    return ConfirmDialog(
        "Delete a backup",
        f"Delete {backup_label(backup)} ({size(backup.size_bytes)}) from {backup.folder}?{proven} This cannot be "
        "undone. A backup an upgrade run or a detached resource still needs is kept: Changeover refuses to delete it.",
        "&Delete",
        parent,
        destructive=True,
    )
