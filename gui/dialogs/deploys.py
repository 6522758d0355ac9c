"""Add, import or edit a deploy: its name, .env file, grouping and hooks."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from changeover.core.records import DeployInfo

from ..widgets import dialog_buttons, named

logger = logging.getLogger(__name__)


class DeployDialog(QDialog):
    """Add, import or edit a deploy: its name, .env file, grouping and hooks."""

    def __init__(self, mode: str = "add", deploy: DeployInfo | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = mode
        self.original = deploy
        titles = {"add": "Add a deploy", "import": "Import a deploy from its .env", "edit": "Edit deploy"}
        self.setWindowTitle(titles[mode])
        form = QFormLayout()
        self.name = named(QLineEdit(), "Deploy name", "Letters, digits, dots, dashes, underscores")
        self.env_file = named(QLineEdit(), "Env file", "The deploy's .env file, which Changeover rewrites")
        self.browse = QPushButton("&Browse…")
        self.browse.setAccessibleName("Browse for the env file")
        self.browse.clicked.connect(self.pick_env_file)
        env_row = QHBoxLayout()
        env_row.addWidget(self.env_file)
        env_row.addWidget(self.browse)
        self.app = named(QLineEdit(), "App", "Deploys are grouped by app")
        self.environment = named(QLineEdit(), "Environment", "production, staging, …")
        self.restart_cmd = named(QLineEdit(), "Restart command", "Run after each config change, e.g. systemctl")
        self.maintenance_on = named(QLineEdit(), "Maintenance on command")
        self.maintenance_off = named(QLineEdit(), "Maintenance off command")
        self.maintenance_var = named(QLineEdit(), "Maintenance variable", "Or: a flag variable set to 1")
        self.hook_timeout = QSpinBox()
        self.hook_timeout.setRange(1, 3600)
        self.hook_timeout.setValue(60)
        self.hook_timeout.setSuffix(" s")
        named(self.hook_timeout, "Hook timeout")
        env_label = QLabel("&Env file:")
        env_label.setBuddy(self.env_file)
        # QFormLayout.addRow(text, widget) makes the label with the widget as its buddy (the mnemonic).
        for label, field in (
            ("&Name:", self.name),
            (env_label, env_row),
            ("&App:", self.app),
            ("En&vironment:", self.environment),
            ("&Restart command:", self.restart_cmd),
            ("Maintenance o&n:", self.maintenance_on),
            ("Maintenance o&ff:", self.maintenance_off),
            ("Maintenance &variable:", self.maintenance_var),
            ("Hook &timeout:", self.hook_timeout),
        ):
            form.addRow(label, field)
        if mode == "import":
            hint = QLabel(
                "Variables that hold a resource handle (database, cache, queue URLs, API keys) are registered "
                "as resources and attached; the file itself is not changed."
            )
            hint.setWordWrap(True)
            form.addRow(hint)
        if deploy is not None:
            self.name.setText(deploy.name)
            self.env_file.setText(deploy.config_location)
            self.app.setText(deploy.app)
            self.environment.setText(deploy.environment)
            self.restart_cmd.setText(deploy.restart_cmd or "")
            self.maintenance_on.setText(deploy.maintenance_on_cmd or "")
            self.maintenance_off.setText(deploy.maintenance_off_cmd or "")
            self.maintenance_var.setText(deploy.maintenance_var or "")
            self.hook_timeout.setValue(deploy.hook_timeout)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.buttons = dialog_buttons(self, {"add": "&Add", "import": "&Import", "edit": "&Save"}[mode])
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._update)
        self.env_file.textChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        ok = bool(self.name.text().strip() and self.env_file.text().strip())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def pick_env_file(self) -> None:
        dialog = QFileDialog(self, "Choose the deploy's .env file", self.env_file.text())
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters(["Env files (*.env .env* *.env.*)", "All files (*)"])
        dialog.fileSelected.connect(self.env_file.setText)
        dialog.open()
        self.file_dialog = dialog

    def values(self) -> dict[str, Any]:
        """Keyword arguments for ``add_deploy``/``import_deploy`` (with name and env_file)."""
        return {
            "name": self.name.text().strip(),
            "env_file": self.env_file.text().strip(),
            "app": self.app.text().strip(),
            "environment": self.environment.text().strip(),
            "restart_cmd": self.restart_cmd.text().strip() or None,
            "maintenance_on_cmd": self.maintenance_on.text().strip() or None,
            "maintenance_off_cmd": self.maintenance_off.text().strip() or None,
            "maintenance_var": self.maintenance_var.text().strip() or None,
            "hook_timeout": self.hook_timeout.value(),
        }

    def changes(self) -> dict[str, Any]:
        """Keyword arguments for ``edit_deploy``: only what differs from the deploy as it was."""
        assert self.original is not None
        values = self.values()
        before = {
            "name": self.original.name,
            "env_file": self.original.config_location,
            "app": self.original.app,
            "environment": self.original.environment,
            "restart_cmd": self.original.restart_cmd,
            "maintenance_on_cmd": self.original.maintenance_on_cmd,
            "maintenance_off_cmd": self.original.maintenance_off_cmd,
            "maintenance_var": self.original.maintenance_var,
            "hook_timeout": self.original.hook_timeout,
        }
        changes = {key: ("" if value is None else value) for key, value in values.items() if before[key] != value}
        if "name" in changes:
            changes["new_name"] = changes.pop("name")
        return changes
