"""The resource view's backup actions (Restore…, Test-restore, Delete…) and Save change record…

Each opens its dialog and hands the answer to the controller; long work (a test-restore, a restore) runs
as a job followed by a :class:`~changeover.gui.dialogs.work.WorkDialog` with its messages and a Cancel.
Kept apart from the window, whose Resource menu is long enough.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from changeover.core.backups import BackupInfo, TestRestoreFailed

from .. import errors
from ..change_records import ChangeRecordDialog
from ..dialogs.backups import RestoreDialog, backup_label, delete_backup_dialog
from ..dialogs.errors import error_box
from ..dialogs.work import WorkDialog
from ..widgets import ConfirmDialog

if TYPE_CHECKING:
    from .window import MainWindow

logger = logging.getLogger(__name__)


def proof_failure_text(error: TestRestoreFailed) -> str:
    """The core's words, and the table that differs when it is known (said once, first)."""
    table = error.proof.table
    return f"The table that differs: {table}.\n\n{error.message}" if table else error.message


class BackupActions(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self.dialog: RestoreDialog | ConfirmDialog | ChangeRecordDialog | None = None
        self.work: WorkDialog | None = None
        window.detail_dock.backup_action.connect(self.act)
        window.detail_dock.save_record_requested.connect(self.save_change_record)

    def act(self, key: str, backup: BackupInfo) -> None:
        {"restore": self.restore, "test-restore": self.test_restore, "delete": self.delete}[key](backup)

    def test_restore(self, backup: BackupInfo) -> WorkDialog:
        work = WorkDialog(f"Test-restore {backup_label(backup)}", self.window)
        job = self.controller.test_restore(
            str(backup.folder), on_progress=work.show_progress, on_failed=self.show_proof_failure
        )
        job.signals._on_failed.insert(0, lambda _error: work.done_with())  # the error box is not under the bar
        work.follow(job)
        self.work = work
        return work

    def show_proof_failure(self, error: BaseException) -> None:
        if isinstance(error, TestRestoreFailed):
            box = error_box(
                self.window, error.title, proof_failure_text(error), str(errors.log_file()), unexpected=False
            )
            box.open()
            self.window.message_box = box
        else:
            self.window.show_error(error)

    def restore(self, backup: BackupInfo) -> RestoreDialog:
        resources = self.window.snapshot.resources if self.window.snapshot else []
        dialog = RestoreDialog(backup, resources, self.window)
        dialog.accepted.connect(lambda: self._restore(dialog))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _restore(self, dialog: RestoreDialog) -> WorkDialog:
        folder, resource = dialog.values()
        work = WorkDialog(f"Restore into {resource}", self.window)
        work.follow(self.controller.restore(folder, resource, on_progress=work.show_progress))
        self.work = work
        return work

    def delete(self, backup: BackupInfo) -> ConfirmDialog:
        dialog = delete_backup_dialog(backup, self.window)
        dialog.accepted.connect(lambda: self.controller.delete_backup(str(backup.folder)))
        self.dialog = dialog
        dialog.open()
        return dialog

    def save_change_record(self, run_id: int) -> ChangeRecordDialog:
        dialog = ChangeRecordDialog(run_id, self.window)
        dialog.chosen.connect(self.controller.save_change_record)
        self.dialog = dialog
        dialog.open()
        return dialog
