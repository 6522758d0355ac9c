"""Deprovision a resource: type its name; refused, with the core's reason, while it may not be."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from changeover.core.records import ResourceInfo

from ..widgets import dialog_buttons, named

logger = logging.getLogger(__name__)


class DeprovisionDialog(QDialog):
    """Type the resource's name to deprovision it; refused (with the reason) while it is attached."""

    def __init__(self, resource: ResourceInfo, refusal: str | None = None, parent: QWidget | None = None) -> None:
        """``refusal`` is the core's reason the resource cannot be deprovisioned now (``deprovision_refusal``)."""
        super().__init__(parent)
        self.resource = resource
        self.setWindowTitle(f"Deprovision {resource.name}")
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        named(self.reason, "Deprovision explanation")
        self.confirm = named(QLineEdit(), "Confirm name", "Type the resource's name to confirm")
        layout = QVBoxLayout(self)
        layout.addWidget(self.reason)
        self.final_backup = QCheckBox("Take a final &backup before dropping the database")
        self.final_backup.setChecked(True)
        self.final_backup.setAccessibleName("Final backup")
        self.final_backup.setVisible(resource.origin == "provisioned")
        form = QFormLayout()
        form.addRow("&Type its name:", self.confirm)
        form.addRow("", self.final_backup)
        layout.addLayout(form)
        self.buttons = dialog_buttons(self, "&Deprovision", destructive=True)
        layout.addWidget(self.buttons)
        self.refused = refusal or ""
        if self.refused:
            self.reason.setText(self.refused)
            self.confirm.setEnabled(False)
        else:
            what = "drops it on its server and " if resource.origin == "provisioned" else ""
            self.reason.setText(
                f"Deprovisioning {what}deletes the secrets of {resource.name} from the keyring; the inventory keeps "
                f"its history. This cannot be undone. Type {resource.name} to confirm."
            )
        self.confirm.textChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        ok = not self.refused and self.confirm.text() == self.resource.name
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def values(self) -> tuple[str, str, bool]:
        return self.resource.name, self.confirm.text(), self.final_backup.isChecked()
