"""Deprovision asks to test-restore the final backup first (checked by default, passed to the core), says
"final snapshot" for an RDS instance, and removes an S3 bucket's contents only when asked twice."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from changeover.core import servers
from changeover.core.records import ResourceInfo
from changeover.core.workspace import Workspace
from changeover.gui.dialogs import DeprovisionDialog
from changeover.gui.dialogs.work import WorkDialog
from changeover.gui.main_window import MainWindow

from ..helpers import open_deprovision, settle


def _made(name: str, kind: str, server: str) -> ResourceInfo:
    return ResourceInfo(
        name=name, kind=kind, handle=f"{kind}://x", origin="provisioned", state="available", has_secret=True,
        server=server, size_bytes=0, created_at=datetime.now(UTC), detached_at=None, keep_until=None,
        deprovisioned_at=None,
    )  # fmt: skip


def _ok(dialog: DeprovisionDialog) -> bool:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_a_database_offers_the_final_backup_and_its_test_restore_checked(qtbot: QtBot) -> None:
    dialog = DeprovisionDialog(_made("db", "postgresql", "pg"), server_kind="postgresql")
    qtbot.addWidget(dialog)
    assert dialog.final_backup.isChecked() and dialog.test_restore.isChecked()
    assert not dialog.test_restore.isHidden() and dialog.delete_contents.isHidden()
    dialog.confirm.setText("db")
    assert _ok(dialog) and dialog.values() == ("db", "db", True, True, False)
    dialog.test_restore.setChecked(False)
    assert dialog.values()[3] is False
    dialog.final_backup.setChecked(False)  # no backup: nothing to test-restore
    assert not dialog.test_restore.isEnabled() and dialog.values()[2:4] == (False, False)


def test_rds_says_final_snapshot_and_deletion_protection(qtbot: QtBot) -> None:
    dialog = DeprovisionDialog(_made("big", "postgresql", "aws"), server_kind="rds")
    qtbot.addWidget(dialog)
    assert "final RDS &snapshot" in dialog.final_backup.text() and dialog.final_backup.isChecked()
    assert dialog.test_restore.isHidden()  # RDS keeps its own snapshot: there is no file to load
    assert "final snapshot" in dialog.reason.text() and "deletion protection" in dialog.reason.text()
    dialog.confirm.setText("big")
    assert dialog.values() == ("big", "big", True, False, False)


def test_an_s3_bucket_deletes_its_contents_only_when_asked_twice(qtbot: QtBot) -> None:
    dialog = DeprovisionDialog(_made("files", "s3", "aws-s3"), server_kind="s3")
    qtbot.addWidget(dialog)
    assert dialog.final_backup.isHidden() and dialog.test_restore.isHidden() and not dialog.delete_contents.isHidden()
    assert "holds objects" in dialog.reason.text()
    dialog.confirm.setText("files")
    assert _ok(dialog) and dialog.values()[4] is False
    dialog.delete_contents.setChecked(True)
    assert not dialog.confirm_again.isHidden() and not _ok(dialog)  # the name again, or nothing
    dialog.confirm_again.setText("file")
    assert not _ok(dialog)
    dialog.confirm_again.setText("files")
    assert _ok(dialog) and dialog.values()[4] is True


def test_the_window_test_restores_the_final_backup_before_dropping(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "sqlite-server"
    folder.mkdir()
    servers.register_server(workspace, "files", str(folder))
    servers.provision(workspace, "files", "made-db")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    window.select_resource("made-db")
    dialog = open_deprovision(qtbot, window)
    assert dialog.test_restore.isChecked() and not dialog.test_restore.isHidden()
    dialog.confirm.setText("made-db")
    dialog.accept()
    work = window.work_dialog
    assert isinstance(work, WorkDialog)
    qtbot.waitUntil(lambda: workspace.show_resource("made-db").state == "deprovisioned", timeout=20000)
    settle(qtbot, window)
    assert any("Test-restoring" in m for m in work.messages) and not work.isVisible()
    [final] = workspace.list_backups("made-db")
    assert final.proof_ok is True and final.proof_kind == "test-restore"
    assert list(folder.glob("*.sqlite3")) == []
