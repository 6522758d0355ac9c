"""Register splits a pasted password into its masked field and warns before registering a database that
does not answer; Attach offers a resource that is not attached yet and warns about a sick database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from changeover.core.checks import CheckStatus, ResourceCheck
from changeover.core.workspace import Workspace
from changeover.gui.dialogs import AttachDialog, RegisterDialog
from changeover.gui.main_window import MainWindow

from ..helpers import settle

PASSWORD = "pa55:w@rd/x"


def test_a_pasted_password_moves_to_the_masked_field(qtbot: QtBot) -> None:
    dialog = RegisterDialog()
    qtbot.addWidget(dialog)
    QApplication.clipboard().setText("postgresql://app:pa55%3Aw%40rd%2Fx@db.internal:5432/app?sslmode=require")
    dialog.handle.paste()
    assert dialog.handle.text() == "postgresql://app@db.internal:5432/app?sslmode=require"
    assert dialog.password.text() == PASSWORD  # decoded, and masked
    assert PASSWORD not in dialog.handle.text() and "moved to the masked field" in dialog.status.text()
    assert dialog.full_handle().startswith("postgresql://app:pa55") and "@db.internal" in dialog.full_handle()
    dialog.handle.setText("redis://:cache-pw@127.0.0.1:6379/0")
    assert (dialog.handle.text(), dialog.password.text()) == ("redis://127.0.0.1:6379/0", "cache-pw")
    dialog.handle.setText("redis://127.0.0.1:6379/1")  # nothing to move: the field keeps what it has
    assert dialog.password.text() == "cache-pw"
    QApplication.clipboard().clear()


def test_registering_a_database_that_does_not_answer_warns_first(
    qtbot: QtBot, window: MainWindow, workspace: Workspace
) -> None:
    dialog = window.register_resource()
    qtbot.keyClicks(dialog.name, "far-db")
    dialog.handle.setText("postgresql://app@127.0.0.1:1/app")  # nothing listens on port 1
    dialog.password.setText("pw")
    with qtbot.waitSignal(window.controller.runner.busy_changed, timeout=10000, check_params_cb=lambda b: not b):
        dialog.accept()  # OK: the test runs first
    qtbot.waitUntil(lambda: dialog.warning is not None and dialog.warning.isVisible(), timeout=10000)
    assert dialog.isVisible() and workspace.list_resources("all") == []  # nothing registered yet
    warning = dialog.warning
    assert warning is not None and "Connection refused" in warning.informativeText()
    assert warning.defaultButton() == warning.button(QMessageBox.StandardButton.Cancel)
    warning.button(QMessageBox.StandardButton.Cancel).click()
    assert dialog.isVisible() and workspace.list_resources("all") == []
    dialog.accept()  # tested already, still failing: warned again, no second test
    assert dialog.warning.isVisible()
    anyway = next(b for b in dialog.warning.buttons() if b.text() == "Register &anyway")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        anyway.click()
    settle(qtbot, window)
    assert [r.name for r in workspace.list_resources("all")] == ["far-db"]


def test_a_cache_is_registered_without_a_test(qtbot: QtBot, window: MainWindow, workspace: Workspace) -> None:
    dialog = window.register_resource()
    qtbot.keyClicks(dialog.name, "far-cache")
    dialog.handle.setText("redis://127.0.0.1:1/0")
    assert not dialog.needs_test()
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        dialog.accept()
    settle(qtbot, window)
    assert [r.name for r in workspace.list_resources("all")] == ["far-cache"]


def test_attach_offers_a_resource_not_attached_and_warns_about_a_sick_database(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path
) -> None:
    workspace.add_deploy("shop", str(env_file))
    workspace.register_resource("in-use", "redis://127.0.0.1:6379/0")
    workspace.register_resource("spare-db", f"sqlite:///{env_file.parent / 'spare.db'}")
    workspace.attach("in-use", "shop")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    assert window.select_resource("in-use")  # the selection is attached to the deploy already
    sick = ResourceCheck(
        "spare-db", "sqlite", "sqlite:///spare.db", CheckStatus.FAILED, 0.0, "The SQLite file does not exist.",
        datetime.now(UTC),
    )  # fmt: skip
    window.health["spare-db"] = sick
    dialog = window.attach()
    assert isinstance(dialog, AttachDialog)
    assert dialog.resource.currentData() == "spare-db" and dialog.deploy.currentData() == "shop"
    assert dialog.env_var.text() == "DATABASE_URL"
    assert "⚠ spare-db did not answer its last health check" in dialog.hint.text()
    assert "The SQLite file does not exist." in dialog.hint.text()
    dialog.resource.setCurrentIndex(dialog.resource.findData("in-use"))
    assert "⚠" not in dialog.hint.text()
    dialog.reject()
    settle(qtbot, window)


def test_test_connection_shows_the_servers_reason(qtbot: QtBot, window: MainWindow, mysql_admin: object) -> None:
    from sqlalchemy.engine import make_url

    from tests.conftest import MYSQL_URL

    url = make_url(MYSQL_URL)
    dialog = window.register_resource()
    dialog.handle.setText(f"mysql://no_such_user_co@{url.host}:{url.port or 3306}/mysql")
    dialog.password.setText("wrong-pw")
    dialog.test_button.click()
    qtbot.waitUntil(lambda: dialog.test_result.text() not in (" ", "Testing…"), timeout=15000)
    text = dialog.test_result.text()
    assert text.startswith("✘ Wrong user name or password") and "Access denied for user 'no_such_user_co'" in text
    assert "OperationalError" not in text and "wrong-pw" not in text
    dialog.reject()
    settle(qtbot, window)
