"""The detail views' tables: where a resource is attached (and was), its health checks, its backups, its
upgrade runs and each run's change record (its steps)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush

from changeover.core.backups import BackupInfo
from changeover.core.checks import CheckStatus, ResourceCheck
from changeover.core.records import AttachmentInfo
from changeover.core.upgrade.runs import RunInfo, StepInfo

from ..formatting import duration, moment, number, size
from ..icons import warning_color
from .base import Column, RecordTableModel, sort_time

logger = logging.getLogger(__name__)

_OUTCOME = {CheckStatus.OK: "✔ ok", CheckStatus.FAILED: "✘ failed", CheckStatus.NOT_CHECKABLE: "– not checkable"}


def _when(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def proven_text(backup: BackupInfo) -> str:
    """Proven / not proven / failed, and by what: what the backups tab says of each backup."""
    if backup.proof_ok is None:
        return "not proven"
    how = "restore" if backup.proof_kind == "restore" else "test-restore"
    return f"✔ proven by {how}" if backup.proof_ok else f"✘ {how} failed"


def proof_tooltip(backup: BackupInfo) -> str:
    if backup.proof_ok is None:
        return "Never test-restored: Test-restore loads it into a scratch database and compares it with its manifest."
    return f"{backup.proven_where}: {backup.proof_detail}"


class AttachmentHistoryModel(RecordTableModel[AttachmentInfo]):
    """Every deploy and variable a resource is attached to now, then those it was attached to."""

    key = staticmethod(lambda a: (a.deploy, a.env_var, a.attached_at))
    columns = (
        Column[AttachmentInfo]("Deploy", lambda a: a.deploy),
        Column[AttachmentInfo]("Variable", lambda a: a.env_var),
        Column[AttachmentInfo]("Attached", lambda a: moment(a.attached_at), lambda a: sort_time(a.attached_at)),
        Column[AttachmentInfo](
            "Detached", lambda a: moment(a.detached_at) if a.detached_at else "attached now",
            lambda a: sort_time(a.detached_at),
        ),
    )  # fmt: skip


class HealthHistoryModel(RecordTableModel[ResourceCheck]):
    key = staticmethod(lambda c: c.checked_at)
    columns = (
        Column[ResourceCheck]("Checked", lambda c: moment(c.checked_at), lambda c: sort_time(c.checked_at)),
        Column[ResourceCheck]("Outcome", lambda c: _OUTCOME[c.status]),
        Column[ResourceCheck](
            "Latency",
            lambda c: "" if c.status is CheckStatus.NOT_CHECKABLE else f"{number(c.latency_ms, 1)} ms",
            lambda c: c.latency_ms,
        ),
        Column[ResourceCheck]("Reason", lambda c: c.reason, tooltip=lambda c: c.reason),
    )

    def extra_data(self, record: ResourceCheck, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and record.failed:
            return QBrush(warning_color())
        return None


class BackupsModel(RecordTableModel[BackupInfo]):
    key = staticmethod(lambda b: b.folder)
    columns = (
        Column[BackupInfo](
            "Created",
            lambda b: moment(_when(b.created_at)),
            lambda b: sort_time(_when(b.created_at)),
            tooltip=lambda b: str(b.folder),
        ),
        Column[BackupInfo]("Size", lambda b: size(b.size_bytes), lambda b: b.size_bytes),
        Column[BackupInfo]("Rows", lambda b: number(b.rows), lambda b: b.rows),
        Column[BackupInfo]("Format", lambda b: b.format),
        Column[BackupInfo]("Proven", proven_text, tooltip=proof_tooltip),
        Column[BackupInfo](
            "When",
            lambda b: moment(_when(b.proven_at)),
            lambda b: sort_time(_when(b.proven_at)),
            tooltip=proof_tooltip,
        ),
        Column[BackupInfo]("Where", lambda b: b.proven_where or "", tooltip=lambda b: b.proven_where or ""),
        Column[BackupInfo]("Checksum (sha256)", lambda b: b.sha256[:16] + "…", tooltip=lambda b: b.sha256),
    )

    def extra_data(self, record: BackupInfo, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and record.proof_ok is False:
            return QBrush(warning_color())
        return None


def run_window(run: RunInfo) -> str:
    return duration(run.maintenance_seconds) if run.maintenance_seconds is not None else ""


class RunsModel(RecordTableModel[RunInfo]):
    key = staticmethod(lambda r: r.id)
    columns = (
        Column[RunInfo]("Run", lambda r: f"#{r.id}", lambda r: r.id),
        Column[RunInfo]("Started", lambda r: moment(r.created_at), lambda r: sort_time(r.created_at)),
        Column[RunInfo]("State", lambda r: r.state.replace("_", " ")),
        Column[RunInfo]("Move", lambda r: f"{r.source} → {r.target}"),
        Column[RunInfo]("Window", run_window, lambda r: r.maintenance_seconds or 0.0),
        Column[RunInfo]("By", lambda r: r.actor),
    )

    def extra_data(self, record: RunInfo, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and record.state in ("failed", "rolled_back"):
            return QBrush(warning_color())
        if role == Qt.ItemDataRole.ToolTipRole and record.error:
            return record.error
        return None


def step_took(step: StepInfo) -> str:
    if step.started_at is None or step.finished_at is None:
        return ""
    return duration((step.finished_at - step.started_at).total_seconds())


class StepsModel(RecordTableModel[StepInfo]):
    """A run's change record: each step, when it ran, how long it took and what it said."""

    columns = (
        Column[StepInfo]("Step", lambda s: s.title),
        Column[StepInfo]("State", lambda s: s.state.replace("_", " ")),
        Column[StepInfo](  # the run's row has the date and zone; a step's time of day is enough here
            "Started",
            lambda s: s.started_at.astimezone().strftime("%H:%M:%S") if s.started_at else "",
            lambda s: sort_time(s.started_at),
            tooltip=lambda s: moment(s.started_at),
        ),
        Column[StepInfo]("Took", step_took),
        Column[StepInfo]("Record", lambda s: s.message, tooltip=lambda s: s.message),
    )

    def extra_data(self, record: StepInfo, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and record.state == "failed":
            return QBrush(warning_color())
        return None
