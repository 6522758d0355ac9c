"""The backups tab acts: Test-restore (off the GUI thread, with progress and Cancel; the proof column
updates; a failed proof is an error naming the table and an audit entry), Restore… into an empty resource
(a non-empty one refused in the core's words), Delete… (refused for a backup a run needs), and the runs'
Save change record… (Markdown or JSON, written whole). Real SQLite databases, the demo's."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy.engine import make_url

from changeover.core import demo
from changeover.core.transfer.formats.manifest import digest_artifact, read
from changeover.core.upgrade import procedure
from changeover.core.workspace import Workspace
from changeover.gui.change_records import ChangeRecordDialog
from changeover.gui.dialogs.backups import RestoreDialog
from changeover.gui.dialogs.work import WorkDialog
from changeover.gui.main_window import MainWindow
from changeover.gui.main_window.details import ResourceDetailView
from changeover.gui.widgets import ConfirmDialog

from ..helpers import settle

WAIT = 20000


def _resource_view(qtbot: QtBot, window: MainWindow, name: str = demo.DATABASE) -> ResourceDetailView:
    window.resources_pane.state_filter.setCurrentIndex(window.resources_pane.state_filter.findData("all"))
    view = window.detail_dock.resource_view
    with qtbot.waitSignal(view.shown, timeout=WAIT, check_params_cb=lambda shown: shown == name):
        window.resources_pane.select(name)
    return view


def _select_backup(qtbot: QtBot, view: ResourceDetailView, folder: Path) -> None:
    qtbot.waitUntil(lambda: view.backups_model.row_of(folder) is not None, timeout=WAIT)
    row = view.backups_model.row_of(folder)
    assert row is not None
    view.backups_view.selectRow(row)
    assert view.selected_backup() is not None and view.selected_backup().folder == folder  # type: ignore[union-attr]


def _database_file(workspace: Workspace, name: str) -> Path:
    return Path(make_url(workspace.full_handle(name)).database or "")


def _one_row_changed(workspace: Workspace) -> Path:
    """A valid backup holding one changed row of ``products`` (its sha256 and size rewritten to match)."""
    good = workspace.backup_resource(demo.DATABASE).folder
    with sqlite3.connect(_database_file(workspace, demo.DATABASE)) as conn:
        conn.execute("UPDATE products SET title = 'Changed' WHERE id = 1")
    changed = workspace.backup_resource(demo.DATABASE).folder
    manifest = read(good)
    shutil.copyfile(changed / read(changed).artifact, good / manifest.artifact)
    sha256, size = digest_artifact(good / manifest.artifact)
    dataclasses.replace(manifest, sha256=sha256, size_bytes=size).write(good)
    shutil.rmtree(changed)
    return Path(good)


def test_test_restore_runs_with_progress_and_the_proof_column_updates(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace
) -> None:
    demo.create_demo(workspace)
    folder = Path(workspace.backup_resource(demo.DATABASE).folder)
    window = make_window()
    view = _resource_view(qtbot, window)
    assert not view.backup_buttons["test-restore"].isEnabled()  # nothing selected: nothing to act on
    _select_backup(qtbot, view, folder)
    assert view.backups_model.index(0, 4).data() == "not proven"
    assert all(button.isEnabled() for button in view.backup_buttons.values())

    view.backup_buttons["test-restore"].click()
    work = window.backup_actions.work
    assert isinstance(work, WorkDialog) and work.isVisible()
    qtbot.waitUntil(lambda: view.backups_model.rowCount() == 1 and view.backups_model.record(0).proof_ok is True,
                    timeout=WAIT)  # fmt: skip
    qtbot.waitUntil(lambda: not work.isVisible(), timeout=WAIT)
    assert any("Test-restoring into a private temporary SQLite file" in m for m in work.messages)
    proven = view.backups_model.index(0, 4).data()
    assert proven == "✔ proven by test-restore" and view.backups_model.index(0, 6).data() == (
        "a private temporary SQLite file"
    )
    assert "proven" in window.statusBar().currentMessage()
    assert read(folder).proof is not None and read(folder).proof.ok  # type: ignore[union-attr]
    settle(qtbot, window)


def test_a_failed_test_restore_is_an_error_naming_the_table_and_an_audit_entry(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace
) -> None:
    demo.create_demo(workspace)
    damaged = _one_row_changed(workspace)
    window = make_window()
    view = _resource_view(qtbot, window)
    _select_backup(qtbot, view, damaged)

    view.backup_buttons["test-restore"].click()
    qtbot.waitUntil(lambda: isinstance(window.message_box, QMessageBox) and window.message_box.isVisible(),
                    timeout=WAIT)  # fmt: skip
    box = window.message_box
    assert box is not None and box.text() == "Test-restore failed"
    assert box.informativeText().startswith("The table that differs: products.")
    qtbot.waitUntil(lambda: view.backups_model.record(0).proof_ok is False, timeout=WAIT)
    assert view.backups_model.index(0, 4).data() == "✘ test-restore failed"
    assert view.backups_model.index(0, 5).data().startswith("20")  # when it failed, to the second
    [event] = [e for e in workspace.events(demo.DATABASE) if e.action == "test-restore"]
    assert event.result == "failed" and "products" in event.detail
    settle(qtbot, window)


def test_cancel_stops_a_test_restore_and_records_nothing(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace
) -> None:
    demo.create_demo(workspace)
    folder = Path(workspace.backup_resource(demo.DATABASE).folder)
    window = make_window()
    view = _resource_view(qtbot, window)
    _select_backup(qtbot, view, folder)
    settle(qtbot, window)
    # One worker, held by a job that waits: the test-restore is queued behind it, so Cancel lands first.
    lane = QThreadPool(window)
    lane.setMaxThreadCount(1)
    window.controller.runner.pool = lane
    held = threading.Event()
    window.controller.runner.start(lambda _p, _c: held.wait(WAIT / 1000), name="hold the lane")

    view.backup_buttons["test-restore"].click()
    work = window.backup_actions.work
    assert work is not None
    qtbot.mouseClick(work.cancel_button, Qt.MouseButton.LeftButton)
    assert not work.cancel_button.isEnabled() and "Cancelling" in work.message.text()
    held.set()
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "Cancelled: test-restore.", timeout=WAIT)
    qtbot.waitUntil(lambda: not work.isVisible(), timeout=WAIT)
    assert read(folder).proof is None
    assert not [e for e in workspace.events(demo.DATABASE) if e.action == "test-restore" and e.result == "ok"]
    settle(qtbot, window)
    lane.waitForDone(WAIT)


def test_restore_into_an_empty_resource_and_a_non_empty_one_is_refused_in_the_cores_words(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace, tmp_path: Path
) -> None:
    demo.create_demo(workspace)
    folder = Path(workspace.backup_resource(demo.DATABASE).folder)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    workspace.register_resource("restored-db", f"sqlite:///{empty}")
    window = make_window()
    view = _resource_view(qtbot, window)
    _select_backup(qtbot, view, folder)

    view.backup_buttons["restore"].click()
    dialog = window.backup_actions.dialog
    assert isinstance(dialog, RestoreDialog)
    offered = [dialog.target.itemData(i) for i in range(dialog.target.count())]
    assert "restored-db" in offered and demo.CACHE not in offered  # only databases of the backup's engine
    dialog.target.setCurrentIndex(dialog.target.findData("restored-db"))
    dialog.accept()
    qtbot.waitUntil(lambda: "into restored-db: verified" in window.statusBar().currentMessage(), timeout=WAIT)
    with sqlite3.connect(empty) as conn:
        assert conn.execute("SELECT count(*) FROM products").fetchone()[0] > 0
    settle(qtbot, window)

    # Again into the same resource, now holding tables: the core refuses, and the error box says its words.
    view.backup_buttons["restore"].click()
    dialog = window.backup_actions.dialog
    assert isinstance(dialog, RestoreDialog)
    dialog.target.setCurrentIndex(dialog.target.findData("restored-db"))
    dialog.accept()
    qtbot.waitUntil(lambda: window.message_box is not None and window.message_box.isVisible(), timeout=WAIT)
    assert window.message_box is not None
    words = window.message_box.informativeText()
    assert f"{empty}' is not empty (it holds" in words  # the core's own words
    settle(qtbot, window)


def test_delete_asks_first_and_the_core_keeps_a_backup_a_run_needs(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace, tmp_path: Path
) -> None:
    demo.create_demo(workspace)
    plan = procedure.plan_upgrade(workspace, demo.DATABASE, to_handle=f"sqlite:///{tmp_path / 'new.db'}")
    run = procedure.start_upgrade(workspace, plan)
    procedure.execute(workspace, run.id)
    needed = Path(procedure.show_run(workspace, run.id).backup_path or "")
    spare = Path(workspace.backup_resource(demo.DATABASE).folder)
    window = make_window()
    view = _resource_view(qtbot, window)

    _select_backup(qtbot, view, needed)
    view.backup_buttons["delete"].click()
    dialog = window.backup_actions.dialog
    assert isinstance(dialog, ConfirmDialog) and str(needed) in dialog.label.text()
    dialog.accept()
    qtbot.waitUntil(lambda: window.message_box is not None and window.message_box.isVisible(), timeout=WAIT)
    assert window.message_box is not None and "upgrade run" in window.message_box.informativeText()
    assert needed.is_dir()
    settle(qtbot, window)

    _select_backup(qtbot, view, spare)
    view.backup_buttons["delete"].click()
    dialog = window.backup_actions.dialog
    assert isinstance(dialog, ConfirmDialog)
    dialog.reject()  # asked first: nothing happens on Cancel
    assert spare.is_dir()
    view.backup_buttons["delete"].click()
    window.backup_actions.dialog.accept()  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: not spare.exists(), timeout=WAIT)
    qtbot.waitUntil(lambda: view.backups_model.row_of(spare) is None, timeout=WAIT)
    settle(qtbot, window)


def test_save_change_record_from_the_runs_tab_as_json_and_markdown(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace, tmp_path: Path
) -> None:
    demo.create_demo(workspace)
    plan = procedure.plan_upgrade(workspace, demo.DATABASE, to_handle=f"sqlite:///{tmp_path / 'new.db'}")
    run = procedure.start_upgrade(workspace, plan)
    procedure.execute(workspace, run.id)
    window = make_window()
    view = _resource_view(qtbot, window)
    view.tabs.setCurrentIndex(3)
    qtbot.waitUntil(view.save_record_button.isEnabled, timeout=WAIT)

    for name, check in (
        ("record.json", lambda text: json.loads(text) == workspace.change_record(run.id)),
        ("record", lambda text: text == workspace.change_record_text(run.id, "md")),  # no suffix: Markdown
    ):
        view.save_record_button.click()
        dialog = window.backup_actions.dialog
        assert isinstance(dialog, ChangeRecordDialog) and dialog.run_id == run.id
        dialog.fileSelected.emit(str(tmp_path / name))
        target = tmp_path / name if name.endswith(".json") else tmp_path / f"{name}.md"
        qtbot.waitUntil(target.exists, timeout=WAIT)
        assert check(target.read_text(encoding="utf-8"))
        settle(qtbot, window)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".record", "record"))) == [
        "record.json",
        "record.md",
    ]  # no temporary file left beside them
