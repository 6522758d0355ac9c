"""Dialogs: forms that collect input and hand it back; the window's controller does the work.

Every dialog is shown with ``open()`` (window-modal, never a nested event loop) and reports through
``accepted``; tests construct them and drive them directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QAbstractItemModel, QDate, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from changeover.core import handles
from changeover.core.errors import InvalidInput
from changeover.core.provisioning import ServerInfo, database_name
from changeover.core.workspace import DeployInfo, ResourceInfo, validate_name

from .icons import get_colored_icon
from .models import (
    PAYLOAD_ROLE,
    SERVER_KIND_TEXT,
    Credential,
    CredentialsModel,
    ServersModel,
    record_proxy,
)
from .probe import ProbeResult

REVEAL_MS = 10_000
CLIPBOARD_MS = 30_000


W = TypeVar("W", bound=QWidget)


def _record_table(proxy: QAbstractItemModel, name: str, description: str) -> QTableView:
    """A sortable, single-row-selection table of records, its last column (the handle) stretched."""
    table = QTableView()
    table.setModel(proxy)
    table.setSortingEnabled(True)
    table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
    table.verticalHeader().hide()
    return _named(table, name, description)


R = TypeVar("R")


def _selected(table: QTableView, kind: type[R]) -> R | None:
    """The record behind the selected row, if one is selected and is a ``kind``."""
    rows = table.selectionModel().selectedRows()
    value = rows[0].data(PAYLOAD_ROLE) if rows else None
    return value if isinstance(value, kind) else None


def _named(widget: W, name: str, description: str = "") -> W:
    widget.setAccessibleName(name)
    widget.setObjectName(name.replace(" ", "_").lower())
    if description:
        widget.setAccessibleDescription(description)
        widget.setToolTip(description)
    return widget


def _buttons(dialog: QDialog, ok_text: str) -> QDialogButtonBox:
    dialog.setMinimumWidth(520)
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    box.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


def with_password(handle_text: str, password: str) -> str:
    """``handle_text`` with the password typed into its own masked field folded in (the full handle)."""
    text = handle_text.strip()
    if not password:
        return text
    handle = handles.parse(text)
    full: str = handle.with_secrets({**handle.secrets, "password": password}).full()
    return full


def _masked_password_field(name: str = "Password") -> QLineEdit:
    field = _named(QLineEdit(), name, "Kept in the OS keyring, never in the inventory")
    field.setEchoMode(QLineEdit.EchoMode.Password)
    return field


class ConfirmDialog(QDialog):
    """A yes/no question shown with ``open()``, never a nested event loop."""

    def __init__(self, title: str, text: str, ok_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(buttons)


class DeployDialog(QDialog):
    """Add, import or edit a deploy: its name, .env file, grouping and hooks."""

    def __init__(self, mode: str = "add", deploy: DeployInfo | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = mode
        self.original = deploy
        titles = {"add": "Add a deploy", "import": "Import a deploy from its .env", "edit": "Edit deploy"}
        self.setWindowTitle(titles[mode])
        form = QFormLayout()
        self.name = _named(QLineEdit(), "Deploy name", "Letters, digits, dots, dashes, underscores")
        self.env_file = _named(QLineEdit(), "Env file", "The deploy's .env file, which Changeover rewrites")
        self.browse = QPushButton("&Browse…")
        self.browse.setAccessibleName("Browse for the env file")
        self.browse.clicked.connect(self.pick_env_file)
        env_row = QHBoxLayout()
        env_row.addWidget(self.env_file)
        env_row.addWidget(self.browse)
        self.app = _named(QLineEdit(), "App", "Deploys are grouped by app")
        self.environment = _named(QLineEdit(), "Environment", "production, staging, …")
        self.restart_cmd = _named(QLineEdit(), "Restart command", "Run after each config change, e.g. systemctl")
        self.maintenance_on = _named(QLineEdit(), "Maintenance on command")
        self.maintenance_off = _named(QLineEdit(), "Maintenance off command")
        self.maintenance_var = _named(QLineEdit(), "Maintenance variable", "Or: a flag variable set to 1")
        self.hook_timeout = QSpinBox()
        self.hook_timeout.setRange(1, 3600)
        self.hook_timeout.setValue(60)
        self.hook_timeout.setSuffix(" s")
        _named(self.hook_timeout, "Hook timeout")
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
        self.buttons = _buttons(self, {"add": "&Add", "import": "&Import", "edit": "&Save"}[mode])
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


class RegisterDialog(QDialog):
    """Register a resource from its handle, validated as it is typed; the password in a masked field."""

    test_requested = Signal(str)  # the full handle; the window runs the test on a worker thread

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Register a resource")
        form = QFormLayout()
        self.name = _named(QLineEdit(), "Resource name")
        self.kind = QComboBox()
        self.kind.addItem("Detect from the handle", None)
        self.kind.addItem("API key (a bare key)", handles.APIKEY)
        _named(self.kind, "Resource kind")
        self.handle = _named(QLineEdit(), "Handle", "postgresql://user@host:5432/dbname, redis://host:6379/0, …")
        self.handle.setPlaceholderText("postgresql://app@db.internal:5432/app")
        self.password = _masked_password_field()
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        _named(self.status, "Handle check")
        self.test_button = QPushButton(get_colored_icon("connection"), "&Test connection")
        self.test_button.setAccessibleName("Test connection")
        self.test_button.clicked.connect(self._test)
        self.test_result = QLabel(" ")
        self.test_result.setWordWrap(True)
        _named(self.test_result, "Connection test result")
        form.addRow("&Name:", self.name)
        form.addRow("&Kind:", self.kind)
        form.addRow("&Handle:", self.handle)
        form.addRow("&Password:", self.password)
        form.addRow("", self.status)
        form.addRow(self.test_button, self.test_result)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.buttons = _buttons(self, "&Register")
        layout.addWidget(self.buttons)
        for signal in (self.name.textChanged, self.handle.textChanged, self.password.textChanged):
            signal.connect(self.validate)
        self.kind.currentIndexChanged.connect(self.validate)
        self.parsed: handles.Handle | None = None
        self.validate()

    def kind_value(self) -> str | None:
        value = self.kind.currentData()
        return str(value) if value else None

    def full_handle(self) -> str:
        """The handle with the password field folded in (never shown anywhere)."""
        if self.kind_value() == handles.APIKEY:
            return self.password.text() or self.handle.text()
        return with_password(self.handle.text(), self.password.text())

    def validate(self) -> bool:
        self.parsed = None
        message, ok = "", False
        try:
            if self.kind_value() == handles.APIKEY:
                if not (self.password.text() or self.handle.text()):
                    raise handles.HandleError("Type the API key into the password field.")
                self.parsed = handles.parse(self.full_handle(), kind=handles.APIKEY)
                message = "An API key: kept in the keyring, attached as API_KEY by default."
            else:
                self.parsed = handles.parse(self.full_handle())
                message = (
                    f"A {self.parsed.kind} handle: {self.parsed.masked()} "
                    f"(attached as {self.parsed.default_env_var} by default)"
                )
            ok = True
        except handles.HandleError as exc:
            message = exc.message if self.handle.text() or self.password.text() else "Type the resource's handle."
        self.status.setText(message)
        self.status.setProperty("valid", ok)
        named = bool(self.name.text().strip())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok and named)
        self.test_button.setEnabled(ok and self.kind_value() != handles.APIKEY)
        return ok

    def _test(self) -> None:
        if self.validate():
            self.test_button.setEnabled(False)
            self.test_result.setText("Testing…")
            self.test_requested.emit(self.full_handle())

    def show_test_result(self, result: ProbeResult) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(("✔ " if result.ok else "✘ ") + result.message)

    def values(self) -> tuple[str, str, str | None]:
        return self.name.text().strip(), self.full_handle(), self.kind_value()


class AttachDialog(QDialog):
    """Attach a resource to a deploy under an env var (the kind's usual variable suggested)."""

    def __init__(
        self,
        resources: list[ResourceInfo],
        deploys: list[DeployInfo],
        resource: str | None = None,
        deploy: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Attach a resource")
        self.kinds = {r.name: r.kind for r in resources}
        self.holders = {(a.deploy, a.env_var): a.resource for d in deploys for a in d.attachments}
        self.resource = QComboBox()
        for info in resources:
            if info.state not in ("deprovisioned", "failed"):
                self.resource.addItem(f"{info.name} ({info.kind})", info.name)
        _named(self.resource, "Resource to attach")
        self.deploy = QComboBox()
        for d in deploys:
            self.deploy.addItem(d.name, d.name)
        _named(self.deploy, "Deploy")
        self.env_var = _named(QLineEdit(), "Env var", "The variable the deploy reads the handle from")
        self.replace = QCheckBox("&Replace what the variable holds now")
        self.replace.setAccessibleName("Replace the current value")
        form = QFormLayout()
        form.addRow("&Resource:", self.resource)
        form.addRow("&Deploy:", self.deploy)
        form.addRow("&As variable:", self.env_var)
        form.addRow("", self.replace)
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        _named(self.hint, "Attach hint")
        form.addRow("", self.hint)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.buttons = _buttons(self, "A&ttach")
        layout.addWidget(self.buttons)
        self.resource.currentIndexChanged.connect(self._suggest)
        self.env_var.textChanged.connect(self._update)
        self.deploy.currentIndexChanged.connect(self._update)
        if resource and self.resource.findData(resource) >= 0:
            self.resource.setCurrentIndex(self.resource.findData(resource))
        if deploy and self.deploy.findData(deploy) >= 0:
            self.deploy.setCurrentIndex(self.deploy.findData(deploy))
        self._suggest()

    def _suggest(self) -> None:
        kind = self.kinds.get(str(self.resource.currentData()))
        if kind:
            self.env_var.setText(handles.DEFAULT_ENV_VAR.get(kind, ""))
        self._update()

    def _update(self) -> None:
        ok = self.resource.currentIndex() >= 0 and self.deploy.currentIndex() >= 0
        ok = ok and bool(handles.ENV_VAR_NAME.match(self.env_var.text()))
        holder = self.holders.get((str(self.deploy.currentData()), self.env_var.text().strip()))
        self.hint.setText(
            f"{self.env_var.text().strip()} now holds {holder}: tick Replace to swap it (the deploy restarts once)."
            if holder and holder != self.resource.currentData()
            else ""
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def values(self) -> tuple[str, str, str, bool]:
        return (
            str(self.resource.currentData()),
            str(self.deploy.currentData()),
            self.env_var.text().strip(),
            self.replace.isChecked(),
        )


class DetachDialog(QDialog):
    """Detach a resource from one of its deploys; it is kept for a number of days."""

    def __init__(self, resource: ResourceInfo, retention_days: int = 7, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Detach {resource.name}")
        self.resource = resource
        self.deploy = QComboBox()
        for a in resource.attachments:
            self.deploy.addItem(f"{a.deploy} ({a.env_var})", a.deploy)
        _named(self.deploy, "Detach from deploy")
        self.keep_days = QSpinBox()
        self.keep_days.setRange(1, 3650)
        self.keep_days.setValue(retention_days)
        self.keep_days.setSuffix(" days")
        _named(self.keep_days, "Keep for", "How long the detached resource is kept before the reminder")
        note = QLabel(
            "The variable is removed from the deploy's config and the deploy restarted. The resource itself is "
            "kept, detached, until you deprovision it."
        )
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("&From deploy:", self.deploy)
        form.addRow("&Keep for:", self.keep_days)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        self.buttons = _buttons(self, "&Detach")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(self.deploy.count() > 0)
        layout.addWidget(self.buttons)

    def values(self) -> tuple[str, str, int]:
        return self.resource.name, str(self.deploy.currentData()), self.keep_days.value()


class DeprovisionDialog(QDialog):
    """Type the resource's name to deprovision it; refused (with the reason) while it is attached."""

    def __init__(self, resource: ResourceInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.resource = resource
        self.setWindowTitle(f"Deprovision {resource.name}")
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        _named(self.reason, "Deprovision explanation")
        self.confirm = _named(QLineEdit(), "Confirm name", "Type the resource's name to confirm")
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
        self.buttons = _buttons(self, "&Deprovision")
        layout.addWidget(self.buttons)
        self.refused = self._refusal()
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

    def _refusal(self) -> str:
        r = self.resource
        if r.attachments:
            where = ", ".join(f"{a.deploy} as {a.env_var}" for a in r.attachments)
            return f"{r.name} is attached to {where}: detach it first."
        if r.state == "deprovisioned":
            return f"{r.name} is already deprovisioned."
        return ""

    def _update(self) -> None:
        ok = not self.refused and self.confirm.text() == self.resource.name
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def values(self) -> tuple[str, str, bool]:
        return self.resource.name, self.confirm.text(), self.final_backup.isChecked()


class KeepUntilDialog(QDialog):
    def __init__(self, resource: ResourceInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.resource = resource
        self.setWindowTitle(f"Keep {resource.name} until…")
        self.date = QDateEdit()
        self.date.setCalendarPopup(True)
        start = resource.keep_until.astimezone() if resource.keep_until else datetime.now().astimezone()
        self.date.setDate(QDate(start.year, start.month, start.day).addDays(7))
        _named(self.date, "Keep until date")
        form = QFormLayout()
        form.addRow("&Keep until:", self.date)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(_buttons(self, "&Keep"))

    def values(self) -> tuple[str, datetime]:
        d = self.date.date()
        local = datetime.combine(datetime(d.year(), d.month(), d.day()).date(), time(23, 59)).astimezone()
        return self.resource.name, local.astimezone(UTC)


class ReplaceSecretDialog(QDialog):
    def __init__(self, credential: Credential, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.credential = credential
        self.setWindowTitle(f"Replace the secret of {credential.owner}")
        self.secret = _named(QLineEdit(), "New secret", "The new password, token or key")
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        note = QLabel(
            f"The keyring entry of {credential.owner} ({credential.handle}) is replaced. Deploys it is attached "
            "to keep the old value until it is attached again."
        )
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("New &secret:", self.secret)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        self.buttons = _buttons(self, "&Replace")
        layout.addWidget(self.buttons)
        self.secret.textChanged.connect(
            lambda text: self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(text))
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)

    def values(self) -> tuple[str, str]:
        return self.credential.owner, self.secret.text()


class RotateDialog(QDialog):
    """Confirm a password rotation: what will happen, in the order it happens."""

    def __init__(self, credential: Credential, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.credential = credential
        self.setWindowTitle(f"Rotate the password of {credential.owner}")
        note = QLabel(
            f"A new password is set for the database user of {credential.owner} on {credential.server}, stored in "
            "the keyring, and written into the config of every deploy the database is attached to; each of those "
            "deploys is then restarted. The old password stops working at once."
        )
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        self.buttons = _buttons(self, "R&otate")
        layout.addWidget(self.buttons)


def can_rotate(credential: Credential | None) -> bool:
    """Only a user Changeover made on a PostgreSQL or MariaDB server can be given a new password by it."""
    return (
        credential is not None
        and credential.owner_type == "resource"
        and credential.origin == "provisioned"
        and credential.kind in ("postgresql", "mysql")
    )


class CredentialsDialog(QDialog):
    """Every secret Changeover keeps in the keyring, by resource: reveal briefly, copy, replace."""

    reveal_requested = Signal(str)  # resource name; the window answers with show_revealed()
    replace_requested = Signal(str, str)  # resource name, new secret
    rotate_requested = Signal(str)  # resource name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Credentials in the keyring")
        self.setMinimumSize(820, 320)
        self.model = CredentialsModel(self)
        self.proxy = record_proxy(self.model, self)
        self.table = _record_table(self.proxy, "Credentials", "Secrets Changeover keeps in the OS keyring")
        self.reveal_button = QPushButton(get_colored_icon("reveal"), "Re&veal")
        self.copy_button = QPushButton(get_colored_icon("copy"), "&Copy secret")
        self.replace_button = QPushButton(get_colored_icon("edit"), "&Replace…")
        self.rotate_button = QPushButton(get_colored_icon("refresh"), "R&otate…")
        for button, name in (
            (self.reveal_button, "Reveal secret"),
            (self.copy_button, "Copy secret"),
            (self.replace_button, "Replace secret"),
            (self.rotate_button, "Rotate password"),
        ):
            button.setAccessibleName(name)
        self.reveal_button.setShortcut(QKeySequence("Ctrl+R"))
        self.copy_button.setShortcut(QKeySequence(QKeySequence.StandardKey.Copy))
        self.note = QLabel(
            f"Revealed secrets are hidden again after {REVEAL_MS // 1000} s; a copied secret is cleared from the "
            f"clipboard after {CLIPBOARD_MS // 1000} s."
        )
        self.note.setWordWrap(True)
        buttons = QHBoxLayout()
        for button in (self.reveal_button, self.copy_button, self.replace_button, self.rotate_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.note)
        layout.addLayout(buttons)
        self.hide_timer = QTimer(self)
        self.hide_timer.setSingleShot(True)
        self.hide_timer.setInterval(REVEAL_MS)
        self.hide_timer.timeout.connect(self.model.hide)
        self.clipboard_timer = QTimer(self)
        self.clipboard_timer.setSingleShot(True)
        self.clipboard_timer.setInterval(CLIPBOARD_MS)
        self.clipboard_timer.timeout.connect(self.clear_clipboard)
        self.copied = ""
        self._copy_pending = ""
        self.reveal_button.clicked.connect(self.reveal_selected)
        self.copy_button.clicked.connect(self.copy_selected)
        self.replace_button.clicked.connect(self.replace_selected)
        self.rotate_button.clicked.connect(self.rotate_selected)
        self.table.selectionModel().selectionChanged.connect(self._update)
        self.finished.connect(lambda _result: self.model.hide())
        self._update()

    def set_credentials(self, credentials: list[Credential]) -> None:
        self.model.hide()
        self.model.set_records(credentials)
        if credentials and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)
        self._update()

    def selected(self) -> Credential | None:
        return _selected(self.table, Credential)

    def select(self, owner: str) -> None:
        for row in range(self.proxy.rowCount()):
            record = self.proxy.index(row, 0).data(PAYLOAD_ROLE)
            if isinstance(record, Credential) and record.owner_type == "resource" and record.owner == owner:
                self.table.selectRow(row)
                return

    def _update(self) -> None:
        credential = self.selected()
        usable = credential is not None and credential.owner_type == "resource"
        for button in (self.reveal_button, self.copy_button, self.replace_button):
            button.setEnabled(usable)
            button.setToolTip(
                ""
                if usable or credential is None
                else "A server's admin secret is shown and replaced by registering the server again."
            )
        rotatable = can_rotate(credential)
        self.rotate_button.setEnabled(rotatable)
        self.rotate_button.setToolTip(
            "Set a new password on the server, in the keyring and in every attached deploy's config"
            if rotatable
            else "Only the user of a database Changeover provisioned on a PostgreSQL or MariaDB server can be "
            "rotated here; change other passwords where they live, then Replace."
        )

    def reveal_selected(self) -> None:
        credential = self.selected()
        if credential is not None:
            self.reveal_requested.emit(credential.owner)

    def copy_selected(self) -> None:
        credential = self.selected()
        if credential is not None:
            self._copy_pending = credential.owner
            self.reveal_requested.emit(credential.owner)

    def show_revealed(self, owner: str, full_handle: str) -> None:
        """Called with a secret the user asked for: copy it, or show it until the timer hides it."""
        if self._copy_pending == owner:
            self._copy_pending = ""
            from .controller import secret_values

            self.copied = "".join(secret_values(full_handle)[:1])
            QGuiApplication.clipboard().setText(self.copied)
            self.clipboard_timer.start()
            self.note.setText(f"Copied the secret of {owner}; the clipboard is cleared in {CLIPBOARD_MS // 1000} s.")
            return
        self.model.reveal(owner, full_handle)
        self.hide_timer.start()

    def clear_clipboard(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if self.copied and clipboard.text() == self.copied:
            clipboard.clear()
        self.copied = ""

    def replace_selected(self) -> None:
        credential = self.selected()
        if credential is None:
            return
        dialog = ReplaceSecretDialog(credential, self)
        dialog.accepted.connect(lambda: self.replace_requested.emit(*dialog.values()))
        self.replace_dialog = dialog
        dialog.open()

    def rotate_selected(self) -> None:
        credential = self.selected()
        if not can_rotate(credential):
            return
        assert credential is not None
        dialog = RotateDialog(credential, self)
        dialog.accepted.connect(lambda: self.rotate_requested.emit(credential.owner))
        self.rotate_dialog = dialog
        dialog.open()


class AddServerDialog(QDialog):
    """Register a database server: an admin handle (its password in a masked field) or a SQLite folder.

    The form is checked as it is typed; the core checks it again and reaches the server before storing it.
    """

    #: kind, what the choice says, an example admin handle (none for a folder)
    KINDS = (
        ("postgresql", "PostgreSQL", "postgresql://postgres@db.internal:5432/postgres"),
        ("mysql", "MariaDB/MySQL", "mysql://root@db.internal:3306/mysql"),
        ("sqlite", "SQLite folder", ""),
    )

    def __init__(self, taken: Iterable[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a database server")
        self.taken = set(taken)
        self.name = _named(QLineEdit(), "Server name", "Letters, digits, dots, dashes, underscores")
        self.kind = QComboBox()
        for kind, text, _example in self.KINDS:
            self.kind.addItem(text, kind)
        _named(self.kind, "Server kind")
        self.handle = _named(QLineEdit(), "Admin handle", "A user that may create databases and users")
        self.password = _masked_password_field("Admin password")
        self.folder = _named(QLineEdit(), "SQLite folder", "An existing folder; each database is a file in it")
        self.folder.setPlaceholderText("/srv/sqlite")
        self.browse = QPushButton("&Browse…")
        self.browse.setAccessibleName("Browse for the SQLite folder")
        self.browse.clicked.connect(self.pick_folder)
        self.folder_row = QHBoxLayout()
        self.folder_row.addWidget(self.folder)
        self.folder_row.addWidget(self.browse)
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        _named(self.status, "Server check")
        self.form = QFormLayout()
        self.form.addRow("&Name:", self.name)
        self.form.addRow("&Kind:", self.kind)
        self.form.addRow("Admin &handle:", self.handle)
        self.form.addRow("&Password:", self.password)
        folder_label = QLabel("&Folder:")
        folder_label.setBuddy(self.folder)
        self.form.addRow(folder_label, self.folder_row)
        self.form.addRow("", self.status)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        self.buttons = _buttons(self, "&Add server")
        layout.addWidget(self.buttons)
        for signal in (self.name.textChanged, self.handle.textChanged, self.password.textChanged):
            signal.connect(self.validate)
        self.folder.textChanged.connect(self.validate)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

    def kind_value(self) -> str:
        return str(self.kind.currentData())

    def _kind_changed(self) -> None:
        folder = self.kind_value() == "sqlite"
        for field in (self.handle, self.password):
            self.form.setRowVisible(field, not folder)
        self.form.setRowVisible(self.folder_row, folder)
        example = next(e for k, _t, e in self.KINDS if k == self.kind_value())
        self.handle.setPlaceholderText(example)
        self.validate()

    def full_handle(self) -> str:
        """What ``register_server`` takes: the admin handle with its password folded in, or the folder."""
        if self.kind_value() == "sqlite":
            return self.folder.text().strip()
        return with_password(self.handle.text(), self.password.text())

    def _where_problem(self) -> tuple[str, bool]:
        """The check of the handle or folder: (message, ok)."""
        kind = self.kind_value()
        if kind == "sqlite":
            text = self.folder.text().strip()
            if not text:
                return "Choose the folder the SQLite database files go in.", False
            folder = Path(text).expanduser()
            if not folder.is_absolute():
                return "Give the folder as an absolute path, for example /srv/sqlite.", False
            if not folder.is_dir():
                return f"The folder {folder} does not exist: create it first.", False
            return f"Each database provisioned here is a SQLite file in {folder}.", True
        if not self.handle.text().strip():
            example = next(e for k, _t, e in self.KINDS if k == kind)
            return f"Type the server's admin handle, for example {example}.", False
        try:
            parsed = handles.parse(self.full_handle())
        except handles.HandleError as exc:
            return exc.message, False
        if parsed.kind != kind:
            return (
                f"That is a {parsed.kind} handle, not a {SERVER_KIND_TEXT[kind]} one: choose its kind above.",
                False,
            )
        secret = " (the password goes to the keyring)" if parsed.secrets else ""
        return f"A {SERVER_KIND_TEXT[kind]} admin handle: {parsed.masked()}{secret}.", True

    def validate(self) -> bool:
        message, ok = self._where_problem()
        name = self.name.text().strip()
        if ok and not name:
            message, ok = "Name the server.", False
        elif ok:
            try:
                validate_name(name, "server")
            except InvalidInput as exc:
                message, ok = exc.message, False
            else:
                if name in self.taken:
                    message, ok = f"A server named '{name}' already exists: choose another name.", False
        self.status.setText(message)
        self.status.setProperty("valid", ok)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        return ok

    def pick_folder(self) -> None:
        dialog = QFileDialog(self, "Choose the folder for SQLite databases", self.folder.text())
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(self.folder.setText)
        dialog.open()
        self.file_dialog = dialog

    def values(self) -> tuple[str, str]:
        return self.name.text().strip(), self.full_handle()


class ProvisionDialog(QDialog):
    """Provision a database (with its own user) on a server; a plan only where the server has plans."""

    def __init__(self, server: ServerInfo, taken: Iterable[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.server = server
        self.taken = set(taken)
        self.setWindowTitle(f"Provision a database on {server.name}")
        self.name = _named(QLineEdit(), "Resource name", "The new resource; its database is named after it")
        self.plan = _named(QLineEdit(), "Plan", "A size or plan, for cloud providers such as AWS RDS")
        self.plan.setEnabled(server.has_plans)
        if not server.has_plans:
            self.plan.setPlaceholderText("none: this server has no sizes or plans")
            self.plan.setToolTip("Plans apply to cloud providers such as AWS RDS; this server has none.")
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        _named(self.status, "Provision check")
        form = QFormLayout()
        form.addRow("&Name:", self.name)
        form.addRow("P&lan:", self.plan)
        form.addRow("", self.status)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.buttons = _buttons(self, "&Provision")
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self.validate)
        self.validate()

    def validate(self) -> bool:
        name = self.name.text().strip()
        ok = False
        if not name:
            message = "Name the new resource."
        elif name in self.taken:
            message = f"A resource named '{name}' already exists: choose another name."
        else:
            try:
                validate_name(name, "resource")
            except InvalidInput as exc:
                message = exc.message
            else:
                ok = True
                database = database_name(name)
                if self.server.kind == "sqlite":
                    message = f"Creates the SQLite database {database} in {self.server.handle}."
                else:
                    message = (
                        f"Creates the database {database} and its own user {database} on {self.server.name}; "
                        "the generated password goes to the keyring."
                    )
        self.status.setText(message)
        self.status.setProperty("valid", ok)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        return ok

    def values(self) -> tuple[str, str, str | None]:
        plan = self.plan.text().strip() if self.server.has_plans else ""
        return self.server.name, self.name.text().strip(), plan or None


class ServersDialog(QDialog):
    """The database servers Changeover provisions on: add, remove, provision a database on one."""

    register_requested = Signal(str, str)  # server name, full admin handle (or folder)
    remove_requested = Signal(str)  # server name
    provision_requested = Signal(str, str, object)  # server name, resource name, plan or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Database servers")
        self.setMinimumSize(760, 300)
        self.resource_names: set[str] = set()
        self._select_next = ""
        self.model = ServersModel(self)
        self.proxy = record_proxy(self.model, self)
        self.table = _record_table(self.proxy, "Servers", "Database servers Changeover provisions databases on")
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a long folder keeps both of its ends
        self.add_button = QPushButton(get_colored_icon("add"), "&Add…")
        self.remove_button = QPushButton(get_colored_icon("remove"), "&Remove…")
        self.provision_button = QPushButton(get_colored_icon("register"), "&Provision database…")
        for button, name in (
            (self.add_button, "Add server"),
            (self.remove_button, "Remove server"),
            (self.provision_button, "Provision database"),
        ):
            button.setAccessibleName(name)
        self.note = QLabel()
        self.note.setWordWrap(True)
        _named(self.note, "Servers note")
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.provision_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.note)
        layout.addLayout(buttons)
        self.add_button.clicked.connect(self.add)
        self.remove_button.clicked.connect(self.remove_selected)
        self.provision_button.clicked.connect(self.provision_selected)
        self.table.selectionModel().selectionChanged.connect(self._update)
        self._update()

    def set_servers(self, servers: list[ServerInfo], resource_names: Iterable[str] = ()) -> None:
        """Show ``servers``; ``resource_names`` are the names a new database may not take."""
        self.resource_names = set(resource_names)
        previous = self.selected()
        self.model.set_records(servers)
        wanted = self._select_next or (previous.name if previous else "")
        if wanted and any(s.name == wanted for s in servers):
            self._select_next = ""
            self.select(wanted)
        elif servers and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)
        self._update()

    def selected(self) -> ServerInfo | None:
        return _selected(self.table, ServerInfo)

    def select(self, name: str) -> bool:
        row = self.model.row_of(name)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.selectRow(index.row())
        return True

    def _update(self) -> None:
        server = self.selected()
        self.remove_button.setEnabled(server is not None)
        self.provision_button.setEnabled(server is not None)
        if self.model.rowCount() == 0:
            self.note.setText(
                "No server is registered. Add one: a PostgreSQL or MariaDB/MySQL admin handle (its password goes "
                "to the keyring), or a folder for SQLite files."
            )
        elif server is None:
            self.note.setText("Select a server to provision a database on it or to remove it.")
        else:
            made = (
                f"Each database provisioned on {server.name} is a SQLite file in its folder."
                if server.kind == "sqlite"
                else f"Each database provisioned on {server.name} gets its own user, its password kept in the keyring."
            )
            carries = f" It carries {', '.join(server.resources)}." if server.resources else ""
            self.note.setText(made + carries)

    def add(self) -> AddServerDialog:
        dialog = AddServerDialog((s.name for s in self.model.records()), self)

        def submit() -> None:
            name, handle_text = dialog.values()
            self._select_next = name
            self.register_requested.emit(name, handle_text)

        dialog.accepted.connect(submit)
        self.add_dialog = dialog
        dialog.open()
        return dialog

    def remove_selected(self) -> ConfirmDialog | None:
        server = self.selected()
        if server is None:
            return None
        carries = (
            f" It still carries {', '.join(server.resources)}: Changeover refuses to forget it until those are "
            "deprovisioned."
            if server.resources
            else ""
        )
        dialog = ConfirmDialog(
            f"Remove the server {server.name}",
            f"Forget the server {server.name} and delete its admin secret from the keyring? Nothing on the server "
            f"itself is changed.{carries}",
            "&Remove",
            self,
        )
        dialog.accepted.connect(lambda: self.remove_requested.emit(server.name))
        self.remove_dialog = dialog
        dialog.open()
        return dialog

    def provision_selected(self) -> ProvisionDialog | None:
        server = self.selected()
        if server is None:
            return None
        dialog = ProvisionDialog(server, self.resource_names, self)
        dialog.accepted.connect(lambda: self.provision_requested.emit(*dialog.values()))
        self.provision_dialog = dialog
        dialog.open()
        return dialog


def error_box(parent: QWidget | None, title: str, message: str, log_path: str | None = None) -> QMessageBox:
    """A non-blocking message box for an error (a ChangeoverError's title and message carry no secret)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning if log_path is None else QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(title)
    text = message if log_path is None else f"{message}\n\nDetails were written to the log: {log_path}"
    box.setInformativeText(text)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAccessibleName("Error")
    # Room for the message (the text labels only; no colours, so any palette works).
    box.setStyleSheet("QLabel#qt_msgbox_label, QLabel#qt_msgbox_informativelabel { min-width: 360px; }")
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    return box
