"""Secrets in the keyring: their age, reveal briefly, copy (cleared from the clipboard), replace everywhere, rotate."""

from __future__ import annotations

import logging

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from changeover.core import rotation

from ..icons import get_colored_icon
from ..models import (
    PAYLOAD_ROLE,
    Credential,
    CredentialsModel,
    record_proxy,
)
from ..widgets import copy_secret, dialog_buttons, manager_layout, named, record_table, selected_record

logger = logging.getLogger(__name__)


REVEAL_MS = 10_000


CLIPBOARD_MS = 30_000


class ReplaceSecretDialog(QDialog):
    def __init__(self, credential: Credential, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.credential = credential
        self.setWindowTitle(f"Replace the secret of {credential.owner}")
        self.secret = named(QLineEdit(), "New secret", "The new password, token or key")
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        if credential.deploys:
            text = (
                f"The new secret of {credential.owner} ({credential.handle}) is checked first, then stored in the "
                f"keyring and written into the config of {', '.join(credential.deploys)}; each deploy is restarted, "
                "one at a time. If a restart fails, the deploys already changed are put back on the old secret "
                "and restarted, and the keyring keeps the old secret: nothing changes."
            )
        else:
            text = (
                f"The keyring entry of {credential.owner} ({credential.handle}) is replaced. It is attached to no "
                "deploy, so no config is rewritten."
            )
        note = QLabel(text)
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("New &secret:", self.secret)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        self.buttons = dialog_buttons(self, "&Replace")
        layout.addWidget(self.buttons)
        self.secret.textChanged.connect(
            lambda text: self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(text))
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)

    def values(self) -> tuple[str, str]:
        return self.credential.owner, self.secret.text()


class RotateDialog(QDialog):
    """Confirm a rotation: what will happen, in the order it happens, for this kind of secret."""

    def __init__(self, credential: Credential, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.credential = credential
        self.setWindowTitle(f"Rotate the secret of {credential.owner}")
        deploys = ", ".join(credential.deploys) or "no deploy (none is attached)"
        if rotation.phases(credential.server_kind) == 1:
            text = (
                f"Changeover gives {credential.owner} a new master password on its instance, in one phase: the old "
                f"password stops working at once. The new one is checked, then written into the config of {deploys}, "
                "restarting each deploy one at a time. If a restart fails, the old password is set back and the "
                "deploys already changed are put back and restarted: nothing changes."
            )
        else:
            text = (
                f"Changeover makes a new credential for {credential.owner}: "
                f"{rotation.how_for_kind(credential.kind)}. The new one is checked, then written into the config of "
                f"{deploys}, restarting each deploy one at a time; only then is the old one revoked. If a restart "
                "fails, the deploys already changed are put back and restarted, the new credential is removed and "
                "the old one keeps working: nothing changes."
            )
        note = QLabel(text)
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        self.buttons = dialog_buttons(self, "R&otate")
        layout.addWidget(self.buttons)


def can_rotate(credential: Credential | None) -> bool:
    """A resource whose kind Changeover rotates (database, Redis and RabbitMQ users); the core says the rest."""
    return (
        credential is not None
        and credential.owner_type == "resource"
        and rotation.cannot_rotate(credential.kind) is None
    )


def rotate_tip(credential: Credential | None) -> str:
    """Why Rotate is offered or not, for its tooltip: how this kind rotates, or why it cannot and Replace."""
    if credential is None or credential.owner_type != "resource":
        return "Rotation is for a resource's secret; a server's admin secret is changed by registering it again."
    why = rotation.cannot_rotate(credential.kind)
    if why is None:
        return f"Rotate: {rotation.how_for_kind(credential.kind)}, in every attached deploy's config."
    if credential.kind in rotation.NOTHING_TO_ROTATE:
        return f"Cannot rotate: {why}."
    return f"Cannot rotate: {why}. Get a new secret where it is issued, then use Replace… to give it to every deploy."


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
        self.table = record_table(self.proxy, "Credentials", "Secrets Changeover keeps in the OS keyring")
        self.reveal_button = QPushButton(get_colored_icon("reveal"), "Re&veal")
        self.copy_button = QPushButton(get_colored_icon("copy"), "&Copy secret")
        self.replace_button = QPushButton(get_colored_icon("edit"), "&Replace…")
        self.rotate_button = QPushButton(get_colored_icon("refresh"), "R&otate…")
        for button, name in (
            (self.reveal_button, "Reveal secret"),
            (self.copy_button, "Copy secret"),
            (self.replace_button, "Replace secret"),
            (self.rotate_button, "Rotate secret"),
        ):
            button.setAccessibleName(name)
        # Shortcuts beside the buttons, not on them: setShortcut() would replace their Alt mnemonics.
        for keys, button in (
            (QKeySequence("Ctrl+R"), self.reveal_button),
            (QKeySequence(QKeySequence.StandardKey.Copy), self.copy_button),
        ):
            QShortcut(keys, self).activated.connect(lambda b=button: b.isVisible() and b.isEnabled() and b.click())
        self.note = QLabel(
            f"Revealed secrets are hidden again after {REVEAL_MS // 1000} s; a copied secret is cleared from the "
            f"clipboard after {CLIPBOARD_MS // 1000} s."
        )
        self.note.setWordWrap(True)
        self.age_note = named(QLabel(), "Old secrets", "Secrets unchanged for longer than the secret_warn_days setting")
        self.age_note.setWordWrap(True)
        self.age_note.setVisible(False)
        manager_layout(
            self,
            (self.table, self.age_note, self.note),
            (self.reveal_button, self.copy_button, self.replace_button, self.rotate_button),
        )
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

    def set_credentials(self, credentials: list[Credential], warn_days: int | None = None) -> None:
        """Show ``credentials``; ``warn_days`` (the ``secret_warn_days`` setting) marks the old ones."""
        self.model.hide()
        if warn_days is not None:
            self.model.warn_days = warn_days
        self.model.set_records(credentials)
        if credentials and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)
        old = [c.owner for c in credentials if self.model.is_old(c)]
        self.age_note.setText(
            f"{len(old)} secret{' is' if len(old) == 1 else 's are'} older than {self.model.warn_days} days "
            f"({', '.join(old)}): replace or rotate {'it' if len(old) == 1 else 'them'}."
            if old
            else ""
        )
        self.age_note.setVisible(bool(old))
        self._update()

    def selected(self) -> Credential | None:
        return selected_record(self.table, Credential)

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
        self.rotate_button.setEnabled(can_rotate(credential))
        self.rotate_button.setToolTip(rotate_tip(credential))

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
            from ..controller import secret_values

            self.copied = "".join(secret_values(full_handle)[:1])
            copy_secret(self.copied)  # marked secret for clipboard managers
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
