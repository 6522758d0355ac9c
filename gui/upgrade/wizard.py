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

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThreadPool, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QMessageBox,
    QWidget,
    QWizard,
)

from changeover.core.records import ResourceInfo
from changeover.core.upgrade.procedure import RunEvent, RunInfo, UpgradePlan
from changeover.core.workspace import Workspace

from ..icons import get_colored_icon
from ..jobs import Job, JobRunner
from .common import (
    PAGE_DATABASE,
    PAGE_PROGRESS,
    Confirm,
    Inform,
)
from .database_page import DatabasePage
from .done_page import DonePage
from .plan_page import PlanPage
from .progress_page import ProgressPage
from .target_page import TargetPage

logger = logging.getLogger(__name__)


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

    def source(self) -> ResourceInfo | None:
        return self.database_page.source()

    def target_handle(self) -> str:
        return self.target_page.full_handle()

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
