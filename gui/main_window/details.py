"""The detail dock beside the tables: the whole story of the selected resource or deploy.

A resource: its handle (masked), kind, provider and server, state and keep-until, every deploy and
variable it is (and was) attached to, its health checks with their times, its backups (size, time,
checksum, proven or not), its upgrade runs and the selected run's change record. A deploy: its config
store, hooks, maintenance state, attached resources and its audit events. Views only: the window asks the
controller for a :class:`~changeover.core.history.ResourceDetail` or
:class:`~changeover.core.history.DeployDetail` and hands it here.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from changeover.core.backups import BackupInfo
from changeover.core.history import DeployDetail, Maintenance, ResourceDetail
from changeover.core.records import AttachmentInfo, ResourceInfo

from ..formatting import moment, plural, size
from ..icons import BADGES, badge_state, kind_icon, state_badge
from ..models import EventsModel, provider_text
from ..models.base import Column, RecordTableModel, sort_time
from ..models.details import AttachmentHistoryModel, BackupsModel, HealthHistoryModel, RunsModel, StepsModel
from ..widgets import mark_destructive
from .tables import data_table, size_columns

logger = logging.getLogger(__name__)

PROMPT = "Select a resource or a deploy to see its whole story here."


def _label(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setTextFormat(Qt.TextFormat.PlainText)
    if name:
        label.setAccessibleName(name)
        label.setObjectName(name.replace(" ", "_").lower())
    return label


def _page(*widgets: QWidget, note: QLabel | None = None) -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.setContentsMargins(4, 4, 4, 4)
    for widget in widgets:
        layout.addWidget(widget, 1)
    if note is not None:
        layout.addWidget(note)
    return page


def keep_text(info: ResourceInfo) -> str:
    if info.state == "deprovisioned":
        return f"deprovisioned {moment(info.deprovisioned_at)}"
    if info.state != "detached":
        return "—"
    if info.keep_until is None:
        return "no date"
    return f"{moment(info.keep_until)}" + (" — overdue: deprovision it or keep it longer" if info.overdue else "")


class _Header(QWidget):
    """The icon, name and state badge of what the dock shows."""

    def __init__(self) -> None:
        super().__init__()
        self.icon = QLabel()
        self.name = _label(name="Detail title")
        font = self.name.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.name.setFont(font)
        self.badge_icon = QLabel()
        self.badge = _label(name="Detail state")
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 4, 4, 0)
        row.addWidget(self.icon)
        row.addWidget(self.name, 1)
        row.addWidget(self.badge_icon)
        row.addWidget(self.badge)


#: the backup actions of the backups tab: (key, button text, accessible description)
BACKUP_ACTIONS = (
    ("restore", "&Restore…", "Restore the selected backup into an empty database resource"),
    ("test-restore", "&Test-restore", "Load the selected backup into a scratch database, compare it with its manifest"),
    ("delete", "De&lete…", "Delete the selected backup (kept while an upgrade run or a detached resource needs it)"),
)


class ResourceDetailView(QWidget):
    #: emitted when a detail has been shown (the resource's name)
    shown = Signal(str)
    #: a backup action on the selected backup: "restore" | "test-restore" | "delete", the core's BackupInfo
    backup_action = Signal(str, object)
    #: "Save change record…" on the selected upgrade run (its id)
    save_record_requested = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.header = _Header()
        self.handle = _label(name="Resource handle")
        self.kind = _label(name="Resource kind")
        self.provider = _label(name="Resource provider")
        self.keep_until = _label(name="Keep until")
        self.size_value = _label(name="Resource size")
        self.registered = _label(name="Registered")
        facts = QWidget()
        form = QFormLayout(facts)
        form.setContentsMargins(4, 0, 4, 0)
        for text, widget in (
            ("Handle:", self.handle),
            ("Kind:", self.kind),
            ("Provider:", self.provider),
            ("Keep until:", self.keep_until),
            ("Size:", self.size_value),
            ("Registered:", self.registered),
        ):
            form.addRow(text, widget)
        self.attachments_model = AttachmentHistoryModel(self)
        self.attachments_view = data_table("Attached to", "Deploys and variables it is and was attached to",
                                           self.attachments_model)  # fmt: skip
        self.health_model = HealthHistoryModel(self)
        self.health_view = data_table("Health history", "Its health checks, newest first", self.health_model,
                                      Qt.SortOrder.DescendingOrder)  # fmt: skip
        self.backups_model = BackupsModel(self)
        self.backups_view = data_table("Backups", "Its backups, newest first", self.backups_model,
                                       Qt.SortOrder.DescendingOrder)  # fmt: skip
        self.backups_note = _label(name="Backups note")
        self.runs_model = RunsModel(self)
        self.runs_view = data_table("Upgrade runs", "Upgrade runs it took part in", self.runs_model,
                                    Qt.SortOrder.DescendingOrder)  # fmt: skip
        self.steps_model = StepsModel(self)
        self.steps_view = data_table("Change record", "The selected run's steps, in order", self.steps_model)
        self.steps_view.setSortingEnabled(False)  # the procedure's order is the record's
        self.steps_view.horizontalHeader().setSortIndicatorShown(False)
        self.steps_model.sort(-1)
        self.run_note = _label(name="Run note")
        self.events_model = EventsModel(self)
        self.events_view = data_table("Resource history", "Its audit events, newest first", self.events_model,
                                      Qt.SortOrder.DescendingOrder)  # fmt: skip
        self.tabs = QTabWidget()
        self.tabs.setUsesScrollButtons(False)
        self.tabs.setElideMode(Qt.TextElideMode.ElideRight)  # a narrow dock shortens the tab names, never hides one
        self.tabs.setDocumentMode(True)
        self.tabs.setAccessibleName("Resource details")
        self.tabs.addTab(_page(self.attachments_view), "Attached")
        self.tabs.addTab(_page(self.health_view), "Health")
        backups_page = _page(self.backups_view, note=self.backups_note)
        #: where the backup actions go (Test-restore, Restore, Delete: wired by the backups change)
        self.backup_actions = QHBoxLayout()
        self.backup_actions.setObjectName("backup_actions")
        layout_of_page = backups_page.layout()
        assert isinstance(layout_of_page, QVBoxLayout)
        layout_of_page.addLayout(self.backup_actions)
        self.backup_buttons: dict[str, QPushButton] = {}
        for key, text, description in BACKUP_ACTIONS:
            button = QPushButton(text)
            button.setAccessibleName(text.replace("&", "").rstrip("…") + " backup")
            button.setAccessibleDescription(description)
            button.setToolTip(description)
            button.setEnabled(False)
            button.clicked.connect(lambda _checked=False, k=key: self._backup_action(k))
            if key == "delete":
                mark_destructive(button)
            self.backup_actions.addWidget(button)
            self.backup_buttons[key] = button
        self.backup_actions.addStretch(1)
        self.save_record_button = QPushButton("&Save change record…")
        self.save_record_button.setAccessibleName("Save change record")
        self.save_record_button.setToolTip("Write the selected run's change record as Markdown or JSON")
        self.save_record_button.setEnabled(False)
        self.save_record_button.clicked.connect(self._save_record)
        self.tabs.addTab(backups_page, "Backups")
        runs_page = _page(self.runs_view, self.steps_view, note=self.run_note)
        record_row = QHBoxLayout()
        record_row.addWidget(self.save_record_button)
        record_row.addStretch(1)
        runs_layout = runs_page.layout()
        assert isinstance(runs_layout, QVBoxLayout)
        runs_layout.addLayout(record_row)
        self.tabs.addTab(runs_page, "Upgrades")
        self.tabs.addTab(_page(self.events_view), "History")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(facts)
        layout.addWidget(self.tabs, 1)
        self.runs_view.selectionModel().selectionChanged.connect(self._run_selected)
        self.backups_view.selectionModel().selectionChanged.connect(self._backup_selected)
        self.detail: ResourceDetail | None = None

    def show_detail(self, detail: ResourceDetail) -> None:
        self.detail = detail
        info = detail.resource
        badge = badge_state(info.state, info.overdue)
        self.header.icon.setPixmap(kind_icon(info.kind).pixmap(20, 20))
        self.header.name.setText(info.name)
        self.header.badge_icon.setPixmap(state_badge(badge).pixmap(16, 16))
        self.header.badge.setText(badge)
        self.header.badge.setToolTip(BADGES.get(badge, ("", "", ""))[2])
        self.handle.setText(info.handle)
        self.kind.setText(info.kind)
        self.provider.setText(provider_text(info))
        self.keep_until.setText(keep_text(info))
        self.size_value.setText(size(info.size_bytes, "not measured"))
        self.registered.setText(moment(info.created_at))
        attached = [a for a in info.history if a.detached_at is None]
        before = [a for a in info.history if a.detached_at is not None]
        self.attachments_model.set_records(attached + before)
        self.health_model.set_records(detail.health)
        chosen = self.selected_backup()
        self.backups_model.set_records(detail.backups)
        if chosen is not None:  # a reload after an action keeps the row the admin worked on
            row = self.backups_model.row_of(chosen.folder)
            if row is not None:
                self.backups_view.selectRow(row)
        self._backup_selected()
        total = sum(b.size_bytes for b in detail.backups)
        self.backups_note.setText(
            f"{plural(len(detail.backups), 'backup')}, {size(total)} in all." if detail.backups else "No backups yet."
        )
        self.runs_model.set_records(detail.runs)
        self.events_model.set_records(detail.events)
        self.tabs.setTabText(2, f"Backups ({len(detail.backups)})")
        self.tabs.setTabText(3, f"Upgrades ({len(detail.runs)})")
        self.tabs.setTabToolTip(2, "Its backups: size, time, checksum, and whether a test restore proved them")
        for view in (self.attachments_view, self.health_view, self.backups_view, self.runs_view, self.events_view):
            size_columns(view, again=True)
        if detail.runs:
            self.runs_view.selectRow(0)
        else:
            self.steps_model.set_records([])
            self.run_note.setText("No upgrade run has moved it.")
        self.shown.emit(info.name)

    def selected_backup(self) -> BackupInfo | None:
        """The backup whose row is selected (what a backup action works on)."""
        rows = self.backups_view.selectionModel().selectedRows()
        if not rows:
            return None
        return self.backups_model.record(rows[0].row())

    def _backup_selected(self, *_args: object) -> None:
        chosen = self.selected_backup() is not None
        for button in self.backup_buttons.values():
            button.setEnabled(chosen)

    def _backup_action(self, key: str) -> None:
        backup = self.selected_backup()
        if backup is not None:
            self.backup_action.emit(key, backup)

    def selected_run(self) -> int | None:
        rows = self.runs_view.selectionModel().selectedRows()
        if not rows:
            return None
        return self.runs_model.record(rows[0].row()).id

    def _save_record(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.save_record_requested.emit(run)

    def _run_selected(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.runs_view.selectionModel().selectedRows()
        self.save_record_button.setEnabled(bool(rows))
        if not rows:
            return
        run = self.runs_model.record(rows[0].row())
        self.steps_model.set_records(run.steps)
        size_columns(self.steps_view, again=True)
        backup = f" Backup: {run.backup_path}." if run.backup_path else ""
        error = f" Error: {run.error}" if run.error else ""
        self.run_note.setText(f"Run #{run.id}, {run.state.replace('_', ' ')}, by {run.actor}.{backup}{error}")


class DeployAttachmentsModel(RecordTableModel[AttachmentInfo]):
    key = staticmethod(lambda a: (a.env_var, a.resource))
    columns = (
        Column[AttachmentInfo]("Variable", lambda a: a.env_var),
        Column[AttachmentInfo]("Resource", lambda a: a.resource),
        Column[AttachmentInfo]("Kind", lambda a: a.kind),
        Column[AttachmentInfo]("Since", lambda a: moment(a.attached_at), lambda a: sort_time(a.attached_at)),
    )

    def extra_data(self, record: AttachmentInfo, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DecorationRole and column == 2:
            return kind_icon(record.kind)
        return None


def maintenance_text(state: Maintenance) -> str:
    if not state.how:
        return "no maintenance hook (set one with Edit deploy…)"
    if state.on is None:
        return f"off as far as Changeover knows ({state.how})"
    since = f" since {moment(state.since)}" if state.since else ""
    return f"{'ON' if state.on else 'off'}{since} ({state.how})"


class DeployDetailView(QWidget):
    shown = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.header = _Header()
        self.store = _label(name="Config store")
        self.restart = _label(name="Restart hook")
        self.maintenance_hooks = _label(name="Maintenance hooks")
        self.maintenance = _label(name="Maintenance state")
        self.created = _label(name="Deploy added")
        facts = QWidget()
        form = QFormLayout(facts)
        form.setContentsMargins(4, 0, 4, 0)
        for text, widget in (
            ("Config store:", self.store),
            ("Restart hook:", self.restart),
            ("Maintenance hooks:", self.maintenance_hooks),
            ("Maintenance:", self.maintenance),
            ("Added:", self.created),
        ):
            form.addRow(text, widget)
        self.attachments_model = DeployAttachmentsModel(self)
        self.attachments_view = data_table("Deploy resources", "Its attached resources", self.attachments_model)
        self.events_model = EventsModel(self)
        self.events_view = data_table("Deploy history", "Its audit events, newest first", self.events_model,
                                      Qt.SortOrder.DescendingOrder)  # fmt: skip
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setAccessibleName("Deploy details")
        self.tabs.addTab(_page(self.attachments_view), "Resources")
        self.tabs.addTab(_page(self.events_view), "History")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(facts)
        layout.addWidget(self.tabs, 1)
        self.detail: DeployDetail | None = None

    def show_detail(self, detail: DeployDetail) -> None:
        self.detail = detail
        d = detail.deploy
        self.header.icon.clear()
        self.header.name.setText(d.name)
        where = " / ".join(part for part in (d.app, d.environment) if part)
        self.header.badge.setText(where)
        self.header.badge_icon.clear()
        self.store.setText(f"{d.config_kind}: {d.config_location}")
        self.restart.setText(d.restart_cmd or "none")
        hooks = []
        if d.maintenance_on_cmd:
            hooks.append(f"on: {d.maintenance_on_cmd}")
        if d.maintenance_off_cmd:
            hooks.append(f"off: {d.maintenance_off_cmd}")
        if d.maintenance_var:
            hooks.append(f"flag variable {d.maintenance_var}")
        self.maintenance_hooks.setText("; ".join(hooks) or "none")
        self.maintenance.setText(maintenance_text(detail.maintenance))
        self.created.setText(f"{moment(d.created_at)} (hooks time out after {plural(d.hook_timeout, 'second')})")
        self.attachments_model.set_records(d.attachments)
        self.events_model.set_records(detail.events)
        self.tabs.setTabText(0, f"Resources ({len(d.attachments)})")
        for view in (self.attachments_view, self.events_view):
            size_columns(view, again=True)
        self.shown.emit(d.name)


class DetailDock(QDockWidget):
    """The dock the window fills with the selection's detail (a prompt when nothing is selected)."""

    #: the resource view's backup actions and change-record saves, whenever the view is built
    backup_action = Signal(str, object)
    save_record_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("&Details", parent)
        self.setObjectName("detail_dock")
        self.setAccessibleName("Details")
        self.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.prompt = _label(PROMPT, "Details prompt")
        self.prompt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._resource_view: ResourceDetailView | None = None
        self._deploy_view: DeployDetailView | None = None
        self.stack = QStackedWidget()
        self.stack.addWidget(self.prompt)
        self.setWidget(self.stack)
        self.setMinimumWidth(320)

    # The two views are built when first wanted (a detail arrived, or a test or the merger asks): the first
    # paint of the window has only the prompt to draw.

    @property
    def resource_view(self) -> ResourceDetailView:
        if self._resource_view is None:
            self._resource_view = ResourceDetailView()
            self._resource_view.backup_action.connect(self.backup_action)
            self._resource_view.save_record_requested.connect(self.save_record_requested)
            self.stack.addWidget(self._resource_view)
        return self._resource_view

    @property
    def deploy_view(self) -> DeployDetailView:
        if self._deploy_view is None:
            self._deploy_view = DeployDetailView()
            self.stack.addWidget(self._deploy_view)
        return self._deploy_view

    def show_prompt(self) -> None:
        self.stack.setCurrentWidget(self.prompt)

    def show_resource(self, detail: ResourceDetail) -> None:
        self.resource_view.show_detail(detail)
        self.stack.setCurrentWidget(self.resource_view)

    def show_deploy(self, detail: DeployDetail) -> None:
        self.deploy_view.show_detail(detail)
        self.stack.setCurrentWidget(self.deploy_view)

    def showing(self) -> str:
        """What the dock shows: ``resource``, ``deploy`` or ``prompt``."""
        current = self.stack.currentWidget()
        if current is not None and current is self._resource_view:
            return "resource"
        return "deploy" if current is not None and current is self._deploy_view else "prompt"
