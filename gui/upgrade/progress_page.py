"""4. Progress: the steps' checklist, the current step's bar with rate and ETA, the overall bar, the log;
Retry or Roll back after a failure, no way back after the switch.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from changeover.core.formats import human_seconds
from changeover.core.upgrade import procedure
from changeover.core.upgrade.procedure import RunEvent, RunInfo
from changeover.core.upgrade.runs import PROGRESS, RunProgress

from ..formatting import count as human_count
from ..formatting import rate as human_rate
from ..icons import get_colored_icon
from ..jobs import Job
from .common import (
    STATES,
    EventRelay,
    WizardHost,
    error_text,
    step_tree,
    wrapped_label,
)

logger = logging.getLogger(__name__)


class ProgressPage(QWizardPage):
    def __init__(self, wizard: WizardHost) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("The upgrade")
        self.setSubTitle("Each step as it runs. Cancel stops at a safe point and rolls back, until the switch.")
        self.setCommitPage(True)  # once done, there is no going back to this run's progress
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Next >")
        self.job: Job | None = None
        self.rolling_back = False
        self.succeeded = False
        self.progress = RunProgress()  # the core's view of the run: this page only renders it
        self.relay = EventRelay(hook=wizard.event_hook)
        self.relay.arrived.connect(self.show_event)

        self.checklist = step_tree("Steps", ["Step", "State", "Details"])
        self.items: dict[str, QTreeWidgetItem] = {}
        self._use_steps(procedure.STEPS)
        self.step_label = wrapped_label(name="Current step")
        self.step_bar = QProgressBar()
        self.step_bar.setAccessibleName("Current step progress")
        self.step_bar.setFormat("%p%")
        self.rate = wrapped_label(name="Rate and time left")
        self.overall_bar = QProgressBar()
        self.overall_bar.setAccessibleName("Overall progress")
        self.overall_bar.setRange(0, 1000)
        self.overall_bar.setFormat("Overall %p%")
        self.window_label = wrapped_label(name="Maintenance window")
        self.banner = wrapped_label(name="Point of no return")
        self.banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.banner.hide()
        self.status = wrapped_label(name="Status", selectable=True)
        self.failure = QFrame()
        self.failure.setFrameShape(QFrame.Shape.StyledPanel)
        self.failure_text = wrapped_label(name="What went wrong", selectable=True)
        self.retry_button = QPushButton(get_colored_icon("restart"), "&Retry")
        self.retry_button.setAccessibleName("Retry")
        self.rollback_button = QPushButton(get_colored_icon("remove"), "Roll &back")
        self.rollback_button.setAccessibleName("Roll back")
        for button in (self.retry_button, self.rollback_button):
            # Not the dialog's default when focused: Enter belongs to the wizard's Next, and a hidden button that
            # kept the focus (its window was not active when it was hidden) must not answer it.
            button.setAutoDefault(False)
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

    def _use_steps(self, names: tuple[str, ...] | list[str]) -> None:
        """One row per step of the run's route (the copy route's until a run says otherwise)."""
        if list(names) == list(self.items):
            return
        self.checklist.clear()
        self.items = {}
        for name in names:
            item = QTreeWidgetItem([procedure.TITLES[name], "", ""])
            self.items[name] = item
            self.checklist.addTopLevelItem(item)
            self._set_state(name, "waiting")

    def initializePage(self) -> None:  # noqa: N802
        run = self.wiz.run_info
        if run is None:
            return
        if run.steps:
            self._use_steps([s.name for s in run.steps])
            self.progress.sync(run)
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
        self.progress.sync(run)
        self.progress.interrupted()
        self._render()
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
        self._hide_failure()
        self.status.setText(f"Upgrading {run.source} to {run.target}…")
        self.wiz.setButtonText(QWizard.WizardButton.CancelButton, "Cancel")
        self.wiz.setOption(QWizard.WizardOption.NoCancelButton, self.switched)  # no Cancel after the switch
        ws, relay = self.wiz.workspace, self.relay
        self.progress.meter.reset()
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
        if self.job is not None or self.succeeded or not self.retry_button.isVisible():
            return  # nothing to retry: a run under way, or done
        self._write("Retrying: the run goes on from the step that stopped.")
        self.start()

    def cancel_run(self) -> None:
        if self.job is not None and not self.switched and not self.rolling_back:
            self.job.cancel()
            self.status.setText("Stopping at the next safe point, then rolling back…")
            self._write("Cancel asked: stopping at the next safe point, then rolling back.")

    def ask_rollback(self) -> None:
        if self.job is not None or not self.rollback_button.isVisible():
            return
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
        self._hide_failure()
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

    def _hide_failure(self) -> None:
        """Hide Retry and Roll back; the focus, if one of them had it, goes to the log (Qt moves it only in an
        active window, and a hidden button that keeps it would still get the keys)."""
        focus = self.window().focusWidget()
        self.failure.hide()
        if focus is not None and (focus is self.failure or self.failure.isAncestorOf(focus)):
            self.log.setFocus(Qt.FocusReason.OtherFocusReason)

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

    @property
    def switched(self) -> bool:
        return self.progress.switched

    @property
    def states(self) -> dict[str, str]:
        """Each step's state as shown (read from the core's view)."""
        return {name: state for name, (state, _) in self.progress.steps.items()}

    def show_event(self, event: RunEvent) -> None:
        """One event of the run, on the GUI thread: folded into the core's view, then rendered."""
        was_switched = self.progress.switched
        self.progress.apply(event)
        if event.state == PROGRESS:
            self._render_current(event)
            return
        if self.progress.switched and not was_switched:
            self._passed_the_switch()
        if event.state == "running" and event.step in self.items:
            self.step_label.setText(f"<b>{procedure.TITLES[event.step]}</b>")
            self.step_bar.setRange(0, 0)
            self.rate.setText("")
        self._render()
        title = procedure.TITLES.get(event.step, event.step.replace("_", " ").capitalize())
        message = "" if event.message == title else event.message
        self._write(f"{title}: {STATES.get(event.state, ('', event.state))[1].lower()}. {message}".strip())
        self.wiz.changed()

    def _render_current(self, event: RunEvent) -> None:
        """The current step's bar, rate and time left, from the core's meter."""
        if event.step != self.progress.current:
            return
        meter = self.progress.meter
        if event.message:
            self.step_label.setText(f"<b>{procedure.TITLES[event.step]}</b>: {event.message}")
        percent = meter.percent
        if percent is None:
            self.step_bar.setRange(0, 0)
        else:
            self.step_bar.setRange(0, 1000)
            self.step_bar.setValue(int(percent * 10))
        parts = []
        if event.total:
            parts.append(f"{human_count(event.done, event.unit)} of {human_count(event.total, event.unit)}")
        rate = human_rate(meter.rate, event.unit)
        if rate:
            parts.append(rate)
        eta = human_seconds(meter.eta)
        if eta:
            parts.append(f"{eta} left")
        self.rate.setText(" · ".join(parts))
        self._overall()

    def _render(self) -> None:
        """Every step's row, the overall bar and the maintenance window, as the core's view has them."""
        self._use_steps(list(self.progress.steps))
        for name, (state, message) in self.progress.steps.items():
            self._set_state(name, state, message)
        self._overall()
        self._tick()

    def _overall(self) -> None:
        self.overall_bar.setValue(int(1000 * self.progress.overall))

    def _set_state(self, name: str, state: str, message: str | None = None) -> None:
        item = self.items[name]
        mark, text = STATES.get(state, ("", state))
        item.setText(1, f"{mark} {text}")
        if message is not None:
            item.setText(2, message)
            item.setToolTip(2, message)

    def _passed_the_switch(self) -> None:
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
        self.progress.window_closes(datetime.now(UTC))
        self._tick()

    def _tick(self) -> None:
        seconds = self.progress.maintenance_seconds()
        if seconds is None:
            self.window_label.setText("Maintenance window: not started (the deploys still serve normally).")
            return
        if self.progress.maintenance_ended is None:
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
        self.progress.sync(run)
        if run.switched:
            self._passed_the_switch()
        self._render()

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
        self.sync(run)  # the journal records the step a cancel stopped as cancelled, not failed
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
        self._hide_failure()
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
