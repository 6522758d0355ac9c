"""The upgrade wizard: move a database to a new one, every step shown, nothing changed before "Start".

Pages: 1. the database (which resource, its deploys, engine, version and size), 2. the target (a
server to provision on, or an existing empty database by handle), 3. the plan, the commit page: the
steps, the pre-flight checks, the estimate, the retention of the old database and, across engines, what
is adapted and what cannot carry; nothing has changed until the admin starts here, 4. progress: a
checklist of the steps, the current step's bar with rate and ETA, an overall bar, the maintenance
window as it runs and a log; Retry or Roll back after a failure, no way back after the switch, 5. done:
the summary.

Views only: every use case (:mod:`changeover.core.upgrade.procedure`, :mod:`changeover.core.provisioning`)
runs as a job through :mod:`changeover.gui.jobs`; the run's events cross to the GUI thread as a queued
signal (:class:`EventRelay`). Fields are registered on the pages like Qt's licensewizard example; the
progress page starts its job in ``initializePage`` and is complete only when the job succeeded, like
Activity Browser's wizard.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QObject, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from changeover.core import handles, provisioning
from changeover.core.errors import ChangeoverError
from changeover.core.jobs import RateMeter, human_rate, human_seconds
from changeover.core.providers.base import DatabaseInfo
from changeover.core.upgrade import procedure
from changeover.core.upgrade.procedure import RunEvent, RunInfo, UpgradePlan
from changeover.core.workspace import ResourceInfo, Workspace

from .icons import get_colored_icon
from .jobs import Job, JobRunner
from .main_window import MainWindow
from .probe import ProbeResult, probe

logger = logging.getLogger(__name__)

PAGE_DATABASE, PAGE_TARGET, PAGE_PLAN, PAGE_PROGRESS, PAGE_DONE = range(5)
STATES = {
    "waiting": ("○", "Waiting"),
    "running": ("▶", "Running"),
    "retrying": ("↻", "Retrying"),
    "done": ("✔", "Done"),
    "failed": ("✘", "Failed"),
    "rolled_back": ("↶", "Rolled back"),
    "skipped": ("–", "Skipped"),
    "interrupted": ("■", "Interrupted"),  # journaled as running, but nothing runs it: Changeover was stopped
}
TOTAL_WEIGHT = sum(procedure.WEIGHTS.values())

#: ``confirm(title, text, on_yes)``: ask, then call ``on_yes`` if the admin agrees (never a nested loop)
Confirm = Callable[[str, str, Callable[[], None]], None]
#: ``inform(title, text)``: tell the admin something, without blocking
Inform = Callable[[str, str], None]


def human_bytes(size: float | None) -> str:
    if size is None:
        return "unknown"
    for scale, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if size >= scale:
            return f"{size / scale:.1f} {name}"
    return f"{int(size)} bytes"


def error_text(error: BaseException) -> str:
    """What the admin reads about a failed job: the core's message, or the bug's type and text."""
    if isinstance(error, ChangeoverError):
        return str(error.message)
    logger.error("unexpected error in the upgrade wizard", exc_info=(type(error), error, error.__traceback__))
    return f"Unexpected error ({type(error).__name__}): {error}. The log file has the details."


def with_password(text: str, password: str) -> str:
    """A database handle with the password typed into its own (masked) field folded in."""
    text = text.strip()
    if not password:
        return text
    handle = handles.parse(text)
    full: str = handle.with_secrets({**handle.secrets, "password": password}).full()
    return full


def _label(text: str = "", name: str = "", selectable: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if name:
        label.setAccessibleName(name)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _tree(name: str, headers: list[str]) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setAccessibleName(name)
    tree.setHeaderLabels(headers)
    tree.setRootIsDecorated(False)
    tree.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    tree.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    tree.setWordWrap(True)
    header = tree.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(len(headers) - 1, QHeaderView.ResizeMode.Stretch)  # the long texts wrap here
    return tree


def _row(*texts: str) -> QTreeWidgetItem:
    """A list row; the last (long) text also as its tooltip."""
    item = QTreeWidgetItem(list(texts))
    item.setToolTip(len(texts) - 1, texts[-1])
    return item


class EventRelay(QObject):
    """Carries a run's events from the worker thread to the GUI thread, progress thinned out.

    ``send`` is the ``on_event`` sink given to the procedure; ``arrived`` is delivered queued to slots of
    objects living on the GUI thread. State changes always pass; progress at most every ``interval``
    seconds per step (and its last report), so a fast copy cannot flood the event queue.
    """

    arrived = Signal(object)  # RunEvent

    def __init__(self, interval: float = 0.1, hook: Callable[[RunEvent], None] | None = None) -> None:
        super().__init__()
        self.interval = interval
        self.hook = hook  # called after each event, in the worker thread (tests and screenshots pause a run here)
        self._last: dict[str, float] = {}

    def send(self, event: RunEvent) -> None:
        if event.state != "progress" or self._due(event):
            self.arrived.emit(event)
        if self.hook is not None:
            self.hook(event)

    def _due(self, event: RunEvent) -> bool:
        now = time.monotonic()
        last_report = event.total is not None and event.done >= event.total
        if now - self._last.get(event.step, 0.0) < self.interval and not last_report:
            return False
        self._last[event.step] = now
        return True


class UpgradeWizard(QWizard):
    """Upgrade one database resource, or resume (or roll back) an unfinished run."""

    #: something in the inventory changed (a step ended, the switch, a rollback): the window rereads it
    inventory_changed = Signal()
    #: the run ended: done, rolled back, or left paused (its RunInfo)
    run_ended = Signal(object)

    def __init__(
        self,
        workspace: Workspace,
        *,
        resource: str | None = None,
        run: RunInfo | None = None,
        runner: JobRunner | None = None,
        confirm: Confirm | None = None,
        inform: Inform | None = None,
        event_hook: Callable[[RunEvent], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.initial_resource = resource or (run.source if run else None)
        self.run_info: RunInfo | None = run
        self.resumed = run is not None
        self.plan: UpgradePlan | None = None
        self.runner = runner or JobRunner(self)
        # The run (execute, rollback) gets a thread of its own, so it never waits behind, nor holds up, the
        # short reads of the wizard and the window, however few cores the machine has.
        run_pool = QThreadPool(self)
        run_pool.setMaxThreadCount(1)
        self.run_runner = JobRunner(self, run_pool)
        self.confirm: Confirm = confirm or self._confirm_box
        self.inform: Inform = inform or self._inform_box
        self.event_hook = event_hook
        self.message_box: QMessageBox | None = None
        self.setWindowTitle("Upgrade database" if run is None else f"Upgrade run {run.id}")
        self.setObjectName("upgrade_wizard")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.HaveHelpButton, False)
        self.setWindowIcon(get_colored_icon("upgrade"))
        self.database_page = DatabasePage(self)
        self.target_page = TargetPage(self)
        self.plan_page = PlanPage(self)
        self.progress_page = ProgressPage(self)
        self.done_page = DonePage(self)
        for page_id, page in enumerate(
            (self.database_page, self.target_page, self.plan_page, self.progress_page, self.done_page)
        ):
            self.setPage(page_id, page)
        self.setStartId(PAGE_PROGRESS if run is not None else PAGE_DATABASE)
        self.resize(960, 680)
        # Step events arrive in bursts: reread the inventory once per burst.
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(250)
        self._refresh_timer.timeout.connect(self.inventory_changed)

    # -- jobs -----------------------------------------------------------------------------------

    def work(
        self,
        call: Callable[[], Any],
        *,
        name: str,
        on_finished: Callable[[Any], None],
        on_failed: Callable[[BaseException], None],
        run: bool = False,
    ) -> Job:
        """One use-case call off the GUI thread (``run``: on the run's own thread); callbacks on the GUI thread."""

        def job(progress: Callable[[int, int | None, str, str], None], cancel: threading.Event) -> Any:
            progress(0, None, "", name)
            return call()

        runner = self.run_runner if run else self.runner
        return runner.start(job, name=name, on_finished=on_finished, on_failed=on_failed)

    def changed(self) -> None:
        self._refresh_timer.start()

    @property
    def busy(self) -> bool:
        """Any job of the wizard's runners is under way (tests and shutdown wait for none)."""
        return bool(self.runner.running or self.run_runner.running)

    @property
    def active(self) -> bool:
        """A job of the run (execute or rollback) is under way."""
        return self.progress_page.job is not None

    # -- asking and telling ---------------------------------------------------------------------

    def _confirm_box(self, title: str, text: str, on_yes: Callable[[], None]) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, self)
        yes = box.addButton("&Roll back", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("&Not now", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(yes)
        box.accepted.connect(on_yes)
        self.message_box = box
        box.open()

    def _inform_box(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, self)
        self.message_box = box
        box.open()

    # -- leaving --------------------------------------------------------------------------------

    def reject(self) -> None:
        """Cancel: stop a run at a safe point and roll back (after asking); refused after the switch."""
        page = self.progress_page
        if page.job is None:
            super().reject()
        elif page.rolling_back:
            self.inform("Rolling back", "The upgrade is being rolled back: wait until that is done, then Close.")
        elif page.switched:
            self.inform(
                "The upgrade cannot be cancelled",
                "The deploys already use the new database (the point of no return has passed), so the upgrade "
                "can only go forward. Let it finish.",
            )
        else:
            source = self.run_info.source if self.run_info else "the database"
            self.confirm(
                "Cancel the upgrade?",
                f"Changeover stops at the next safe point and rolls back: the deploys leave maintenance on "
                f"'{source}', which was not changed, and the new database is marked failed.",
                page.cancel_run,
            )

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.active:
            event.ignore()
            self.inform(
                "The upgrade is running",
                "The wizard stays open while the upgrade runs, so you can see how it ends. To stop it, use Cancel "
                "(before the switch it rolls back); after the switch, let it finish.",
            )
            return
        super().closeEvent(event)


# -- 1. the database -------------------------------------------------------------------------------


class DatabasePage(QWizardPage):
    def __init__(self, wizard: UpgradeWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("The database")
        self.setSubTitle("Which database to upgrade, who uses it, and how big it is.")
        self.resources: dict[str, ResourceInfo] = {}
        self.info: DatabaseInfo | None = None
        self.info_for = ""
        self.loaded = False
        self.resource = QComboBox()
        self.resource.setAccessibleName("Database to upgrade")
        self.registerField("source", self.resource, "currentText", self.resource.currentTextChanged)
        self.engine = _label(name="Engine and version")
        self.size_label = _label(name="Size")
        self.handle = _label(name="Handle", selectable=True)
        self.deploys = _tree("Deploys using it", ["Deploy", "Variable"])
        self.status = _label(name="Status")
        form = QFormLayout()
        form.addRow("&Database:", self.resource)
        form.addRow("Handle:", self.handle)
        form.addRow("Engine:", self.engine)
        form.addRow("Size:", self.size_label)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Deploys that use it (their variable is switched to the new database):"))
        layout.addWidget(self.deploys)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.deploys.setMaximumHeight(180)
        self.resource.currentTextChanged.connect(self._describe)

    def initializePage(self) -> None:  # noqa: N802
        if not self.loaded:
            self.status.setText("Reading the inventory…")
            self.wiz.work(
                lambda: self.wiz.workspace.list_resources(),
                name="list the databases",
                on_finished=self._show_resources,
                on_failed=lambda e: self.status.setText(error_text(e)),
            )

    def _show_resources(self, resources: list[ResourceInfo]) -> None:
        self.loaded = True
        self.resources = {
            r.name: r for r in resources if r.kind in procedure.DATABASE_KINDS and r.state in ("attached", "detached")
        }
        self.resource.blockSignals(True)
        self.resource.clear()
        self.resource.addItems(sorted(self.resources))
        if self.wiz.initial_resource in self.resources:
            self.resource.setCurrentText(self.wiz.initial_resource)
        self.resource.blockSignals(False)
        if not self.resources:
            self.status.setText("There is no database resource to upgrade: register one first.")
        self._describe(self.resource.currentText())

    def _describe(self, name: str) -> None:
        self.info, self.info_for = None, ""
        self.completeChanged.emit()
        resource = self.resources.get(name)
        if resource is None:
            return
        self.handle.setText(resource.handle)
        self.deploys.clear()
        for attachment in resource.attachments:
            self.deploys.addTopLevelItem(QTreeWidgetItem([attachment.deploy, attachment.env_var]))
        self.engine.setText(resource.kind)
        self.size_label.setText("…")
        self.status.setText(f"Reading {name}: engine, version and size…")
        self.wiz.work(
            lambda: provisioning.describe_resource(self.wiz.workspace, name),
            name="describe the database",
            on_finished=lambda info: self._show_info(name, info),
            on_failed=lambda e: self._failed(name, e),
        )

    def _show_info(self, name: str, info: DatabaseInfo) -> None:
        if name != self.resource.currentText():
            return  # an answer about a database no longer chosen
        self.info, self.info_for = info, name
        self.engine.setText(f"{info.engine} {info.server_version}")
        self.size_label.setText(
            f"{human_bytes(info.size_bytes)}, {len(info.tables)} tables, about {info.estimated_rows:,} rows"
        )
        resource = self.resources[name]
        if resource.state != "attached":
            self.status.setText(f"{name} is {resource.state}: only a database a deploy uses is upgraded.")
        elif not resource.attachments:
            self.status.setText(f"No deploy uses {name}: the switch will change no config.")
        else:
            self.status.setText("")
        self.completeChanged.emit()

    def _failed(self, name: str, error: BaseException) -> None:
        if name == self.resource.currentText():
            self.size_label.setText("unknown")
            self.status.setText(f"{name} cannot be read: {error_text(error)}")

    def isComplete(self) -> bool:  # noqa: N802
        resource = self.resources.get(self.resource.currentText())
        return (
            self.info is not None
            and self.info_for == self.resource.currentText()
            and resource is not None
            and resource.state == "attached"
        )

    def source(self) -> ResourceInfo | None:
        return self.resources.get(self.resource.currentText())


# -- 2. the target ---------------------------------------------------------------------------------


class TargetPage(QWizardPage):
    def __init__(self, wizard: UpgradeWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("The new database")
        self.setSubTitle("Provision it on a registered server, or give an existing empty database.")
        self.servers: dict[str, provisioning.ServerInfo] = {}
        self.loaded = False
        self.provision = QRadioButton("&Provision a new database on a registered server")
        self.existing = QRadioButton("Use an &existing empty database")
        group = QButtonGroup(self)
        group.addButton(self.provision)
        group.addButton(self.existing)
        self.provision.setChecked(True)
        self.server = QComboBox()
        self.server.setAccessibleName("Server to provision on")
        self.server_info = _label(name="Server")
        self.plan = QLineEdit()
        self.plan.setAccessibleName("Size or plan")
        self.target_name = QLineEdit()
        self.target_name.setAccessibleName("Name of the new database")
        self.handle = QLineEdit()
        self.handle.setAccessibleName("Handle of the new database")
        self.handle.setPlaceholderText("postgresql://app@db-new.internal:5432/app")
        self.password = QLineEdit()
        self.password.setAccessibleName("Password")
        self.password.setAccessibleDescription("Kept in the OS keyring, never in the inventory")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.handle_status = _label(name="Handle check")
        self.test_button = QPushButton(get_colored_icon("connection"), "&Test connection")
        self.test_button.setAccessibleName("Test connection")
        self.test_result = _label(name="Connection test result")
        self.engine_note = _label(name="Engine note")
        self.registerField("provision", self.provision)
        self.registerField("server", self.server, "currentText", self.server.currentTextChanged)
        self.registerField("plan", self.plan)
        self.registerField("target_name", self.target_name)
        self.registerField("handle", self.handle)

        provision_box = QGroupBox()
        provision_form = QFormLayout(provision_box)
        provision_form.addRow("&Server:", self.server)
        provision_form.addRow("", self.server_info)
        provision_form.addRow("Size or p&lan:", self.plan)
        existing_box = QGroupBox()
        existing_form = QFormLayout(existing_box)
        existing_form.addRow("&Handle:", self.handle)
        existing_form.addRow("Pass&word:", self.password)
        existing_form.addRow("", self.handle_status)
        existing_form.addRow(self.test_button, self.test_result)
        name_form = QFormLayout()
        name_form.addRow("&Name in the inventory:", self.target_name)
        layout = QVBoxLayout(self)
        layout.addWidget(self.provision)
        layout.addWidget(provision_box)
        layout.addWidget(self.existing)
        layout.addWidget(existing_box)
        layout.addLayout(name_form)
        layout.addWidget(self.engine_note)
        layout.addStretch(1)
        self.provision_box, self.existing_box = provision_box, existing_box

        self.provision.toggled.connect(self._update)
        self.server.currentTextChanged.connect(self._update)
        self.handle.textChanged.connect(self._update)
        self.password.textChanged.connect(self._update)
        self.test_button.clicked.connect(self.test_connection)

    def initializePage(self) -> None:  # noqa: N802
        source = self.wiz.database_page.source()
        if source is not None:
            self.target_name.setPlaceholderText(f"{source.name}-{datetime.now().strftime('%Y%m%d')} (the default)")
        if not self.loaded:
            self.server_info.setText("Reading the registered servers…")
            self.wiz.work(
                lambda: provisioning.list_servers(self.wiz.workspace),
                name="list the servers",
                on_finished=self._show_servers,
                on_failed=lambda e: self.server_info.setText(error_text(e)),
            )
        self._update()

    def _show_servers(self, servers: list[provisioning.ServerInfo]) -> None:
        self.loaded = True
        self.servers = {s.name: s for s in servers}
        self.server.blockSignals(True)
        self.server.clear()
        self.server.addItems(list(self.servers))
        self.server.blockSignals(False)
        if not servers:
            self.provision.setEnabled(False)
            self.existing.setChecked(True)
            self.server_info.setText("No server is registered: register one with `changeover server add`.")
        self._update()

    def full_handle(self) -> str:
        return with_password(self.handle.text(), self.password.text())

    def target_kind(self) -> str | None:
        if self.provision.isChecked():
            server = self.servers.get(self.server.currentText())
            return server.kind if server else None
        try:
            parsed = handles.parse(self.full_handle())
        except handles.HandleError:
            return None
        return parsed.kind if parsed.is_database else None

    def _update(self) -> None:
        provision = self.provision.isChecked()
        self.provision_box.setEnabled(provision)
        self.existing_box.setEnabled(not provision)
        server = self.servers.get(self.server.currentText())
        if server is not None:
            version = server.version or "version unknown"
            self.server_info.setText(f"{server.kind} {version} at {server.handle}")
            self.plan.setEnabled(server.has_plans)
            self.plan.setPlaceholderText(
                "for example db.t3.medium" if server.has_plans else "this server has no sizes or plans"
            )
        self._check_handle()
        source = self.wiz.database_page.source()
        kind = self.target_kind()
        if source is not None and kind is not None and kind != source.kind:
            self.engine_note.setText(
                f"<b>A cross-engine move</b> from {source.kind} to {kind}: the next page lists what is adapted "
                "and what cannot carry."
            )
        else:
            self.engine_note.setText("")
        self.completeChanged.emit()

    def _check_handle(self) -> bool:
        if not self.handle.text().strip():
            self.handle_status.setText("Type the new database's handle; its password goes in the field below.")
            self.test_button.setEnabled(False)
            return False
        try:
            parsed = handles.parse(self.full_handle())
        except handles.HandleError as exc:
            self.handle_status.setText(exc.message)
            self.test_button.setEnabled(False)
            return False
        if not parsed.is_database:
            self.handle_status.setText(f"A {parsed.kind} handle is not a database.")
            self.test_button.setEnabled(False)
            return False
        self.handle_status.setText(f"A {parsed.kind} database: {parsed.masked()}")
        self.test_button.setEnabled(True)
        return True

    def test_connection(self) -> None:
        if not self._check_handle():
            return
        self.test_button.setEnabled(False)
        self.test_result.setText("Testing…")
        text = self.full_handle()
        self.wiz.work(
            lambda: probe(text),
            name="test the connection",
            on_finished=self._show_test,
            on_failed=lambda e: self._show_test(ProbeResult(False, error_text(e))),
        )

    def _show_test(self, result: ProbeResult) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(("✔ " if result.ok else "✘ ") + result.message)

    def isComplete(self) -> bool:  # noqa: N802
        if self.provision.isChecked():
            return self.server.currentText() in self.servers
        return bool(self.handle.text().strip()) and self.target_kind() is not None


# -- 3. the plan (the commit page) -----------------------------------------------------------------


class PlanPage(QWizardPage):
    def __init__(self, wizard: UpgradeWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("The plan")
        self.setSubTitle("Nothing has changed yet. Read the plan, then start the upgrade.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Start the upgrade")
        self.plan: UpgradePlan | None = None
        self.starting = False
        self._request = 0
        self.summary = _label(name="Summary", selectable=True)
        self.steps = _tree("Steps", ["#", "Step"])
        self.checks = _tree("Pre-flight checks", ["Check", "Result", "Details"])
        self.estimate = _label(name="Estimated maintenance window")
        self.keep_days = QSpinBox()
        self.keep_days.setRange(1, 3650)
        self.keep_days.setSuffix(" days")
        self.keep_days.setAccessibleName("Keep the old database")
        self.keep_until = _label(name="Kept until")
        self.registerField("keep_days", self.keep_days)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setAccessibleName("Cross-engine report")
        self.report_label = QLabel("Across engines: what is adapted, and what cannot carry")
        self.warnings = _label(name="Warnings")
        self.warnings.setTextFormat(Qt.TextFormat.RichText)
        self.status = _label(name="Status")
        keep_label = QLabel("&Keep the old database for")
        keep_label.setBuddy(self.keep_days)
        keep = QHBoxLayout()
        keep.addWidget(keep_label)
        keep.addWidget(self.keep_days)
        keep.addWidget(self.keep_until, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        lists = QHBoxLayout()
        for title, tree, stretch in (
            ("Steps, in order:", self.steps, 1),
            ("Pre-flight checks (they changed nothing):", self.checks, 2),
        ):
            column = QVBoxLayout()
            column.addWidget(QLabel(title))
            column.addWidget(tree)
            lists.addLayout(column, stretch)
        layout.addLayout(lists, 1)
        layout.addWidget(self.estimate)
        layout.addLayout(keep)
        layout.addWidget(self.report_label)
        layout.addWidget(self.report, 1)
        layout.addWidget(self.warnings)
        layout.addWidget(self.status)
        self.keep_days.valueChanged.connect(self._show_keep_until)

    def initializePage(self) -> None:  # noqa: N802
        self.plan = None
        self.starting = False
        self._request += 1
        request = self._request
        for widget in (self.steps, self.checks):
            widget.clear()
        self.report.setVisible(False)
        self.report_label.setVisible(False)
        self.summary.setText("")
        self.estimate.setText("")
        self.warnings.setText("")
        self.status.setText("Running the pre-flight checks… nothing is changed.")
        ws = self.wiz.workspace
        source = str(self.field("source"))
        target = self.wiz.target_page
        provision = bool(self.field("provision"))
        handle = None if provision else target.full_handle()
        server = str(self.field("server")) if provision else None
        plan_text = (str(self.field("plan")).strip() or None) if provision else None
        name = str(self.field("target_name")).strip() or None

        def plan() -> UpgradePlan:
            return procedure.plan_upgrade(
                ws, source, to_handle=handle, provision_on=server, plan=plan_text, target_name=name
            )

        self.wiz.work(
            plan,
            name="plan the upgrade",
            on_finished=lambda p: self._show_plan(request, p),
            on_failed=lambda e: self._failed(request, e),
        )
        self.completeChanged.emit()

    def _failed(self, request: int, error: BaseException) -> None:
        if request == self._request:
            self.status.setText(f"<b>The upgrade cannot be planned:</b> {error_text(error)}")

    def _show_plan(self, request: int, plan: UpgradePlan) -> None:
        if request != self._request:
            return
        self.plan = plan
        self.wiz.plan = plan
        target = (
            f"a new database <b>{plan.target_name}</b> provisioned on {plan.target_server} ({plan.target_kind}"
            + (f", plan {plan.target_plan}" if plan.target_plan else "")
            + ")"
            if plan.target_server
            else f"the existing database <b>{plan.target_name}</b> at {plan.target_handle} ({plan.target_kind})"
        )
        deploys = ", ".join(f"{d} ({v})" for d, v in plan.deploys) or "no deploy"
        self.summary.setText(
            f"Move <b>{plan.source}</b> ({plan.source_kind} {plan.source_version}, {human_bytes(plan.source_size)}, "
            f"{plan.source_tables} tables, about {plan.source_rows:,} rows) to {target}. "
            f"Switched: {deploys}."
        )
        for i, (name, title) in enumerate(plan.steps, 1):
            item = QTreeWidgetItem([str(i), title])
            if name in ("maintenance_on", "switch"):
                font = item.font(1)
                font.setBold(True)
                item.setFont(1, font)
            self.steps.addTopLevelItem(item)
        for check in plan.checks:
            self.checks.addTopLevelItem(_row(check.name, "✔ passed" if check.ok else "✘ failed", check.message))
        self.estimate.setText(
            f"Estimated maintenance window: <b>about {human_seconds(plan.estimate_seconds)}</b> "
            "(min:s): the deploys are in maintenance from step 3 until step 8."
        )
        self.keep_days.setValue(plan.keep_days)
        self._show_keep_until()
        if plan.cross_engine:
            lines = [f"From {plan.source_kind} to {plan.target_kind}.", "", "Adapted:"]
            lines += [f"  • {a}" for a in plan.adaptations] or ["  • nothing"]
            lines += ["", "Cannot carry (left behind):"]
            lines += [f"  • {n}" for n in plan.not_carried] or ["  • nothing: everything carries"]
            self.report.setPlainText("\n".join(lines))
        self.report.setVisible(plan.cross_engine)
        self.report_label.setVisible(plan.cross_engine)
        warnings = [*plan.warnings]
        warnings += [f"{c.name}: {c.message}" for c in plan.checks if not c.ok]
        warnings.append(
            "After step 7 (the switch) there is no way back: the deploys use the new database. Until then a "
            "cancel or a failure rolls back, and the current database is never changed."
        )
        self.warnings.setText("<br>".join(f"⚠ {w}" for w in warnings))
        self.status.setText(
            "Ready: nothing has changed yet. Start the upgrade when the maintenance window suits the deploys."
            if plan.ok
            else "<b>A pre-flight check failed</b>, so the upgrade cannot start: fix it, then go Back and Next "
            "to check again."
        )
        self.completeChanged.emit()

    def _show_keep_until(self) -> None:
        until = (datetime.now(UTC) + timedelta(days=self.keep_days.value())).date().isoformat()
        self.keep_until.setText(f"after the switch (until about {until}); then Changeover reminds you to drop it.")

    def isComplete(self) -> bool:  # noqa: N802
        return self.plan is not None and self.plan.ok and not self.starting

    def validatePage(self) -> bool:  # noqa: N802
        """Start the run (a job), then go on when it is journaled: ``start_upgrade`` is called here."""
        if self.wiz.run_info is not None:
            return True
        if self.plan is None or self.starting:
            return False
        plan = dataclasses.replace(self.plan, keep_days=self.keep_days.value())
        self.starting = True
        self.completeChanged.emit()
        self.status.setText("Starting: journaling the run and taking the database's lock…")
        self.wiz.work(
            lambda: procedure.start_upgrade(self.wiz.workspace, plan),
            name="start the upgrade",
            on_finished=self._started,
            on_failed=self._start_failed,
        )
        return False

    def _started(self, run: RunInfo) -> None:
        self.wiz.run_info = run
        self.wiz.changed()
        self.wiz.next()

    def _start_failed(self, error: BaseException) -> None:
        self.starting = False
        self.status.setText(f"<b>The upgrade did not start:</b> {error_text(error)}")
        self.completeChanged.emit()


# -- 4. progress -----------------------------------------------------------------------------------


class ProgressPage(QWizardPage):
    def __init__(self, wizard: UpgradeWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("The upgrade")
        self.setSubTitle("Each step as it runs. Cancel stops at a safe point and rolls back, until the switch.")
        self.setCommitPage(True)  # once done, there is no going back to this run's progress
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Next >")
        self.job: Job | None = None
        self.rolling_back = False
        self.switched = False
        self.succeeded = False
        self.current = ""
        self.states: dict[str, str] = dict.fromkeys(procedure.STEPS, "waiting")
        self.fraction = 0.0
        self.meter = RateMeter()
        self.maintenance_started: datetime | None = None
        self.maintenance_ended: datetime | None = None
        self.relay = EventRelay(hook=wizard.event_hook)
        self.relay.arrived.connect(self.show_event)

        self.checklist = _tree("Steps", ["Step", "State", "Details"])
        self.items: dict[str, QTreeWidgetItem] = {}
        for name in procedure.STEPS:
            item = QTreeWidgetItem([procedure.TITLES[name], "", ""])
            self.items[name] = item
            self.checklist.addTopLevelItem(item)
            self._set_state(name, "waiting")
        self.step_label = _label(name="Current step")
        self.step_bar = QProgressBar()
        self.step_bar.setAccessibleName("Current step progress")
        self.step_bar.setFormat("%p%")
        self.rate = _label(name="Rate and time left")
        self.overall_bar = QProgressBar()
        self.overall_bar.setAccessibleName("Overall progress")
        self.overall_bar.setRange(0, 1000)
        self.overall_bar.setFormat("Overall %p%")
        self.window_label = _label(name="Maintenance window")
        self.banner = _label(name="Point of no return")
        self.banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.banner.hide()
        self.status = _label(name="Status", selectable=True)
        self.failure = QFrame()
        self.failure.setFrameShape(QFrame.Shape.StyledPanel)
        self.failure_text = _label(name="What went wrong", selectable=True)
        self.retry_button = QPushButton(get_colored_icon("restart"), "&Retry")
        self.retry_button.setAccessibleName("Retry")
        self.rollback_button = QPushButton(get_colored_icon("remove"), "Roll &back")
        self.rollback_button.setAccessibleName("Roll back")
        failure_layout = QVBoxLayout(self.failure)
        failure_layout.addWidget(self.failure_text)
        failure_buttons = QHBoxLayout()
        failure_buttons.addWidget(self.retry_button)
        failure_buttons.addWidget(self.rollback_button)
        failure_buttons.addStretch(1)
        failure_layout.addLayout(failure_buttons)
        self.failure.hide()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setAccessibleName("Log")
        bars = QFormLayout()
        bars.addRow("Step:", self.step_bar)
        bars.addRow("", self.rate)
        bars.addRow("All:", self.overall_bar)
        layout = QVBoxLayout(self)
        layout.addWidget(self.checklist, 3)
        layout.addWidget(self.step_label)
        layout.addLayout(bars)
        layout.addWidget(self.window_label)
        layout.addWidget(self.banner)
        layout.addWidget(self.failure)
        layout.addWidget(self.status)
        layout.addWidget(self.log, 2)
        self.timer = QTimer(self)
        self.timer.setInterval(500)
        self.timer.timeout.connect(self._tick)
        self.retry_button.clicked.connect(self.resume)
        self.rollback_button.clicked.connect(self.ask_rollback)

    # -- starting -------------------------------------------------------------------------------

    def initializePage(self) -> None:  # noqa: N802
        run = self.wiz.run_info
        if run is None:
            return
        if self.wiz.resumed:
            self.status.setText(f"Reading upgrade run {run.id}…")
            self.wiz.work(
                lambda: procedure.show_run(self.wiz.workspace, run.id),
                name="read the upgrade run",
                on_finished=self._offer_resume,
                on_failed=lambda e: self.status.setText(error_text(e)),
            )
        else:
            self.start()

    def _offer_resume(self, run: RunInfo) -> None:
        self.sync(run)
        for name, state in list(self.states.items()):
            if state in ("running", "retrying"):
                self._set_state(name, "interrupted")
        self._write(f"Upgrade run {run.id} of {run.source} to {run.target}, started {run.created_at:%Y-%m-%d %H:%M}")
        if run.finished:
            self.status.setText(f"Upgrade run {run.id} is already {run.state.replace('_', ' ')}.")
            return
        stopped_at = procedure.TITLES.get(run.step, run.step)
        why = f": {run.error}" if run.error else " (Changeover was stopped while it ran)"
        text = f"Upgrade run {run.id} did not finish: it stopped at '{stopped_at}'{why}."
        if run.state == "rolling_back":
            self.offer(text + " It was being rolled back: finish the rollback.", retry=None)
        elif run.switched:
            self.offer(text + " It has passed the point of no return: resume it to finish.", retry="&Resume")
        else:
            self.offer(text + " Resume it from there, or roll it back.", retry="&Resume")

    def start(self) -> None:
        """Execute (or resume) the run; a failure before the switch pauses for Retry or Roll back."""
        run = self.wiz.run_info
        assert run is not None
        self.failure.hide()
        self.status.setText(f"Upgrading {run.source} to {run.target}…")
        self.wiz.setButtonText(QWizard.WizardButton.CancelButton, "Cancel")
        self.wiz.setOption(QWizard.WizardOption.NoCancelButton, self.switched)  # no Cancel after the switch
        ws, relay = self.wiz.workspace, self.relay
        self.meter.reset()
        if not self.timer.isActive():
            self.timer.start()
        self._tick()
        self.job = self.wiz.run_runner.start(
            lambda _progress, cancel: procedure.execute(
                ws, run.id, cancel=cancel, on_event=relay.send, on_failure="pause"
            ),
            name=f"upgrade run {run.id}",
            on_finished=self._succeeded,
            on_failed=self._failed,
        )
        self.job.signals.cancelled.connect(self._cancelled)

    def resume(self) -> None:
        self._write("Retrying: the run goes on from the step that stopped.")
        self.start()

    def cancel_run(self) -> None:
        if self.job is not None and not self.switched and not self.rolling_back:
            self.job.cancel()
            self.status.setText("Stopping at the next safe point, then rolling back…")
            self._write("Cancel asked: stopping at the next safe point, then rolling back.")

    def ask_rollback(self) -> None:
        run = self.wiz.run_info
        assert run is not None
        self.wiz.confirm(
            "Roll back the upgrade?",
            f"The deploys leave maintenance on '{run.source}', which was not changed; the new database is marked "
            "failed, for you to deprovision.",
            self.rollback,
        )

    def rollback(self) -> None:
        run = self.wiz.run_info
        assert run is not None
        self.failure.hide()
        self.rolling_back = True
        self.status.setText("Rolling back…")
        ws, relay = self.wiz.workspace, self.relay
        self.job = self.wiz.work(
            lambda: procedure.rollback(ws, run.id, on_event=relay.send),
            name=f"roll back upgrade run {run.id}",
            on_finished=self._rolled_back,
            on_failed=self._failed,
            run=True,
        )

    def offer(self, text: str, retry: str | None) -> None:
        """Show what stopped the run, with Retry/Resume (``retry`` is its text) and Roll back when possible."""
        self.failure_text.setText(text)
        self.retry_button.setVisible(retry is not None)
        if retry is not None:
            self.retry_button.setText(retry)
            self.retry_button.setAccessibleName(retry.replace("&", ""))
        self.rollback_button.setVisible(not self.switched)
        self.failure.show()
        self.status.setText("")
        self.step_bar.setRange(0, 1000)
        self.step_bar.setValue(0)
        self.rate.setText("")
        # Nothing runs now: the wizard may close (the run stays unfinished, offered again at start-up).
        self.wiz.setOption(QWizard.WizardOption.NoCancelButton, False)
        self.wiz.setButtonText(QWizard.WizardButton.CancelButton, "&Close")

    # -- events ---------------------------------------------------------------------------------

    def show_event(self, event: RunEvent) -> None:
        """One event of the run, on the GUI thread."""
        if event.state == "progress":
            self._progress(event)
            return
        if event.state == "switched":
            self._passed_the_switch()
        elif event.state == "rolled_back":
            for name, state in self.states.items():
                if state == "done":
                    self._set_state(name, "rolled_back")
                elif state in ("running", "retrying", "interrupted"):
                    self._set_state(name, "failed")
            self._maintenance_over()
        elif event.step in self.items:
            self._set_state(event.step, event.state, event.message)
            if event.state == "running":
                self.current = event.step
                self.fraction = 0.0
                self.meter.reset()
                self.step_label.setText(f"<b>{procedure.TITLES[event.step]}</b>")
                self.step_bar.setRange(0, 0)
                self.rate.setText("")
                if event.step == "maintenance_on" and self.maintenance_started is None:
                    self.maintenance_started = datetime.now(UTC)
                    self._tick()
            elif event.state == "done":
                self.fraction = 1.0 if event.step == self.current else self.fraction
                if event.step == "maintenance_off":
                    self._maintenance_over()
        title = procedure.TITLES.get(event.step, event.step.replace("_", " ").capitalize())
        message = "" if event.message == title else event.message
        self._write(f"{title}: {STATES.get(event.state, ('', event.state))[1].lower()}. {message}".strip())
        self._overall()
        self.wiz.changed()

    def _progress(self, event: RunEvent) -> None:
        if event.step != self.current:
            return
        self.meter.update(event.done, event.total, event.unit)
        if event.message:
            self.step_label.setText(f"<b>{procedure.TITLES[event.step]}</b>: {event.message}")
        percent = self.meter.percent
        if percent is None:
            self.step_bar.setRange(0, 0)
            self.fraction = 0.0
        else:
            self.step_bar.setRange(0, 1000)
            self.step_bar.setValue(int(percent * 10))
            self.fraction = percent / 100
        parts = []
        if event.total:
            parts.append(f"{human_count(event.done, event.unit)} of {human_count(event.total, event.unit)}")
        rate = human_rate(self.meter.rate, event.unit)
        if rate:
            parts.append(rate)
        eta = human_seconds(self.meter.eta)
        if eta:
            parts.append(f"{eta} left")
        self.rate.setText(" · ".join(parts))
        self._overall()

    def _overall(self) -> None:
        done = sum(procedure.WEIGHTS[n] for n, s in self.states.items() if s in ("done", "skipped"))
        if self.current and self.states.get(self.current) in ("running", "retrying"):
            done += procedure.WEIGHTS[self.current] * self.fraction
        self.overall_bar.setValue(int(1000 * done / TOTAL_WEIGHT))

    def _set_state(self, name: str, state: str, message: str | None = None) -> None:
        self.states[name] = state
        item = self.items[name]
        mark, text = STATES.get(state, ("", state))
        item.setText(1, f"{mark} {text}")
        if message is not None:
            item.setText(2, message)
            item.setToolTip(2, message)

    def _passed_the_switch(self) -> None:
        self.switched = True
        self.banner.setText(
            "<b>The point of no return has passed:</b> the deploys now use the new database. The upgrade only "
            "goes forward from here; it can no longer be cancelled or rolled back."
        )
        self.banner.show()
        if self.job is not None and self.job.cancel_event.is_set():
            self.status.setText("The cancel came too late: the switch had begun, so the upgrade goes forward.")
            self._write("The cancel came too late: the switch had begun, so the upgrade goes forward.")
        self.wiz.setOption(QWizard.WizardOption.NoCancelButton, True)
        self.rollback_button.hide()

    def _maintenance_over(self) -> None:
        if self.maintenance_started is not None and self.maintenance_ended is None:
            self.maintenance_ended = datetime.now(UTC)
        self._tick()

    def _tick(self) -> None:
        if self.maintenance_started is None:
            self.window_label.setText("Maintenance window: not started (the deploys still serve normally).")
            return
        end = self.maintenance_ended or datetime.now(UTC)
        seconds = (end - self.maintenance_started).total_seconds()
        if self.maintenance_ended is None:
            self.window_label.setText(f"Maintenance window: <b>{human_seconds(seconds)}</b> so far (min:s).")
        else:
            self.window_label.setText(f"Maintenance window: {human_seconds(seconds)} (min:s), over.")

    def _write(self, line: str) -> None:
        self.log.appendPlainText(f"{datetime.now():%H:%M:%S}  {line}")
        bar = self.log.verticalScrollBar()
        bar.setValue(bar.maximum())  # follow the newest line

    def sync(self, run: RunInfo) -> None:
        """Show the journal's view of the run (after a job, or when opened on an unfinished run)."""
        self.wiz.run_info = run
        for step in run.steps:
            self._set_state(step.name, step.state, step.message)
        self.current = run.step
        self.switched = run.switched
        if run.switched:
            self._passed_the_switch()
        if run.maintenance_started_at is not None:
            self.maintenance_started = run.maintenance_started_at
            if run.maintenance_seconds is not None:
                self.maintenance_ended = run.maintenance_started_at + timedelta(seconds=run.maintenance_seconds)
        self.fraction = 0.0
        self._overall()
        self._tick()

    # -- outcomes -------------------------------------------------------------------------------

    def _ended(self) -> None:
        self.job = None
        self.timer.stop()
        self.wiz.changed()

    def _succeeded(self, run: RunInfo) -> None:
        self._ended()
        self.sync(run)
        self.succeeded = True
        self.step_bar.setRange(0, 1000)
        self.step_bar.setValue(1000)
        self.overall_bar.setValue(1000)
        self.rate.setText("")
        self.step_label.setText("<b>Done.</b>")
        self.status.setText(f"The upgrade is complete: the deploys use {run.target}. Next shows the summary.")
        self._write(f"Upgrade run {run.id} is complete.")
        self.completeChanged.emit()
        self.wiz.run_ended.emit(run)

    def _failed(self, error: BaseException) -> None:
        self._ended()
        self.rolling_back = False
        message = error_text(error)
        self._write(f"Stopped: {message}")
        run = self.wiz.run_info
        assert run is not None
        self.wiz.work(
            lambda: procedure.show_run(self.wiz.workspace, run.id),
            name="read the upgrade run",
            on_finished=lambda info: self._paused(info, message),
            on_failed=lambda e: self.offer(message, retry="&Retry"),
        )

    def _paused(self, run: RunInfo, message: str) -> None:
        self.sync(run)
        if run.finished:  # the procedure rolled back itself
            self._closed(f"{message}")
            return
        self.offer(message, retry="&Retry")
        self.wiz.run_ended.emit(run)

    def _cancelled(self) -> None:
        self._ended()
        run = self.wiz.run_info
        assert run is not None
        self.wiz.work(
            lambda: procedure.show_run(self.wiz.workspace, run.id),
            name="read the upgrade run",
            on_finished=self._cancel_done,
            on_failed=lambda e: self._closed(error_text(e)),
        )

    def _cancel_done(self, run: RunInfo) -> None:
        self.sync(run)
        self._closed(
            f"Cancelled and rolled back: the deploys are out of maintenance on '{run.source}', which was not "
            f"changed; the new database {run.target} is marked failed."
        )

    def _rolled_back(self, run: RunInfo) -> None:
        self._ended()
        self.rolling_back = False
        self.sync(run)
        self._closed(
            f"Rolled back: the deploys are out of maintenance on '{run.source}', which was not changed; the new "
            f"database {run.target} is marked failed, for you to deprovision."
        )

    def _closed(self, text: str) -> None:
        """The run is over without an upgrade: say so, and let the wizard close."""
        self.failure.hide()
        self._maintenance_over()
        self.step_bar.setRange(0, 1000)
        self.step_bar.setValue(0)
        self.rate.setText("")
        self.status.setText(f"<b>{text}</b>")
        self._write(text)
        self.wiz.setButtonText(QWizard.WizardButton.CancelButton, "&Close")
        if self.wiz.run_info is not None:
            self.wiz.run_ended.emit(self.wiz.run_info)

    def isComplete(self) -> bool:  # noqa: N802
        return self.succeeded


def human_count(value: int, unit: str) -> str:
    return human_bytes(value) if unit == "bytes" else f"{value:,} {unit}".strip()


# -- 5. done ---------------------------------------------------------------------------------------


class DonePage(QWizardPage):
    def __init__(self, wizard: UpgradeWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Done")
        self.setSubTitle("The deploys use the new database; the old one is kept, detached, until its date.")
        self.summary = _label(name="Summary", selectable=True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.durations = _tree("Step durations", ["Step", "Took", "Attempts", "Result"])
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Each step:"))
        layout.addWidget(self.durations, 1)

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
            f"Copied: {rows:,} rows, {human_bytes(copied)}." if rows is not None else f"Copied: {human_bytes(copied)}.",
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
            self.durations.addTopLevelItem(_row(step.title, took, str(step.attempts), step.message))


# -- opening the wizard from the main window -------------------------------------------------------


class UpgradeLauncher(QObject):
    """Opens the wizard for the window's "Upgrade database…" and, at start-up, on an unfinished run."""

    opened = Signal(object)  # the UpgradeWizard

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.wizard: UpgradeWizard | None = None
        window.controller.upgrade_requested.connect(self.open_for_resource)

    def _open(self, **kwargs: Any) -> UpgradeWizard:
        if self.wizard is not None and self.wizard.isVisible():
            self.wizard.raise_()
            self.wizard.activateWindow()
            return self.wizard
        controller = self.window.controller
        wizard = UpgradeWizard(controller.workspace, runner=controller.runner, parent=self.window, **kwargs)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.inventory_changed.connect(controller.refresh)
        wizard.finished.connect(lambda _result: controller.refresh())
        wizard.destroyed.connect(self._forget)
        self.wizard = wizard
        wizard.open()
        self.opened.emit(wizard)
        return wizard

    def _forget(self) -> None:
        self.wizard = None

    def open_for_resource(self, resource: str) -> Job:
        """The wizard for ``resource``; on its unfinished run if it has one (to resume or roll back)."""

        def found(runs: list[RunInfo]) -> None:
            mine = [r for r in runs if r.source == resource]
            if mine:
                self.open_for_run(mine[0])
            else:
                self._open(resource=resource)

        return self._unfinished(found)

    def open_for_run(self, run: RunInfo) -> UpgradeWizard:
        return self._open(run=run)

    def check_unfinished(self) -> Job:
        """At start-up: open the wizard on the newest unfinished run, if any, offering Resume or Roll back."""

        def found(runs: list[RunInfo]) -> None:
            if runs:
                self.open_for_run(runs[0])

        return self._unfinished(found)

    def _unfinished(self, then: Callable[[list[RunInfo]], None]) -> Job:
        workspace = self.window.controller.workspace

        def job(progress: Callable[[int, int | None, str, str], None], cancel: threading.Event) -> list[RunInfo]:
            runs: list[RunInfo] = procedure.list_runs(workspace, unfinished=True)
            return runs

        return self.window.controller.runner.start(
            job, name="look for unfinished upgrades", on_finished=then, on_failed=self.window.show_error
        )


def install(window: MainWindow) -> UpgradeLauncher:
    """Connect the wizard to a main window and offer to finish an interrupted upgrade."""
    launcher = UpgradeLauncher(window)
    launcher.check_unfinished()
    return launcher
