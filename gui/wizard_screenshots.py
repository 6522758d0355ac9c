"""Render the upgrade wizard's screenshots: ``python -m changeover.gui.wizard_screenshots [OUTDIR]``.

Like :mod:`changeover.gui.screenshots` (temp user folders, an in-memory keyring, every text checked for
the demo's secrets before saving), over the demo workspace: a real upgrade of the demo database onto
the demo's SQLite server folder, the progress page taken mid-run by holding the run's worker at one
event. When the local PostgreSQL answers (``CHANGEOVER_SCREENSHOT_POSTGRES_URL``, by default the local
server), the plan of a cross-engine move to it is shown too; planning creates nothing there.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from .screenshots import check_no_secret, demo_secrets, isolated_folders

POSTGRES_URL = os.environ.get(
    "CHANGEOVER_SCREENSHOT_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def render(outdir: Path) -> list[Path]:
    """Render every page of the wizard into ``outdir`` as wizard-*.png; return the files written."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    outdir.mkdir(parents=True, exist_ok=True)
    with demo_secrets(), isolated_folders():
        return _render(outdir)


class _Hold:
    """Holds the run's worker thread at the first event ``matches`` accepts, until released."""

    def __init__(self, matches: Callable[[object], bool]) -> None:
        self.matches = matches
        self.reached = threading.Event()
        self.released = threading.Event()

    def __call__(self, event: object) -> None:
        if not self.reached.is_set() and self.matches(event):
            self.reached.set()
            self.released.wait(60)


def _render(outdir: Path) -> list[Path]:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QWizard

    from changeover.core import demo as demo_module
    from changeover.core import servers
    from changeover.core.errors import ChangeoverError
    from changeover.core.upgrade import procedure
    from changeover.core.upgrade.procedure import RunEvent
    from changeover.core.workspace import Workspace

    from .app import application
    from .upgrade import PAGE_PLAN, PAGE_PROGRESS, UpgradeWizard

    app = application([])
    app.setStyle("Fusion")
    workspace = Workspace.open()
    demo = demo_module.create_demo(workspace)
    written: list[Path] = []
    wizards: list[UpgradeWizard] = []

    def wait_until(predicate: Callable[[], bool], timeout_ms: int = 30000) -> None:
        """Run the event loop until ``predicate`` holds (a QEventLoop, not processEvents)."""
        loop = QEventLoop()
        poll = QTimer()
        poll.timeout.connect(lambda: loop.quit() if predicate() else None)
        poll.start(20)
        QTimer.singleShot(timeout_ms, loop.quit)
        if not predicate():
            loop.exec()
        poll.stop()
        if not predicate():
            raise TimeoutError("the wizard did not get there in time")

    def pause(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def save(wizard: UpgradeWizard, name: str) -> None:
        check_no_secret(wizard, demo.secrets)
        pause(100)
        path = outdir / f"wizard-{name}.png"
        wizard.grab().save(str(path))
        written.append(path)

    def wizard(**kwargs: object) -> UpgradeWizard:
        made = UpgradeWizard(workspace, **kwargs)  # type: ignore[arg-type]
        made.resize(960, 680)
        made.show()
        wizards.append(made)
        return made

    def click(made: UpgradeWizard, button: QWizard.WizardButton) -> None:
        made.button(button).click()

    hold = _Hold(
        lambda e: (
            isinstance(e, RunEvent) and e.step == "verify" and e.state == "progress" and 0 < e.done < (e.total or 0)
        )
    )
    try:
        first = wizard(resource=demo_module.DATABASE, event_hook=hold)
        first.progress_page.relay.interval = 0  # the demo is small: show every report, so the hold shows one
        wait_until(first.database_page.isComplete)
        save(first, "1-database")
        click(first, QWizard.WizardButton.NextButton)
        wait_until(lambda: first.target_page.loaded)
        save(first, "2-target")
        first.target_page.existing.setChecked(True)
        first.target_page.handle.setText("postgresql://shop@db-15.internal:5432/shop")
        first.target_page.password.setText("never-shown-pa55")
        check_no_secret(first, ("never-shown-pa55",))
        save(first, "2-target-existing")
        first.target_page.password.clear()
        first.target_page.handle.clear()
        first.target_page.provision.setChecked(True)
        click(first, QWizard.WizardButton.NextButton)
        wait_until(lambda: first.currentId() == PAGE_PLAN and first.plan_page.plan is not None)
        save(first, "3-plan")
        click(first, QWizard.WizardButton.CommitButton)
        wait_until(lambda: first.currentId() == PAGE_PROGRESS and hold.reached.is_set())
        pause(1200)  # the maintenance window's clock ticks
        save(first, "4-progress")
        hold.released.set()
        wait_until(lambda: first.progress_page.succeeded)
        save(first, "4-progress-done")
        click(first, QWizard.WizardButton.CommitButton)
        wait_until(lambda: "kept until" in first.done_page.summary.text())
        save(first, "5-done")
        click(first, QWizard.WizardButton.FinishButton)

        # A failure pauses the run: Retry or Roll back.
        [run] = procedure.list_runs(workspace)
        workspace.edit_deploy(
            demo_module.DEPLOY,
            maintenance_on_cmd="echo 'the load balancer refused the maintenance page' >&2; exit 3",
            maintenance_off_cmd="true",
        )
        second = wizard(resource=run.target)
        wait_until(second.database_page.isComplete)
        click(second, QWizard.WizardButton.NextButton)
        wait_until(lambda: second.target_page.loaded)
        click(second, QWizard.WizardButton.NextButton)
        wait_until(lambda: second.plan_page.plan is not None)
        click(second, QWizard.WizardButton.CommitButton)
        wait_until(lambda: second.progress_page.failure.isVisible())
        save(second, "4-progress-failed")
        second.progress_page.rollback()
        wait_until(lambda: second.progress_page.job is None and "Rolled back" in second.progress_page.status.text())
        second.reject()

        # Across engines, when a PostgreSQL server answers: the plan's full report.
        try:
            servers.register_server(workspace, "postgres-15", POSTGRES_URL)
        except ChangeoverError:
            pass
        else:
            third = wizard(resource=run.target)
            wait_until(third.database_page.isComplete)
            click(third, QWizard.WizardButton.NextButton)
            wait_until(lambda: third.target_page.loaded)
            third.target_page.server.setCurrentText("postgres-15")
            click(third, QWizard.WizardButton.NextButton)
            wait_until(lambda: third.plan_page.plan is not None)
            save(third, "3-plan-cross-engine")
            third.reject()
    finally:
        hold.released.set()
        for made in wizards:
            wait_until(lambda m=made: not m.busy)  # type: ignore[misc]
            made.close()
        workspace.close()
    return written


if __name__ == "__main__":
    for written_path in render(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")):
        print(written_path)
