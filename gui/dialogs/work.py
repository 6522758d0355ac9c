"""Long work in the window: a progress bar with the job's messages and a Cancel that asks the job to stop.

The job itself runs through :mod:`changeover.gui.jobs` like every other; this dialog only follows it
(``show_progress`` is the job's ``on_progress``) and closes when it ends, whatever the outcome.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QProgressBar, QVBoxLayout, QWidget

from ..jobs import Job
from ..widgets import named

logger = logging.getLogger(__name__)


class WorkDialog(QDialog):
    """Shows one job's progress; Cancel sets the job's cancel event (the job stops at its next safe point)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(460)
        self.message = named(QLabel("Starting…"), "Work status")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.bar = named(QProgressBar(), "Work progress")
        self.bar.setRange(0, 0)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setText("&Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.bar)
        layout.addWidget(self.buttons)
        self.job: Job | None = None
        self.messages: list[str] = []  # every message the job reported, in order

    def follow(self, job: Job) -> None:
        self.job = job
        job.signals._on_ended.append(self.done_with)
        self.open()

    def show_progress(self, done: int, total: int | None, unit: str, message: str) -> None:
        if message:
            self.message.setText(message)
            if not self.messages or self.messages[-1] != message:
                self.messages.append(message)
        if total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(min(1000, int(done * 1000 / total)))
        else:
            self.bar.setRange(0, 0)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
        self.cancel_button.setEnabled(False)
        self.message.setText("Cancelling: the work stops at its next safe point…")

    def reject(self) -> None:  # Escape or the close button cancel too; the dialog closes when the job ends
        self.cancel()

    def done_with(self) -> None:
        self.done(QDialog.DialogCode.Accepted)
