"""2. The target: a server to provision on, or an existing empty database by handle (Test connection)."""

from __future__ import annotations

import logging
from datetime import datetime

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWizardPage,
)

from changeover.core import handles, servers
from changeover.core.health import ConnectionResult, check_connection
from changeover.core.servers import ServerInfo

from ..icons import get_colored_icon
from ..widgets import password_field, with_password
from .common import (
    WizardHost,
    error_text,
    wrapped_label,
)

logger = logging.getLogger(__name__)


class TargetPage(QWizardPage):
    def __init__(self, wizard: WizardHost) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("The new database")
        self.setSubTitle("Provision it on a registered server, or give an existing empty database.")
        self.servers: dict[str, ServerInfo] = {}
        self.loaded = False
        self.provision = QRadioButton("&Provision a new database on a registered server")
        self.existing = QRadioButton("Use an &existing empty database")
        group = QButtonGroup(self)
        group.addButton(self.provision)
        group.addButton(self.existing)
        self.provision.setChecked(True)
        self.server = QComboBox()
        self.server.setAccessibleName("Server to provision on")
        self.server_info = wrapped_label(name="Server")
        self.plan = QLineEdit()
        self.plan.setAccessibleName("Size or plan")
        self.plan_choices = QComboBox()  # the sizes a server offers by name (RDS classes with vCPU and memory)
        self.plan_choices.setAccessibleName("Plans this server offers")
        self.target_name = QLineEdit()
        self.target_name.setAccessibleName("Name of the new database")
        self.handle = QLineEdit()
        self.handle.setAccessibleName("Handle of the new database")
        self.handle.setPlaceholderText("postgresql://app@db-new.internal:5432/app")
        self.password = password_field()
        self.handle_status = wrapped_label(name="Handle check")
        self.test_button = QPushButton(get_colored_icon("connection"), "&Test connection")
        self.test_button.setAccessibleName("Test connection")
        self.test_result = wrapped_label(name="Connection test result")
        self.engine_note = wrapped_label(name="Engine note")
        self.registerField("provision", self.provision)
        self.registerField("server", self.server, "currentText", self.server.currentTextChanged)
        self.registerField("plan", self.plan)
        self.registerField("target_name", self.target_name)
        self.registerField("handle", self.handle)

        provision_box = QGroupBox()
        provision_form = QFormLayout(provision_box)
        provision_form.addRow("&Server:", self.server)
        provision_form.addRow("", self.server_info)
        provision_form.addRow("Size or p&lan:", self.plan)
        provision_form.addRow("", self.plan_choices)
        existing_box = QGroupBox()
        existing_form = QFormLayout(existing_box)
        existing_form.addRow("&Handle:", self.handle)
        existing_form.addRow("Pass&word:", self.password)
        existing_form.addRow("", self.handle_status)
        existing_form.addRow(self.test_button, self.test_result)
        name_form = QFormLayout()
        name_form.addRow("Na&me in the inventory:", self.target_name)  # Alt+N is the wizard's Next
        layout = QVBoxLayout(self)
        layout.addWidget(self.provision)
        layout.addWidget(provision_box)
        layout.addWidget(self.existing)
        layout.addWidget(existing_box)
        layout.addLayout(name_form)
        layout.addWidget(self.engine_note)
        layout.addStretch(1)
        self.provision_box, self.existing_box = provision_box, existing_box

        self.provision.toggled.connect(self._update)
        self.server.currentTextChanged.connect(self._update)
        self.plan_choices.activated.connect(lambda _: self.plan.setText(str(self.plan_choices.currentData() or "")))
        self.handle.textChanged.connect(self._update)
        self.password.textChanged.connect(self._update)
        self.test_button.clicked.connect(self.test_connection)

    def initializePage(self) -> None:  # noqa: N802
        source = self.wiz.source()
        if source is not None:
            self.target_name.setPlaceholderText(f"{source.name}-{datetime.now().strftime('%Y%m%d')} (the default)")
        if not self.loaded:
            self.server_info.setText("Reading the registered servers…")
            self.wiz.work(
                lambda: servers.list_servers(self.wiz.workspace),
                name="list the servers",
                on_finished=self._show_servers,
                on_failed=lambda e: self.server_info.setText(error_text(e)),
            )
        self._update()

    def _show_servers(self, servers: list[ServerInfo]) -> None:
        self.loaded = True
        self.servers = {s.name: s for s in servers}
        self.server.blockSignals(True)
        self.server.clear()
        self.server.addItems(list(self.servers))
        source = self.wiz.source()
        same = next((s.name for s in servers if source is not None and s.kind == source.kind), None)
        if same is not None:  # a server of the source's engine first: the safe, same-engine upgrade
            self.server.setCurrentText(same)
        self.server.blockSignals(False)
        if not servers:
            self.provision.setEnabled(False)
            self.existing.setChecked(True)
            self.server_info.setText("No server is registered: register one with `changeover server add`.")
        self._update()

    def full_handle(self) -> str:
        return with_password(self.handle.text(), self.password.text())

    def target_kind(self) -> str | None:
        if self.provision.isChecked():
            server = self.servers.get(self.server.currentText())
            source = self.wiz.source()
            if server is not None and server.kind in servers.CLOUD_KINDS:  # a new instance runs the source's engine
                return source.kind if source is not None else None
            return server.kind if server else None
        try:
            parsed = handles.parse(self.full_handle())
        except handles.HandleError:
            return None
        return parsed.kind if parsed.is_database else None

    def _update(self) -> None:
        provision = self.provision.isChecked()
        self.provision_box.setEnabled(provision)
        self.existing_box.setEnabled(not provision)
        server = self.servers.get(self.server.currentText())
        if server is not None:
            version = server.version or "version unknown"
            self.server_info.setText(f"{server.kind} {version} at {server.handle}")
            self.plan.setEnabled(server.has_plans)
            self.plan.setPlaceholderText(
                "for example db.t3.medium" if server.has_plans else "this server has no sizes or plans"
            )
            self._offer_plans(server)
        self._check_handle()
        source = self.wiz.source()
        kind = self.target_kind()
        if source is not None and kind is not None and kind != source.kind:
            self.engine_note.setText(
                f"<b>A cross-engine move</b> from {source.kind} to {kind}: the next page lists what is adapted "
                "and what cannot carry."
            )
        else:
            self.engine_note.setText("")
        self.completeChanged.emit()

    def _offer_plans(self, server: ServerInfo) -> None:
        """The server's named plans in the list under the field (hidden when it has none)."""
        names = [str(self.plan_choices.itemData(i)) for i in range(self.plan_choices.count())][1:]
        if names != [p.name for p in server.plans]:
            self.plan_choices.clear()
            self.plan_choices.addItem("Choose a plan…", "")
            for plan in server.plans:
                self.plan_choices.addItem(str(plan), plan.name)
        self.plan_choices.setVisible(bool(server.plans))

    def _check_handle(self) -> bool:
        if not self.handle.text().strip():
            self.handle_status.setText("Type the new database's handle; its password goes in the field below.")
            self.test_button.setEnabled(False)
            return False
        try:
            parsed = handles.parse(self.full_handle())
        except handles.HandleError as exc:
            self.handle_status.setText(exc.message)
            self.test_button.setEnabled(False)
            return False
        if not parsed.is_database:
            self.handle_status.setText(f"A {parsed.kind} handle is not a database.")
            self.test_button.setEnabled(False)
            return False
        self.handle_status.setText(f"A {parsed.kind} database: {parsed.masked()}")
        self.test_button.setEnabled(True)
        return True

    def test_connection(self) -> None:
        if not self._check_handle():
            return
        self.test_button.setEnabled(False)
        self.test_result.setText("Testing…")
        text = self.full_handle()
        self.wiz.work(
            lambda: check_connection(text),
            name="test the connection",
            on_finished=self._show_test,
            on_failed=lambda e: self._show_test(ConnectionResult(False, error_text(e))),
        )

    def _show_test(self, result: ConnectionResult) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(("✔ " if result.ok else "✘ ") + result.message)

    def isComplete(self) -> bool:  # noqa: N802
        if self.provision.isChecked():
            return self.server.currentText() in self.servers
        return bool(self.handle.text().strip()) and self.target_kind() is not None
