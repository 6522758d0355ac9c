"""The Done page saves the run's change record (Markdown or JSON, a file dialog, written whole)."""

from __future__ import annotations

import json
from pathlib import Path

from pytestqt.qtbot import QtBot

from changeover.core import demo
from changeover.core.workspace import Workspace
from changeover.gui.change_records import ChangeRecordDialog
from changeover.gui.upgrade import UpgradeWizard

from .test_wizard import WAIT, finish, start, to_plan


def test_the_done_page_saves_the_change_record(qtbot: QtBot, workspace: Workspace, tmp_path: Path) -> None:
    demo.create_demo(workspace)
    wizard = UpgradeWizard(workspace, resource=demo.DATABASE)
    qtbot.addWidget(wizard)
    wizard.show()
    to_plan(qtbot, wizard)
    start(qtbot, wizard)
    finish(qtbot, wizard)
    page = wizard.done_page
    assert page.save_record.isVisible() and page.save_record.isEnabled()
    run = wizard.run_info
    assert run is not None

    dialog = page.choose_record_file()
    assert isinstance(dialog, ChangeRecordDialog) and dialog.run_id == run.id
    dialog.selectNameFilter("JSON (*.json)")
    dialog.fileSelected.emit(str(tmp_path / "board.json"))
    qtbot.waitUntil(lambda: "Change record saved to" in page.record_note.text(), timeout=WAIT)
    record = json.loads((tmp_path / "board.json").read_text(encoding="utf-8"))
    expected = workspace.change_record(run.id)
    assert record.pop("generated_at") <= expected.pop("generated_at")  # stamped when written, to the second
    assert record == expected

    page.choose_record_file().fileSelected.emit(str(tmp_path / "nowhere" / "board.md"))  # a folder that is not there
    qtbot.waitUntil(lambda: "could not be written" in page.record_note.text(), timeout=WAIT)
    assert not (tmp_path / "nowhere").exists()
    qtbot.waitUntil(lambda: not wizard.busy, timeout=WAIT)
