"""The Help menu (shortcuts, where things are with Open, About), Preferences, error dialogs that name the
log and offer the fix, destructive buttons that look it, copied secrets marked for clipboard managers."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialogButtonBox, QMenu, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from changeover.core import paths
from changeover.core.errors import ChangeoverError
from changeover.core.workspace import Workspace
from changeover.gui import errors
from changeover.gui.dialogs import CredentialsDialog, DeployDialog, DeprovisionDialog, DetachDialog, ReplaceSecretDialog
from changeover.gui.dialogs.errors import fix_for
from changeover.gui.dialogs.help import LocationsDialog, ShortcutsDialog
from changeover.gui.dialogs.preferences import PreferencesDialog
from changeover.gui.main_window import MainWindow
from changeover.gui.widgets import PASSWORD_HINT, ConfirmDialog, copy_secret

from .helpers import open_deprovision, settle


def _menu_texts(window: MainWindow, name: str) -> list[str]:
    menu = window.menuBar().findChild(QMenu, f"menu_{name}")
    assert menu is not None
    return [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]


def test_help_menu_shortcuts_locations_and_about(qtbot: QtBot, window: MainWindow, workspace: Workspace) -> None:
    assert _menu_texts(window, "help") == ["Keyboard shortcuts", "Where Changeover keeps things…", "About Changeover"]
    window.action("shortcuts").trigger()
    assert isinstance(window.dialog, ShortcutsDialog)
    rows = dict((does, keys) for keys, does in window.dialog.rows())
    assert rows["Attach…"] == "Ctrl+T" and rows["Check health"] == "Ctrl+H" and rows["Keyboard shortcuts"] == "F1"
    assert rows["Details of the selection"] == "Ctrl+Shift+I"
    assert "Move to the next / previous control (out of a table too)" in rows
    window.dialog.reject()

    opened: list[QUrl] = []
    window.opener = opened.append
    window.action("log").trigger()
    places = window.dialog
    assert isinstance(places, LocationsDialog)
    places.buttons["Log"].click()
    places.buttons["Backups"].click()
    places.buttons["Inventory"].click()
    log = errors.log_file()
    assert [Path(u.toLocalFile()) for u in opened] == [
        log if log.exists() else log.parent,
        paths.backups_dir() if paths.backups_dir().exists() else paths.backups_dir().parent,
        Path(workspace.inventory.url.database or ""),
    ]
    places.reject()

    window.action("about").trigger()
    box = window.message_box
    assert isinstance(box, QMessageBox) and "Changeover 0.1.0" in box.text() and "keyring" in box.text()
    box.close()


def test_preferences_read_and_save_the_inventory_settings(
    qtbot: QtBot, window: MainWindow, workspace: Workspace
) -> None:
    workspace.set_setting("retention_days", "9")
    with qtbot.waitSignal(window.preferences_opened, timeout=10000):
        window.action("preferences").trigger()
    dialog = window.dialog
    assert isinstance(dialog, PreferencesDialog)
    assert dialog.spins["retention_days"].value() == 9
    assert dialog.spins["health_interval_minutes"].value() == 5
    assert dialog.spins["backup_keep"].minimum() == 1  # the range core accepts
    opened: list[QUrl] = []
    dialog.opener = opened.append
    dialog.open_backups.click()
    backups = paths.backups_dir()
    assert [Path(u.toLocalFile()) for u in opened] == [backups if backups.exists() else backups.parent]
    dialog.spins["backup_keep"].setValue(7)
    dialog.spins["health_interval_minutes"].setValue(15)
    assert dialog.values() == {"backup_keep": "7", "health_interval_minutes": "15"}
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        dialog.accept()
    settle(qtbot, window)
    assert workspace.setting("backup_keep") == "7" and workspace.setting("retention_days") == "9"
    assert window.controller.health_timer.interval() == 15 * 60_000  # the new interval is in use
    assert [e.action for e in workspace.events("health_interval_minutes")] == ["set setting"]


def test_an_error_names_the_log_and_offers_the_fix(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path
) -> None:
    workspace.add_deploy("shop", str(env_file))
    workspace.register_resource("shop-db", "postgresql://shop:pw-1@db.internal/shop")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    message = "The keyring holds no secret for 'shop-db': set it again with `changeover resource secret shop-db -`."
    assert fix_for(message) is not None and fix_for(message).subject == "shop-db"  # type: ignore[union-attr]
    assert fix_for("Nothing to run here.") is None
    window.show_error(ChangeoverError(message, title="Secret missing"))
    box = window.message_box
    assert isinstance(box, QMessageBox)
    assert str(errors.log_file()) in box.informativeText()
    fix = box.findChild(QPushButton, "fix_button")
    assert fix is not None and fix.text() == "Replace &secret…"
    fix.click()
    credentials = window.credentials_dialog
    assert isinstance(credentials, CredentialsDialog) and credentials.selected().owner == "shop-db"  # type: ignore[union-attr]
    assert isinstance(credentials.replace_dialog, ReplaceSecretDialog)
    credentials.replace_dialog.reject()
    credentials.close()

    window.show_error(ChangeoverError("Set a hook with `changeover deploy edit`.", title="No hook"))
    fix = window.message_box.findChild(QPushButton, "fix_button")  # type: ignore[union-attr]
    fix.click()  # type: ignore[union-attr]
    assert isinstance(window.dialog, DeployDialog)
    window.dialog.reject()
    settle(qtbot, window)


def test_destructive_buttons_look_destructive(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path
) -> None:
    workspace.add_deploy("shop", str(env_file))
    workspace.register_resource("cache", "redis://127.0.0.1:6379/3")
    workspace.attach("cache", "shop")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    assert window.select_resource("cache")
    detach = window.detach()
    assert isinstance(detach, DetachDialog)
    ok = detach.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.property("destructive") is True and "color" in ok.styleSheet()
    cancel = detach.buttons.button(QDialogButtonBox.StandardButton.Cancel)
    assert not cancel.property("destructive")
    detach.reject()
    deprovision = open_deprovision(qtbot, window)
    assert isinstance(deprovision, DeprovisionDialog)
    assert deprovision.buttons.button(QDialogButtonBox.StandardButton.Ok).property("destructive") is True
    deprovision.reject()
    remove = window.remove_deploy()
    assert isinstance(remove, ConfirmDialog)
    assert remove.buttons.button(QDialogButtonBox.StandardButton.Ok).property("destructive") is True
    remove.reject()
    settle(qtbot, window)


def test_a_copied_secret_is_marked_for_clipboard_managers(qtbot: QtBot) -> None:
    copy_secret("s3cret-value")
    data = QGuiApplication.clipboard().mimeData()
    assert data.text() == "s3cret-value"
    assert bytes(data.data(PASSWORD_HINT).data()) == b"secret"
    QGuiApplication.clipboard().clear()
