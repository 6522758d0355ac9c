"""Database servers: add one (checked by the core as it is typed), remove one, provision a database on one."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
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

from changeover.core.context import validate_name
from changeover.core.errors import ChangeoverError, InvalidInput
from changeover.core.providers import rds
from changeover.core.providers.base import InstanceOptions
from changeover.core.servers import (
    CLOUD_KINDS,
    KIND_CHOICES,
    ServerInfo,
    database_name,
    is_folder,
    parse_server_location,
)

from ..icons import get_colored_icon
from ..models import (
    SERVER_KIND_TEXT,
    ServersModel,
    record_proxy,
)
from ..widgets import (
    ConfirmDialog,
    GrowToFit,
    dialog_buttons,
    manager_layout,
    named,
    password_field,
    record_table,
    selected_record,
    with_password,
)

logger = logging.getLogger(__name__)


class AddServerDialog(QDialog):
    """Register a database server: an admin handle (its password in a masked field) or a SQLite folder.

    The form is checked as it is typed; the core checks it again and reaches the server before storing it.
    """

    #: kind, what the choice says, an example admin handle (none for a folder)
    KINDS = KIND_CHOICES

    def __init__(self, taken: Iterable[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a database server")
        self.taken = set(taken)
        self.name = named(QLineEdit(), "Server name", "Letters, digits, dots, dashes, underscores")
        self.kind = QComboBox()
        for kind, text, _example in self.KINDS:
            self.kind.addItem(text, kind)
        named(self.kind, "Server kind")
        self.handle = named(QLineEdit(), "Admin handle", "A user that may create databases and users")
        self.password = password_field("Admin password")
        self.folder = named(QLineEdit(), "SQLite folder", "An existing folder; each database is a file in it")
        self.folder.setPlaceholderText("/srv/sqlite")
        self.browse = QPushButton("&Browse…")
        self.browse.setAccessibleName("Browse for the SQLite folder")
        self.browse.clicked.connect(self.pick_folder)
        self.folder_row = QHBoxLayout()
        self.folder_row.addWidget(self.folder)
        self.folder_row.addWidget(self.browse)
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        named(self.status, "Server check")
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
        self.buttons = dialog_buttons(self, "&Add server")
        layout.addWidget(self.buttons)
        self.grow = GrowToFit(self)
        for signal in (self.name.textChanged, self.handle.textChanged, self.password.textChanged):
            signal.connect(self.validate)
        self.folder.textChanged.connect(self.validate)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

    def kind_value(self) -> str:
        return str(self.kind.currentData())

    def _kind_changed(self) -> None:
        folder = is_folder(self.kind_value())
        cloud = self.kind_value() in CLOUD_KINDS  # an AWS account and region: credentials the AWS way, no password
        self.form.setRowVisible(self.handle, not folder)
        self.form.setRowVisible(self.password, not folder and not cloud)
        label = self.form.labelForField(self.handle)
        if isinstance(label, QLabel):
            label.setText("&Region:" if cloud else "Admin &handle:")
        self.handle.setToolTip(
            "rds://REGION or s3://REGION (optionally ?profile=NAME); credentials come from your AWS profile, "
            "environment or role, never stored by Changeover"
            if cloud
            else "A user that may create databases and users"
        )
        self.form.setRowVisible(self.folder_row, folder)
        example = next(e for k, _t, e in self.KINDS if k == self.kind_value())
        self.handle.setPlaceholderText(example)
        self.validate()

    def full_handle(self) -> str:
        """What ``register_server`` takes: the admin handle with its password folded in, or the folder."""
        if is_folder(self.kind_value()):
            return self.folder.text().strip()
        if self.kind_value() in CLOUD_KINDS:
            return self.handle.text().strip()
        return with_password(self.handle.text(), self.password.text())

    def _where_problem(self) -> tuple[str, bool]:
        """The core's check of the handle or folder (``parse_server_location``): (message, ok)."""
        kind = self.kind_value()
        text = self.full_handle()
        if not text:
            if is_folder(kind):
                return "Choose the folder the SQLite database files go in.", False
            example = next(e for k, _t, e in self.KINDS if k == kind)
            return f"Type the server's admin handle, for example {example}.", False
        # A folder typed without its leading slash still reads as a folder (and is refused as relative).
        location = text if not is_folder(kind) or text.startswith(("/", "~")) else f"sqlite:///{text}"
        try:
            found, where = parse_server_location(location)
        except ChangeoverError as exc:
            return exc.message, False
        if found != kind:
            return f"That is a {found} handle, not a {SERVER_KIND_TEXT[kind]} one: choose its kind above.", False
        if isinstance(where, Path):
            return f"Each database provisioned here is a SQLite file in {where}.", True
        if kind in CLOUD_KINDS:
            return (
                f"{SERVER_KIND_TEXT[kind]} in {where.masked()}: credentials are your AWS profile's, environment's "
                "or role's, never stored by Changeover.",
                True,
            )
        secret = " (the password goes to the keyring)" if where.secrets else ""
        return f"A {SERVER_KIND_TEXT[kind]} admin handle: {where.masked()}{secret}.", True

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
        self.name = named(QLineEdit(), "Resource name", "The new resource; its database is named after it")
        self.instance = server.kind == rds.KIND  # each database is its own RDS instance
        self.plan = named(QLineEdit(), "Plan", "A size or plan, for cloud providers such as AWS RDS")
        self.plan.setEnabled(server.has_plans)
        if not server.has_plans:
            self.plan.setPlaceholderText("none: this server has no sizes or plans")
            self.plan.setToolTip("Plans apply to cloud providers such as AWS RDS; this server has none.")
        self.plans = named(QComboBox(), "Instance class", "The RDS instance class: its vCPUs and memory")
        self.plans.setEditable(True)  # another db.FAMILY.SIZE is passed to AWS as it is
        for plan in server.plans or rds.PLANS:
            self.plans.addItem(str(plan), plan.name)
        default = self.plans.findData("db.t4g.micro")
        self.plans.setCurrentIndex(max(default, 0))
        self.engine = named(QComboBox(), "Engine", "The database engine of the new RDS instance")
        for engine in rds.ENGINES:
            self.engine.addItem({"postgres": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB"}[engine], engine)
        self.version = named(QLineEdit(), "Engine version", "Empty: the engine's default version in the region")
        self.version.setPlaceholderText("the region's default")
        self.storage = named(QSpinBox(), "Storage", "Allocated storage in GB")
        self.storage.setRange(*rds.STORAGE_GB)
        self.storage.setValue(rds.DEFAULT_STORAGE_GB)
        self.storage.setSuffix(" GB")
        self.public = QCheckBox("Publicly &accessible (off: reachable only inside its VPC)")
        self.public.setAccessibleName("Publicly accessible")
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        named(self.status, "Provision check")
        form = QFormLayout()
        form.addRow("&Name:", self.name)
        if self.instance:
            form.addRow("&Engine:", self.engine)
            form.addRow("&Version:", self.version)
            form.addRow("P&lan:", self.plans)
            form.addRow("&Storage:", self.storage)
            form.addRow("", self.public)
        else:
            form.addRow("P&lan:", self.plan)
        form.addRow("", self.status)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.buttons = dialog_buttons(self, "&Provision")
        layout.addWidget(self.buttons)
        self.grow = GrowToFit(self)  # the RDS hint is long: the dialog grows to show all of it
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
                if self.instance:
                    message = (
                        f"Creates an Amazon RDS instance for {database} in {self.server.handle} (encrypted, deletion "
                        "protection on; the generated master password goes to the keyring). It takes minutes: the "
                        "progress shows its status, and Cancel deletes the unfinished instance."
                    )
                elif is_folder(self.server.kind):
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

    def plan_value(self) -> str:
        if self.instance:
            typed = self.plans.currentText().strip()
            chosen = self.plans.currentData()
            return (
                str(chosen) if chosen is not None and typed == self.plans.itemText(self.plans.currentIndex()) else typed
            )
        return self.plan.text().strip() if self.server.has_plans else ""

    def values(self) -> tuple[str, str, str | None, InstanceOptions | None]:
        """server, resource name, plan, and for RDS the instance's engine, version, storage and exposure."""
        instance = (
            InstanceOptions(
                engine=str(self.engine.currentData()),
                version=self.version.text().strip() or None,
                storage_gb=self.storage.value(),
                public=self.public.isChecked(),
            )
            if self.instance
            else None
        )
        return self.server.name, self.name.text().strip(), self.plan_value() or None, instance


class ServersDialog(QDialog):
    """The database servers Changeover provisions on: add, remove, provision a database on one."""

    register_requested = Signal(str, str)  # server name, full admin handle (or folder)
    remove_requested = Signal(str)  # server name
    provision_requested = Signal(str, str, object, object)  # server, resource name, plan or None, InstanceOptions

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Database servers")
        self.setMinimumSize(760, 300)
        self.resource_names: set[str] = set()
        self._select_next = ""
        self.model = ServersModel(self)
        self.proxy = record_proxy(self.model, self)
        self.table = record_table(self.proxy, "Servers", "Database servers Changeover provisions databases on")
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
        named(self.note, "Servers note")
        manager_layout(self, (self.table, self.note), (self.add_button, self.remove_button, self.provision_button))
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
        return selected_record(self.table, ServerInfo)

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
                if is_folder(server.kind)
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
            destructive=True,
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
