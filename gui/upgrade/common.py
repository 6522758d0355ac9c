"""What every page of the upgrade wizard shares: page ids, step states as shown, small widgets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, Signal, SignalInstance
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QWizard,
)

from changeover.core.errors import ChangeoverError
from changeover.core.records import ResourceInfo
from changeover.core.upgrade.procedure import RunEvent, RunInfo, UpgradePlan
from changeover.core.workspace import Workspace

from ..jobs import Job, JobRunner

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
    "cancelled": ("■", "Cancelled"),  # journaled as failed, but the admin's own Cancel stopped it
}
CANCELLED = "cancelled"


#: ``confirm(title, text, on_yes)``: ask, then call ``on_yes`` if the admin agrees (never a nested loop)
Confirm = Callable[[str, str, Callable[[], None]], None]


class WizardHost(Protocol):
    """What the pages use of the wizard. The wizard is made of the pages, so they know it only by this."""

    workspace: Workspace
    initial_resource: str | None
    run_info: RunInfo | None
    resumed: bool
    plan: UpgradePlan | None
    run_runner: JobRunner
    event_hook: Callable[[RunEvent], None] | None
    confirm: Confirm
    run_ended: SignalInstance

    def work(
        self,
        call: Callable[[], Any],
        *,
        name: str,
        on_finished: Callable[[Any], None],
        on_failed: Callable[[BaseException], None],
        run: bool = False,
    ) -> Job: ...

    def changed(self) -> None: ...

    def setOption(self, option: QWizard.WizardOption, on: bool = ...) -> None: ...  # noqa: N802

    def setButtonText(self, which: QWizard.WizardButton, text: str) -> None: ...  # noqa: N802

    def next(self) -> None: ...

    def source(self) -> ResourceInfo | None:
        """The database chosen on the first page."""
        ...

    def target_handle(self) -> str:
        """The full handle typed on the second page (password included)."""
        ...


#: ``inform(title, text)``: tell the admin something, without blocking
Inform = Callable[[str, str], None]


def error_text(error: BaseException) -> str:
    """What the admin reads about a failed job: the core's message, or the bug's type and text."""
    if isinstance(error, ChangeoverError):
        return str(error.message)
    logger.error("unexpected error in the upgrade wizard", exc_info=(type(error), error, error.__traceback__))
    return f"Unexpected error ({type(error).__name__}): {error}. The log file has the details."


def wrapped_label(text: str = "", name: str = "", selectable: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if name:
        label.setAccessibleName(name)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def step_tree(name: str, headers: list[str]) -> QTreeWidget:
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


def tree_row(*texts: str) -> QTreeWidgetItem:
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
