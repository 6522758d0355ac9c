"""Add, import or edit a deploy: its name, .env file, grouping and hooks.

An import first shows what was recognised in the .env (``import_deploy(..., dry_run=True)``: variable,
kind, proposed name, masked handle, why) and imports only when the admin confirms it.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QDir, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
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

from changeover.core.deploys import Discovery
from changeover.core.errors import ChangeoverError
from changeover.core.records import DeployInfo

from ..models import RecognisedModel, record_proxy
from ..widgets import dialog_buttons, named, record_table

logger = logging.getLogger(__name__)

PREVIEW = "&Preview import"
#: the widest the import dialog grows to show the recognised resources (long texts are elided, whole in tooltips)
PREVIEW_MAX_WIDTH = 980


def preview_summary(discovery: Discovery) -> str:
    """One sentence on what the import would do, for the admin to confirm."""
    new = sum(1 for r in discovery.recognised if not r.existing)
    attach = len(discovery.attached)
    if not discovery.recognised:
        return f"No resource was recognised in the .env: {discovery.deploy.name} would be added with nothing attached."
    return (
        f"Recognised {len(discovery.recognised)}: {new} to register, {attach} to attach to "
        f"{discovery.deploy.name}. Nothing is saved until you press Import."
    )


class DeployDialog(QDialog):
    """Add, import or edit a deploy: its name, .env file, grouping and hooks.

    In ``import`` mode the first OK asks for a preview (``preview_requested`` with :meth:`values`); the
    window answers with :meth:`show_preview` (or :meth:`show_preview_failed`), and only then does OK,
    now "Import", accept. Changing a field drops the preview: it is read again before anything is saved.
    """

    #: import mode: the values to preview an import of (nothing is saved)
    preview_requested = Signal(dict)
    #: import mode: the preview (or why there is none) is shown
    preview_shown = Signal()

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
        #: where the deploy's environment lives: a .env file, or (add mode) AWS SSM Parameter Store
        self.store_kind = named(QComboBox(), "Config store", "Where the deploy's environment variables live")
        self.store_kind.addItem(".env file", "env")
        self.store_kind.addItem("AWS SSM Parameter Store", "ssm")
        self.ssm_path = named(QLineEdit(), "SSM path", "One parameter per variable under this path, e.g. /app/prod")
        self.ssm_path.setPlaceholderText("/app/prod")
        self.region = named(QLineEdit(), "AWS region", "The region of the parameters, e.g. eu-west-1")
        self.region.setPlaceholderText("eu-west-1")
        self.profile = named(QLineEdit(), "AWS profile", "Empty: the standard AWS credentials (environment, SSO, role)")
        self.env_row = env_row
        rows: list[tuple[Any, Any]] = [("&Name:", self.name)]
        if mode == "add":
            rows += [("Config &store:", self.store_kind)]
        rows += [(env_label, env_row)]
        if mode == "add":
            rows += [("SSM &path:", self.ssm_path), ("Re&gion:", self.region), ("AWS pr&ofile:", self.profile)]
        # QFormLayout.addRow(text, widget) makes the label with the widget as its buddy (the mnemonic).
        for label, field in (
            *rows,
            ("&App:", self.app),
            ("En&vironment:", self.environment),
            ("&Restart command:", self.restart_cmd),
            ("Maintenance o&n:", self.maintenance_on),
            ("Maintenance o&ff:", self.maintenance_off),
            ("Maintenance &variable:", self.maintenance_var),
            ("Hook &timeout:", self.hook_timeout),
        ):
            form.addRow(label, field)
        self.form = form
        self.discovery: Discovery | None = None
        self._previewed: dict[str, Any] | None = None  # the values the preview was asked for
        if mode == "import":
            hint = QLabel(
                "Variables that hold a resource handle (database, cache, queue URLs, API keys) are registered "
                "as resources and attached; the file itself is not changed. You see what was recognised "
                "before anything is saved."
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
        self.preview_model = RecognisedModel(self)
        self.preview_view = record_table(
            record_proxy(self.preview_model, self),
            "Recognised resources",
            "What the import would register and attach; nothing is saved until you import",
        )
        self.preview_view.setWordWrap(False)
        self.preview_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.preview_view.horizontalHeader().setStretchLastSection(True)
        self.preview_view.hide()
        self.preview_status = named(QLabel(), "Import preview")
        self.preview_status.setWordWrap(True)
        self.preview_status.hide()
        if mode == "import":
            layout.addWidget(self.preview_status)
            layout.addWidget(self.preview_view, 1)
        self.buttons = dialog_buttons(self, {"add": "&Add", "import": PREVIEW, "edit": "&Save"}[mode])
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._update)
        self.env_file.textChanged.connect(self._update)
        for field in (self.ssm_path, self.region):
            field.textChanged.connect(self._update)
        self.store_kind.currentIndexChanged.connect(self._store_changed)
        self._store_changed()

    def _ok(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def ssm(self) -> bool:
        return self.mode == "add" and self.store_kind.currentData() == "ssm"

    def _store_changed(self) -> None:
        if self.mode == "add":
            ssm = self.ssm()
            self.form.setRowVisible(self.env_row, not ssm)
            for field in (self.ssm_path, self.region, self.profile):
                self.form.setRowVisible(field, ssm)
        self._update()

    def _update(self) -> None:
        where = (
            self.ssm_path.text().strip() and self.region.text().strip() if self.ssm() else self.env_file.text().strip()
        )
        ok = bool(self.name.text().strip() and where)
        self._ok().setEnabled(ok)
        if self.discovery is not None and self._previewed != self.values():
            self._drop_preview()

    def _drop_preview(self) -> None:
        self.discovery = None
        self._previewed = None
        self.preview_model.set_records([])
        self.preview_view.hide()
        self.preview_status.hide()
        self._ok().setText(PREVIEW)

    def accept(self) -> None:
        """Import mode: a preview first; the import only once it is shown and the fields are unchanged."""
        if self.mode == "import" and (self.discovery is None or self._previewed != self.values()):
            self.request_preview()
            return
        super().accept()

    def request_preview(self) -> None:
        self._drop_preview()
        self._previewed = self.values()
        self.preview_status.setText("Reading the .env…")
        self.preview_status.show()
        self._ok().setEnabled(False)
        self.preview_requested.emit(dict(self._previewed))

    def show_preview(self, discovery: Discovery) -> None:
        """What the import would do; OK becomes Import. A preview of values changed since is dropped."""
        if self._previewed is None or self._previewed != self.values():
            return
        self.discovery = discovery
        self.preview_model.set_records(list(discovery.recognised))
        lines = [preview_summary(discovery)]
        lines += [f"Passed over {var}: {reason}" for var, reason in discovery.skipped]
        self.preview_status.setText("\n".join(lines))
        self.preview_view.setVisible(bool(discovery.recognised))
        self._fit_preview()
        self._ok().setText("&Import")
        self._ok().setEnabled(True)
        self.preview_shown.emit()

    def _fit_preview(self) -> None:
        """Grow the dialog (within the screen) so the recognised rows, up to ten, show without scrolling."""
        view = self.preview_view
        view.resizeColumnsToContents()
        rows = min(self.preview_model.rowCount(), 10)
        height = (
            view.horizontalHeader().height() + 2 * view.frameWidth() + view.horizontalScrollBar().sizeHint().height()
        )
        view.setMinimumHeight(height + sum(view.rowHeight(r) for r in range(rows)))
        width = min(view.horizontalHeader().length() + 2 * view.frameWidth() + 40, PREVIEW_MAX_WIDTH)
        screen = self.screen()
        if screen is not None:
            width = min(width, int(screen.availableGeometry().width() * 0.9))
        self.resize(max(self.width(), width), max(self.height(), self.sizeHint().height()))
        parent = self.parentWidget()
        if parent is not None:  # keep it centred over the window as it grows
            self.move(parent.geometry().center() - self.rect().center())

    def show_preview_failed(self, error: BaseException) -> None:
        """Why the .env cannot be imported as it is (the core's message), in the dialog."""
        if isinstance(error, ChangeoverError):
            text = f"{error.title}: {error.message}"
        else:
            text = f"The .env could not be read ({type(error).__name__}); see the log file."
        self._previewed = None
        self.preview_status.setText(text)
        self.preview_status.show()
        self._ok().setEnabled(True)
        self.preview_shown.emit()

    def pick_env_file(self) -> None:
        dialog = QFileDialog(self, "Choose the deploy's .env file", self.env_file.text())
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters(["Env files (*.env .env* *.env.*)", "All files (*)"])
        # A deploy's file is usually a dotfile (.env, .env.production): Qt's chooser hides those unless asked.
        dialog.setFilter(dialog.filter() | QDir.Filter.Hidden)
        dialog.fileSelected.connect(self.env_file.setText)
        dialog.open()
        self.file_dialog = dialog

    def values(self) -> dict[str, Any]:
        """Keyword arguments for ``add_deploy``/``import_deploy`` (with name and env_file; an SSM store in add mode
        gives ssm_path, region and profile instead of the file)."""
        ssm = {}
        if self.mode == "add" and self.ssm():
            ssm = {
                "ssm_path": self.ssm_path.text().strip(),
                "region": self.region.text().strip(),
                "profile": self.profile.text().strip() or None,
            }
        return {
            "name": self.name.text().strip(),
            "env_file": None if ssm else self.env_file.text().strip(),
            **ssm,
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
