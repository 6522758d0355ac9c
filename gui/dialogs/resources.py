"""Register a resource by its handle (with Test connection), and keep a detached one longer."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from changeover.core import handles
from changeover.core.health import ConnectionResult
from changeover.core.records import ResourceInfo

from ..icons import get_colored_icon
from ..widgets import GrowToFit, dialog_buttons, named, password_field, with_password

logger = logging.getLogger(__name__)


class RegisterDialog(QDialog):
    """Register a resource from its handle, validated as it is typed; the password in a masked field."""

    test_requested = Signal(str)  # the full handle; the window runs the test on a worker thread

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Register a resource")
        form = QFormLayout()
        self.name = named(QLineEdit(), "Resource name")
        self.kind = QComboBox()
        self.kind.addItem("Detect from the handle", None)
        self.kind.addItem("API key (a bare key)", handles.APIKEY)
        named(self.kind, "Resource kind")
        self.handle = named(QLineEdit(), "Handle", "postgresql://user@host:5432/dbname, redis://host:6379/0, …")
        self.handle.setPlaceholderText("postgresql://app@db.internal:5432/app")
        self.password = password_field()
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        named(self.status, "Handle check")
        self.test_button = QPushButton(get_colored_icon("connection"), "&Test connection")
        self.test_button.setAccessibleName("Test connection")
        self.test_button.clicked.connect(self._test)
        self.test_result = QLabel(" ")
        self.test_result.setWordWrap(True)
        named(self.test_result, "Connection test result")
        form.addRow("&Name:", self.name)
        form.addRow("&Kind:", self.kind)
        form.addRow("&Handle:", self.handle)
        form.addRow("&Password:", self.password)
        form.addRow("", self.status)
        form.addRow(self.test_button, self.test_result)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.buttons = dialog_buttons(self, "&Register")
        layout.addWidget(self.buttons)
        self.grow = GrowToFit(self)  # the handle check grows as the handle is typed
        self.handle.textChanged.connect(self.split_password)
        for signal in (self.name.textChanged, self.handle.textChanged, self.password.textChanged):
            signal.connect(self.validate)
        self.kind.currentIndexChanged.connect(self.validate)
        self.parsed: handles.Handle | None = None
        self.moved = False  # the last paste had a password, moved to the masked field
        self.tested: tuple[str, ConnectionResult] | None = None  # the last test: of which full handle, its result
        self.confirming = False  # OK was pressed on a database not tested yet: its test runs first
        self.warning: QMessageBox | None = None
        self.validate()

    def split_password(self, text: str) -> None:
        """A pasted URL with a password in it: the password moves to the masked field, the URL keeps the rest."""
        self.moved = False
        if self.kind_value() == handles.APIKEY or ":" not in text or "@" not in text:
            return
        try:
            parsed = handles.parse(text.strip())
        except handles.HandleError:
            return
        password = parsed.secrets.get("password")
        if not password:
            return
        rest = {slot: value for slot, value in parsed.secrets.items() if slot != "password"}
        self.handle.blockSignals(True)
        self.handle.setText(parsed.with_secrets(rest).full())
        self.handle.blockSignals(False)
        self.moved = True
        self.password.setText(password)

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
        if self.moved:
            message += "\nThe password was moved to the masked field: it goes to the keyring."
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

    def show_test_result(self, result: ConnectionResult) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(("✔ " if result.ok else "✘ ") + result.message)
        self.tested = (self.full_handle(), result)
        if self.confirming:
            self.confirming = False
            if result.ok:
                QDialog.accept(self)
            else:
                self._warn(result)

    def needs_test(self) -> bool:
        """A database is tried before it is registered (a warning when it does not answer); other kinds are not."""
        is_database = self.parsed is not None and self.parsed.kind in handles.DATABASE_KINDS
        return is_database and (self.tested is None or self.tested[0] != self.full_handle())

    def accept(self) -> None:
        if not self.validate():
            return
        if self.needs_test():
            self.confirming = True
            self._test()
            return
        if self.tested is not None and self.tested[0] == self.full_handle() and not self.tested[1].ok:
            self._warn(self.tested[1])
            return
        super().accept()

    def _warn(self, result: ConnectionResult) -> None:
        """The database did not answer: say why, and register only if the user says so."""
        box = QMessageBox(QMessageBox.Icon.Warning, "The database does not answer", "", parent=self)
        box.setText(f"{self.name.text().strip() or 'The resource'} does not answer from this computer.")
        box.setInformativeText(f"{result.message}\n\nRegister it anyway (for a server you cannot reach from here)?")
        anyway = box.addButton("Register &anyway", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        anyway.clicked.connect(self._register_anyway)
        self.warning = box
        box.open()

    def _register_anyway(self) -> None:
        QDialog.accept(self)

    def values(self) -> tuple[str, str, str | None]:
        return self.name.text().strip(), self.full_handle(), self.kind_value()


class KeepUntilDialog(QDialog):
    def __init__(self, resource: ResourceInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.resource = resource
        self.setWindowTitle(f"Keep {resource.name} until…")
        self.date = QDateEdit()
        self.date.setCalendarPopup(True)
        start = resource.keep_until.astimezone() if resource.keep_until else datetime.now().astimezone()
        self.date.setDate(QDate(start.year, start.month, start.day).addDays(7))
        named(self.date, "Keep until date")
        form = QFormLayout()
        form.addRow("&Keep until:", self.date)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(dialog_buttons(self, "&Keep"))

    def values(self) -> tuple[str, datetime]:
        d = self.date.date()
        local = datetime.combine(datetime(d.year(), d.month(), d.day()).date(), time(23, 59)).astimezone()
        return self.resource.name, local.astimezone(UTC)
