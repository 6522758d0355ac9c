"""Deprovision a resource: type its name; refused, with the core's reason, while it may not be.

A provider-made database gets a final backup, test-restored before the database is dropped (both on by
default); an Amazon RDS instance gets RDS's own final snapshot instead; a provider-made S3 bucket that
holds objects is removed only when "delete its contents" is chosen and the name typed a second time.
"""

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

from ..widgets import GrowToFit, dialog_buttons, named

logger = logging.getLogger(__name__)

RDS = "rds"
S3 = "s3"


class DeprovisionDialog(QDialog):
    """Type the resource's name to deprovision it; refused (with the reason) while it is attached."""

    def __init__(
        self,
        resource: ResourceInfo,
        refusal: str | None = None,
        parent: QWidget | None = None,
        server_kind: str | None = None,
    ) -> None:
        """``refusal`` is the core's reason the resource cannot be deprovisioned now (``deprovision_refusal``);
        ``server_kind`` the kind of the server it was provisioned on (rds, s3, postgresql, ...)."""
        super().__init__(parent)
        self.resource = resource
        provisioned = resource.origin == "provisioned"
        self.rds = provisioned and server_kind == RDS
        self.bucket = provisioned and (server_kind == S3 or resource.kind == S3)
        database = provisioned and not self.bucket
        self.setWindowTitle(f"Deprovision {resource.name}")
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        named(self.reason, "Deprovision explanation")
        self.confirm = named(QLineEdit(), "Confirm name", "Type the resource's name to confirm")
        layout = QVBoxLayout(self)
        layout.addWidget(self.reason)
        backup_text = (
            "Take a final RDS &snapshot before deleting the instance"
            if self.rds
            else "Take a final &backup before dropping the database"
        )
        self.final_backup = QCheckBox(backup_text)
        self.final_backup.setChecked(True)
        self.final_backup.setAccessibleName("Final snapshot" if self.rds else "Final backup")
        self.final_backup.setVisible(database)
        self.test_restore = QCheckBox("&Test-restore the final backup first")
        self.test_restore.setChecked(True)
        self.test_restore.setAccessibleName("Test-restore the final backup")
        self.test_restore.setToolTip(
            "Load the final backup into a scratch database and compare it with the original before dropping it: "
            "a backup that does not restore stops the deprovision with the database untouched."
        )
        self.test_restore.setVisible(database and not self.rds)  # RDS keeps its own snapshot, not a file to load
        self.delete_contents = QCheckBox("Also &delete every object in the bucket")
        self.delete_contents.setAccessibleName("Delete the bucket's contents")
        self.delete_contents.setVisible(self.bucket)
        self.confirm_again = named(
            QLineEdit(), "Confirm deleting contents", "Type the name again to delete the objects"
        )
        form = QFormLayout()
        form.addRow("&Type its name:", self.confirm)
        form.addRow("", self.final_backup)
        form.addRow("", self.test_restore)
        form.addRow("", self.delete_contents)
        form.addRow("Type it &again:", self.confirm_again)
        form.setRowVisible(self.confirm_again, False)
        self.form = form
        layout.addLayout(form)
        self.buttons = dialog_buttons(self, "&Deprovision", destructive=True)
        layout.addWidget(self.buttons)
        self.grow = GrowToFit(self)
        self.refused = refusal or ""
        if self.refused:
            self.reason.setText(self.refused)
            self.confirm.setEnabled(False)
        elif self.rds:
            self.reason.setText(
                f"Deprovisioning deletes the Amazon RDS instance of {resource.name}, after a final snapshot named "
                f"after it and today's date unless you decline it below. Its deletion protection is lifted for this: "
                f"typing {resource.name} confirms that. The keyring's secrets go too; the inventory keeps its "
                "history and the snapshot's name."
            )
        elif self.bucket:
            self.reason.setText(
                f"Deprovisioning deletes the S3 bucket of {resource.name}. A bucket that still holds objects is "
                "refused unless you choose to delete its contents too and type the name a second time: those "
                f"objects are gone for good. Type {resource.name} to confirm."
            )
        else:
            what = "drops it on its server and " if provisioned else ""
            self.reason.setText(
                f"Deprovisioning {what}deletes the secrets of {resource.name} from the keyring; the inventory keeps "
                f"its history. This cannot be undone. Type {resource.name} to confirm."
            )
        self.confirm.textChanged.connect(self._update)
        self.confirm_again.textChanged.connect(self._update)
        self.final_backup.toggled.connect(self._update)
        self.delete_contents.toggled.connect(self._update)
        self._update()

    def _update(self) -> None:
        self.test_restore.setEnabled(self.final_backup.isChecked())
        contents = self.bucket and self.delete_contents.isChecked()
        self.form.setRowVisible(self.confirm_again, contents)
        ok = not self.refused and self.confirm.text() == self.resource.name
        if contents:
            ok = ok and self.confirm_again.text() == self.resource.name
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def values(self) -> tuple[str, str, bool, bool, bool]:
        """name, typed confirmation, final backup, test-restore it first, delete a bucket's contents."""
        backup = self.final_backup.isChecked()
        return (
            self.resource.name,
            self.confirm.text(),
            backup,
            backup and self.test_restore.isChecked() and not self.rds,
            self.bucket and self.delete_contents.isChecked() and self.confirm_again.text() == self.resource.name,
        )
