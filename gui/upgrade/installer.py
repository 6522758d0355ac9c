"""How the window gets its upgrade wizard: "Upgrade database…", and an unfinished run offered at start-up."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from changeover.core.upgrade import procedure
from changeover.core.upgrade.procedure import RunInfo

from ..jobs import Job
from ..main_window import MainWindow
from .wizard import UpgradeWizard

logger = logging.getLogger(__name__)


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
