"""5. Done: what the upgrade did, and how long the maintenance window was."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from changeover.core.formats import human_seconds
from changeover.core.records import ResourceInfo
from changeover.core.upgrade import procedure
from changeover.core.upgrade.procedure import RunInfo

from ..change_records import ChangeRecordDialog, write_change_record
from ..formatting import number
from ..formatting import size as human_bytes
from .common import (
    WizardHost,
    error_text,
    step_tree,
    tree_row,
    wrapped_label,
)

logger = logging.getLogger(__name__)


class DonePage(QWizardPage):
    def __init__(self, wizard: WizardHost) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Done")
        self.setSubTitle("The deploys use the new database; the old one is kept, detached, until its date.")
        self.summary = wrapped_label(name="Summary", selectable=True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.durations = step_tree("Step durations", ["Step", "Took", "Attempts", "Result"])
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Each step:"))
        layout.addWidget(self.durations, 1)
        self.save_record = QPushButton("&Save change record…")
        self.save_record.setAccessibleName("Save change record")
        self.save_record.setToolTip("Write this run's change record as Markdown or JSON, for the change board")
        self.save_record.clicked.connect(self.choose_record_file)
        self.record_note = wrapped_label(name="Change record note", selectable=True)
        row = QHBoxLayout()
        row.addWidget(self.save_record)
        row.addWidget(self.record_note, 1)
        layout.addLayout(row)
        self.record_dialog: ChangeRecordDialog | None = None

    def choose_record_file(self) -> ChangeRecordDialog:
        run = self.wiz.run_info
        assert run is not None
        dialog = ChangeRecordDialog(run.id, self)
        dialog.chosen.connect(self.save_change_record)
        self.record_dialog = dialog
        dialog.open()
        return dialog

    def save_change_record(self, run_id: int, fmt: str, path: str) -> None:
        ws = self.wiz.workspace
        self.record_note.setText("Saving the change record…")
        self.wiz.work(
            lambda: write_change_record(ws, run_id, fmt, path),
            name="save the change record",
            on_finished=lambda saved: self.record_note.setText(f"Change record saved to {saved}."),
            on_failed=lambda e: self.record_note.setText(error_text(e)),
        )

    def initializePage(self) -> None:  # noqa: N802
        run = self.wiz.run_info
        assert run is not None
        ws = self.wiz.workspace
        self.summary.setText("Reading the summary…")

        def read() -> tuple[RunInfo, ResourceInfo, ResourceInfo]:
            info = procedure.show_run(ws, run.id)
            return info, ws.show_resource(info.source), ws.show_resource(info.target)

        self.wiz.work(
            read,
            name="read the summary",
            on_finished=lambda r: self.show_summary(*r),
            on_failed=lambda e: self.summary.setText(error_text(e)),
        )

    def show_summary(self, run: RunInfo, old: ResourceInfo, new: ResourceInfo) -> None:
        stats = run.stats
        rows = stats.get("rows")
        copied = stats.get("backup_bytes") or stats.get("source_bytes")
        kept = old.keep_until.date().isoformat() if old.keep_until else "—"
        deploys = "".join(f"<li>{d} uses <b>{new.name}</b> as {v}</li>" for d, v in run.deploys) or "<li>none</li>"
        lines = [
            f"<b>{run.source}</b> was upgraded to <b>{new.name}</b> ({new.kind}, {new.handle}).",
            f"<ul>{deploys}</ul>",
            f"Maintenance window: <b>{human_seconds(run.maintenance_seconds) or '—'}</b> (min:s).",
            f"Copied: {number(rows)} rows, {human_bytes(copied, 'unknown')}."
            if rows is not None
            else f"Copied: {human_bytes(copied, 'unknown')}.",
            f"Verification: {stats.get('verified') or '—'}",
            f"The old database <b>{old.name}</b> is {old.state} and kept until <b>{kept}</b>.",
            f"Its backup: {run.backup_path or '—'}",
        ]
        self.summary.setText("<br>".join(lines))
        self.durations.clear()
        for step in run.steps:
            took = "—"
            if step.started_at and step.finished_at:
                seconds = (step.finished_at - step.started_at).total_seconds()
                took = f"{seconds:.1f} s" if seconds < 60 else f"{human_seconds(seconds)} (min:s)"
            self.durations.addTopLevelItem(tree_row(step.title, took, str(step.attempts), step.message))
