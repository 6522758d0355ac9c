"""The credentials manager: listed by resource, revealed on request and hidden again, copied, replaced."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from changeover.core.workspace import Workspace
from changeover.gui.main_window import MainWindow

from ..helpers import settle

PASSWORD = "old-pa55word"
NEW_PASSWORD = "new-pa55word"


def _open(qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path):  # type: ignore[no-untyped-def]
    workspace.add_deploy("shop", str(env_file), restart_cmd="true")
    workspace.register_resource("shop-db", f"postgresql://shop:{PASSWORD}@db.internal:5432/shop")
    workspace.register_resource("no-secret", "redis://127.0.0.1:6379/0")
    workspace.attach("shop-db", "shop")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    dialog = window.show_credentials()
    qtbot.addWidget(dialog)
    return dialog


def _texts(dialog) -> str:  # type: ignore[no-untyped-def]
    model = dialog.model
    return "\n".join(str(model.index(r, c).data()) for r in range(model.rowCount()) for c in range(model.columnCount()))


def test_reveal_is_explicit_and_temporary(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path
) -> None:
    dialog = _open(qtbot, window, workspace, env_file)
    assert [c.owner for c in dialog.model.records()] == ["shop-db"]  # only resources with a secret
    assert dialog.rotate_button.isEnabled() is False  # registered by hand: rotated where it lives
    assert "Only the user of a database Changeover provisioned" in dialog.rotate_button.toolTip()
    assert PASSWORD not in _texts(dialog)
    dialog.select("shop-db")
    dialog.reveal_button.click()
    qtbot.waitUntil(lambda: PASSWORD in _texts(dialog), timeout=10000)
    assert dialog.hide_timer.isActive() and dialog.hide_timer.interval() == 10_000
    dialog.hide_timer.start(100)  # rather than wait the full 10 s
    qtbot.waitUntil(lambda: PASSWORD not in _texts(dialog), timeout=5000)
    assert "•••" in _texts(dialog)
    settle(qtbot, window)


def test_copy_clears_the_clipboard_later(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path
) -> None:
    dialog = _open(qtbot, window, workspace, env_file)
    dialog.select("shop-db")
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("something else")
    dialog.copy_button.click()
    qtbot.waitUntil(lambda: clipboard.text() == PASSWORD, timeout=10000)
    assert PASSWORD not in _texts(dialog)  # copying does not reveal
    assert dialog.clipboard_timer.isActive() and dialog.clipboard_timer.interval() == 30_000
    dialog.clipboard_timer.start(100)  # rather than wait the full 30 s
    qtbot.waitUntil(lambda: clipboard.text() == "", timeout=5000)
    settle(qtbot, window)


def test_replace_the_secret(qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path) -> None:
    dialog = _open(qtbot, window, workspace, env_file)
    dialog.select("shop-db")
    dialog.replace_selected()
    replace = dialog.replace_dialog
    assert not replace.buttons.button(replace.buttons.StandardButton.Ok).isEnabled()
    qtbot.keyClicks(replace.secret, NEW_PASSWORD)
    assert replace.secret.echoMode() == replace.secret.EchoMode.Password
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        replace.accept()
    settle(qtbot, window)
    assert workspace.full_handle("shop-db") == f"postgresql://shop:{NEW_PASSWORD}@db.internal:5432/shop"
    # The attached deploy keeps the old value until it is attached again (set_resource_secret's contract).
    assert PASSWORD in env_file.read_text(encoding="utf-8")
    assert workspace.events("shop-db")[0].action == "replace secret"
    assert NEW_PASSWORD not in _texts(dialog)


def test_rotate_a_provisioned_database_user(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path, postgres_admin: object
) -> None:
    from dotenv import dotenv_values

    from changeover.core import servers as core_servers

    from ...conftest import POSTGRES_URL, unique_name

    name = unique_name("gui-rot").replace("_", "-")
    core_servers.register_server(workspace, "pg", POSTGRES_URL)
    core_servers.provision(workspace, "pg", name)
    try:
        workspace.add_deploy("shop", str(env_file), restart_cmd="true")
        workspace.attach(name, "shop")
        before = dotenv_values(env_file)["DATABASE_URL"]
        with qtbot.waitSignal(window.refreshed, timeout=10000):
            window.controller.refresh()
        dialog = window.show_credentials()
        qtbot.addWidget(dialog)
        dialog.select(name)
        assert dialog.rotate_button.isEnabled()
        dialog.rotate_button.click()
        with qtbot.waitSignal(window.refreshed, timeout=20000):
            dialog.rotate_dialog.accept()
        settle(qtbot, window)
        after = dotenv_values(env_file)["DATABASE_URL"]
        assert after and before and after != before
        assert workspace.full_handle(name) == after
        assert [e.result for e in workspace.events(name) if e.action == "rotate password"] == ["ok"]
    finally:
        for attachment in workspace.show_resource(name).attachments:
            workspace.detach(name, attachment.deploy)
        core_servers.deprovision(workspace, name, name, final_backup=False)
