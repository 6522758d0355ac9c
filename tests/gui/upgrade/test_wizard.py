"""Complete upgrades driven through the wizard, checked against the inventory, the .env files and the databases."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dotenv import dotenv_values
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox, QPlainTextEdit, QWizard
from pytestqt.qtbot import QtBot
from sqlalchemy.engine import URL

from changeover.core import demo as demo_module
from changeover.core import servers as core_servers
from changeover.core.transfer.verify import checksum_database
from changeover.core.upgrade import procedure, runner
from changeover.core.upgrade.procedure import RunEvent, RunInfo
from changeover.core.workspace import Workspace
from changeover.gui import upgrade as wizard_module
from changeover.gui.app import open_window
from changeover.gui.main_window import MainWindow
from changeover.gui.screenshots import visible_texts
from changeover.gui.upgrade import PAGE_DONE, PAGE_PLAN, PAGE_PROGRESS, PAGE_TARGET, UpgradeWizard
from tests.conftest import POSTGRES_URL
from tests.upgrade.conftest import ROWS, count, fill

from ..helpers import settle

WAIT = 60000  # ms: a whole upgrade on the local servers, with room for a slow CI machine
Hook = Callable[[RunEvent], None]


def env(path: Path | str) -> dict[str, str]:
    return {k: v or "" for k, v in dotenv_values(path).items()}


def shown(wizard: UpgradeWizard) -> str:
    """Everything the wizard shows: labels, fields, buttons, lists, and the log pane."""
    texts = visible_texts(wizard)
    texts += [edit.toPlainText() for edit in wizard.findChildren(QPlainTextEdit)]
    return "\n".join(texts)


def can_go_back(wizard: UpgradeWizard) -> bool:
    back = wizard.button(QWizard.WizardButton.BackButton)
    return back.isVisible() and back.isEnabled()


def accept_box(wizard: UpgradeWizard) -> None:
    """Click the affirmative button of the (non-blocking) message box the wizard opened."""
    box = wizard.message_box
    assert box is not None and box.isVisible()
    [yes] = [b for b in box.buttons() if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole]
    yes.click()


class Gate:
    """Pauses the run's worker thread at one event until the test lets it go (never a sleep)."""

    def __init__(self, step: str, state: str = "running") -> None:
        self.step, self.state = step, state
        self.reached = threading.Event()
        self.opened = threading.Event()

    def __call__(self, event: RunEvent) -> None:
        if event.step == self.step and event.state == self.state and not self.reached.is_set():
            self.reached.set()
            self.opened.wait(60)

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
def make_wizard(qtbot: QtBot, workspace: Workspace) -> Iterator[Callable[..., UpgradeWizard]]:
    made: list[UpgradeWizard] = []
    gates: list[Gate] = []

    def settle(wizard: UpgradeWizard) -> None:
        for gate in gates:
            gate.open()
        qtbot.waitUntil(lambda: not wizard.busy, timeout=WAIT)

    def make(**kwargs: object) -> UpgradeWizard:
        hook = kwargs.get("event_hook")
        if isinstance(hook, Gate):
            gates.append(hook)
        wizard = UpgradeWizard(workspace, **kwargs)  # type: ignore[arg-type]
        # pytest-qt closes and deletes the wizard before this fixture's teardown: its jobs (the summary the done
        # page reads, say) must end first, or they report to deleted widgets (a teardown error under load).
        qtbot.addWidget(wizard, before_close_func=settle)
        wizard.show()
        made.append(wizard)
        return wizard

    yield make
    for gate in gates:
        gate.open()
    for wizard in made:
        qtbot.waitUntil(lambda w=wizard: not w.busy, timeout=WAIT)  # type: ignore[misc]


def plan_page_ready(qtbot: QtBot, wizard: UpgradeWizard) -> None:
    qtbot.waitUntil(lambda: wizard.currentId() == PAGE_PLAN and wizard.plan_page.plan is not None, timeout=WAIT)


def to_target(qtbot: QtBot, wizard: UpgradeWizard) -> None:
    """From the database page (once it has read the database) to the target page (once it has the servers)."""
    qtbot.waitUntil(wizard.database_page.isComplete, timeout=WAIT)
    wizard.button(QWizard.WizardButton.NextButton).click()
    assert wizard.currentId() == PAGE_TARGET
    qtbot.waitUntil(lambda: wizard.target_page.loaded, timeout=WAIT)


def to_plan(qtbot: QtBot, wizard: UpgradeWizard, handle: str | None = None) -> None:
    """On to the plan: into the existing database ``handle``, else provisioned on the first server."""
    to_target(qtbot, wizard)
    if handle is not None:
        wizard.target_page.existing.setChecked(True)
        wizard.target_page.handle.setText(handle)
    wizard.button(QWizard.WizardButton.NextButton).click()
    plan_page_ready(qtbot, wizard)


def start(qtbot: QtBot, wizard: UpgradeWizard) -> None:
    """Press "Start the upgrade" on the plan page and wait for the progress page."""
    plan_page_ready(qtbot, wizard)
    assert wizard.plan_page.isComplete(), shown(wizard)
    commit = wizard.button(QWizard.WizardButton.CommitButton)
    assert commit.isVisible() and commit.isEnabled() and commit.text().replace("&", "") == "Start the upgrade"
    commit.click()
    qtbot.waitUntil(lambda: wizard.currentId() == PAGE_PROGRESS, timeout=WAIT)


def finish(qtbot: QtBot, wizard: UpgradeWizard) -> None:
    """Wait for the run to succeed, go to the summary, and close the wizard with Finish."""
    page = wizard.progress_page
    qtbot.waitUntil(lambda: page.succeeded, timeout=WAIT)
    assert page.overall_bar.value() == 1000
    assert all(state == "done" for state in page.states.values()), page.states
    wizard.button(QWizard.WizardButton.CommitButton).click()
    assert wizard.currentId() == PAGE_DONE
    assert not can_go_back(wizard)
    qtbot.waitUntil(lambda: "kept until" in wizard.done_page.summary.text(), timeout=WAIT)
    assert wizard.done_page.durations.topLevelItemCount() == len(procedure.STEPS)


def shop(workspace: Workspace, env_file: Path, handle: str, **hooks: str) -> None:
    hooks.setdefault("maintenance_var", "MAINTENANCE_MODE")
    workspace.add_deploy("shop", str(env_file), restart_cmd="true", **hooks)  # type: ignore[arg-type]
    workspace.register_resource("shop-db", handle)
    workspace.attach("shop-db", "shop")


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.env"
    path.write_text("# the shop\nDEBUG=0\n", encoding="utf-8")
    return path


# -- complete upgrades -----------------------------------------------------------------------------


def test_demo_sqlite_to_sqlite_from_the_main_window(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace
) -> None:
    demo = demo_module.create_demo(workspace)
    window = make_window()
    launcher = wizard_module.install(window)
    settle(qtbot, window)
    assert window.select_resource(demo_module.DATABASE)
    window.action("upgrade").trigger()
    qtbot.waitUntil(lambda: launcher.wizard is not None, timeout=WAIT)
    wizard = launcher.wizard
    assert wizard is not None and wizard.isVisible() and wizard.isModal()
    page = wizard.database_page
    qtbot.waitUntil(page.isComplete, timeout=WAIT)
    assert page.resource.currentText() == demo_module.DATABASE
    assert "sqlite 3." in page.engine.text() and "460 rows" in page.size_label.text()
    assert page.deploys.topLevelItem(0).text(0) == "demo-shop"
    assert page.deploys.topLevelItem(0).text(1) == "DATABASE_URL"
    wizard.button(QWizard.WizardButton.NextButton).click()
    qtbot.waitUntil(lambda: wizard.target_page.loaded, timeout=WAIT)
    target = wizard.target_page
    assert target.provision.isChecked() and target.server.currentText() == demo_module.SERVER
    assert not target.plan.isEnabled()  # a SQLite folder has no sizes or plans
    wizard.button(QWizard.WizardButton.NextButton).click()
    plan_page_ready(qtbot, wizard)
    plan = wizard.plan_page
    assert plan.steps.topLevelItemCount() == len(procedure.STEPS)
    assert all(plan.checks.topLevelItem(i).text(1) == "✔ passed" for i in range(plan.checks.topLevelItemCount()))
    assert "Estimated maintenance window" in plan.estimate.text()
    assert "no way back" in plan.warnings.text()
    assert not plan.report.isVisible()  # same engine: no cross-engine report
    plan.keep_days.setValue(3)
    # Planning changed nothing.
    assert procedure.list_runs(workspace) == []
    assert "MAINTENANCE_MODE" not in env(demo.env_file)
    before = demo.database.read_bytes()

    gate = Gate("maintenance_off")  # hold the run just after the switch
    wizard.progress_page.relay.hook = gate
    try:
        start(qtbot, wizard)
        qtbot.waitUntil(gate.reached.is_set, timeout=WAIT)
        progress = wizard.progress_page
        qtbot.waitUntil(lambda: progress.states["maintenance_off"] == "running", timeout=WAIT)
        # Past the point of no return: it says so, and Back and Cancel are gone.
        assert progress.banner.isVisible() and "point of no return has passed" in progress.banner.text()
        assert not wizard.button(QWizard.WizardButton.CancelButton).isVisible()
        assert not can_go_back(wizard) and not progress.isComplete()
        wizard.reject()  # Escape
        assert wizard.isVisible() and "can only go forward" in wizard.message_box.text()  # type: ignore[union-attr]
        wizard.message_box.accept()  # type: ignore[union-attr]
        assert 0 < progress.overall_bar.value() < 1000
        assert "so far" in progress.window_label.text()
        # The main window rereads the inventory while the run goes on: the new database shows there, attached.
        [run] = procedure.list_runs(workspace)
        qtbot.waitUntil(lambda: run.target in window.resources_by_name, timeout=WAIT)
        qtbot.waitUntil(lambda: window.resources_by_name[run.target].state == "attached", timeout=WAIT)
    finally:
        gate.open()
    finish(qtbot, wizard)
    [run] = procedure.list_runs(workspace)
    summary = wizard.done_page.summary.text()
    assert f"demo-shop uses <b>{run.target}</b>" in summary and "460 rows" in summary
    assert run.backup_path and run.backup_path in summary
    wizard.button(QWizard.WizardButton.FinishButton).click()
    assert not wizard.isVisible()

    assert run.state == "done" and run.keep_days == 3
    old, new = workspace.show_resource(demo_module.DATABASE), workspace.show_resource(run.target)
    assert old.state == "detached" and old.keep_until is not None
    assert new.state == "attached" and new.origin == "provisioned" and new.server == demo_module.SERVER
    values = env(demo.env_file)
    assert "MAINTENANCE_MODE" not in values and values["APP_NAME"] == "demo-shop"
    new_path = values["DATABASE_URL"].removeprefix("sqlite:///")
    assert Path(new_path).parent == demo.folder / "servers"
    assert checksum_database(f"sqlite:///{new_path}") == checksum_database(f"sqlite:///{demo.database}")
    assert demo.database.read_bytes() == before
    for secret in demo.secrets:
        assert secret not in shown(wizard)
    settle(qtbot, window)


def test_postgres_to_postgres_by_handle(
    qtbot: QtBot,
    make_wizard: Callable[..., UpgradeWizard],
    workspace: Workspace,
    env_file: Path,
    make_postgres_db: Callable[..., URL],
) -> None:
    source, target = make_postgres_db(), make_postgres_db()
    fill(source)
    sums = checksum_database(source)
    shop(workspace, env_file, source.render_as_string(hide_password=False))
    password = "trust-auth-ignores-this-pa55"  # the local server trusts; the handle still carries it
    gate = Gate("verify")
    wizard = make_wizard(resource="shop-db", event_hook=gate)
    qtbot.waitUntil(wizard.database_page.isComplete, timeout=WAIT)
    assert wizard.database_page.engine.text().startswith("postgresql ")
    to_target(qtbot, wizard)
    page = wizard.target_page
    assert not page.provision.isEnabled() and page.existing.isChecked()  # no server registered
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    qtbot.keyClicks(page.handle, target.render_as_string(hide_password=False))
    qtbot.keyClicks(page.password, password)
    assert page.password.echoMode() == page.password.EchoMode.Password
    assert "•••" in page.handle_status.text() and password not in page.handle_status.text()
    page.test_button.click()
    qtbot.waitUntil(lambda: page.test_result.text().startswith(("✔", "✘")), timeout=WAIT)
    assert page.test_result.text().startswith("✔"), page.test_result.text()
    page.target_name.setText("shop-db-15")
    wizard.button(QWizard.WizardButton.NextButton).click()
    plan_page_ready(qtbot, wizard)
    checks = {
        wizard.plan_page.checks.topLevelItem(i).text(0): wizard.plan_page.checks.topLevelItem(i).text(1)
        for i in range(wizard.plan_page.checks.topLevelItemCount())
    }
    assert checks["target empty"] == "✔ passed" and checks["tools"] == "✔ passed"
    start(qtbot, wizard)
    # Before the switch: no way back to the plan, Cancel offered, the maintenance window running.
    qtbot.waitUntil(gate.reached.is_set, timeout=WAIT)
    progress = wizard.progress_page
    qtbot.waitUntil(lambda: progress.states["verify"] == "running", timeout=WAIT)
    assert [progress.states[s] for s in procedure.STEPS[:5]] == ["done"] * 5
    assert not can_go_back(wizard) and wizard.button(QWizard.WizardButton.CancelButton).isVisible()
    assert not progress.banner.isVisible()
    assert "so far" in progress.window_label.text()
    assert 0 < progress.overall_bar.value() < 1000
    assert env(env_file)["MAINTENANCE_MODE"] == "1"
    gate.open()
    finish(qtbot, wizard)
    assert password not in shown(wizard)

    [run] = procedure.list_runs(workspace)
    assert run.state == "done" and run.target == "shop-db-15"
    assert run.stats["rows"] == ROWS
    assert checksum_database(target) == sums
    assert checksum_database(source) == sums  # the source was never changed
    values = env(env_file)
    assert "MAINTENANCE_MODE" not in values
    full = workspace.full_handle("shop-db-15")
    assert values["DATABASE_URL"] == full and password in full
    assert password not in workspace.show_resource("shop-db-15").handle
    assert workspace.show_resource("shop-db").state == "detached"
    assert count(target) == ROWS


def test_a_cross_engine_plan_shows_the_full_report(
    qtbot: QtBot, make_wizard: Callable[..., UpgradeWizard], workspace: Workspace, postgres_admin: object
) -> None:
    demo_module.create_demo(workspace)
    core_servers.register_server(workspace, "pg", POSTGRES_URL)
    wizard = make_wizard(resource=demo_module.DATABASE)
    to_target(qtbot, wizard)
    wizard.target_page.server.setCurrentText("pg")
    assert "cross-engine move</b> from sqlite to postgresql" in wizard.target_page.engine_note.text()
    wizard.button(QWizard.WizardButton.NextButton).click()
    plan_page_ready(qtbot, wizard)
    page = wizard.plan_page
    assert page.plan is not None and page.plan.cross_engine and page.plan.ok
    assert page.report.isVisible() and page.report.toPlainText().startswith("From sqlite to postgresql.")
    assert "Adapted:" in page.report.toPlainText() and "Cannot carry" in page.report.toPlainText()
    wizard.button(QWizard.WizardButton.CancelButton).click()  # nothing started: Cancel just closes
    assert not wizard.isVisible()
    assert procedure.list_runs(workspace) == []
    assert [s.resources for s in core_servers.list_servers(workspace) if s.name == "pg"] == [()]


def test_the_target_page_offers_a_server_of_the_source_engine_first(
    qtbot: QtBot, make_wizard: Callable[..., UpgradeWizard], workspace: Workspace, postgres_admin: object
) -> None:
    demo_module.create_demo(workspace)
    core_servers.register_server(workspace, "a-pg", POSTGRES_URL)  # listed first, but another engine
    wizard = make_wizard(resource=demo_module.DATABASE)
    to_target(qtbot, wizard)
    assert [wizard.target_page.server.itemText(i) for i in range(2)] == ["a-pg", demo_module.SERVER]
    assert wizard.target_page.server.currentText() == demo_module.SERVER  # sqlite, like the source
    assert "cross-engine" not in wizard.target_page.engine_note.text()
    wizard.button(QWizard.WizardButton.CancelButton).click()


# -- cancel, failure, resume -----------------------------------------------------------------------


def test_cancel_asks_then_rolls_back_and_closing_is_refused_while_running(
    qtbot: QtBot, make_wizard: Callable[..., UpgradeWizard], workspace: Workspace, env_file: Path, tmp_path: Path
) -> None:
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 200)
    shop(workspace, env_file, f"sqlite:///{source}")
    config = env_file.read_text()
    gate = Gate("backup")
    wizard = make_wizard(resource="shop-db", event_hook=gate)
    to_plan(qtbot, wizard, f"sqlite:///{tmp_path / 'new.db'}")
    start(qtbot, wizard)
    qtbot.waitUntil(gate.reached.is_set, timeout=WAIT)
    qtbot.waitUntil(lambda: wizard.progress_page.states["maintenance_on"] == "done", timeout=WAIT)
    assert env(env_file)["MAINTENANCE_MODE"] == "1"

    # Closing the window is refused with an explanation while the run is active.
    assert not wizard.close()
    assert wizard.isVisible() and wizard.message_box is not None
    assert "stays open while the upgrade runs" in wizard.message_box.text()
    wizard.message_box.accept()
    # Cancel asks first; "Keep going" keeps going.
    wizard.button(QWizard.WizardButton.CancelButton).click()
    assert wizard.message_box.text().startswith("Changeover stops at the next safe point")
    wizard.message_box.reject()
    assert wizard.progress_page.job is not None and not wizard.progress_page.job.cancel_event.is_set()
    wizard.button(QWizard.WizardButton.CancelButton).click()
    accept_box(wizard)
    assert wizard.progress_page.job is not None and wizard.progress_page.job.cancel_event.is_set()
    gate.open()
    qtbot.waitUntil(lambda: "Cancelled and rolled back" in wizard.progress_page.status.text(), timeout=WAIT)
    states = wizard.progress_page.states
    assert states["preflight"] == "rolled_back" and states["backup"] == "cancelled" and states["load"] == "waiting"
    assert "↶ Rolled back" in wizard.progress_page.items["maintenance_on"].text(1)
    assert wizard.progress_page.items["backup"].text(1) == "■ Cancelled"  # the admin's cancel is no failure
    assert not any("Failed" in item.text(1) for item in wizard.progress_page.items.values())
    assert not wizard.progress_page.isComplete()
    assert wizard.button(QWizard.WizardButton.CancelButton).text() == "&Close"

    [run] = procedure.list_runs(workspace)
    assert run.state == "rolled_back" and not run.switched
    assert env_file.read_text() == config  # out of maintenance, the handle unchanged
    assert workspace.show_resource("shop-db").state == "attached"
    assert count(f"sqlite:///{source}") == 200
    wizard.button(QWizard.WizardButton.CancelButton).click()
    assert not wizard.isVisible()


def test_a_failure_pauses_then_retry_completes(
    qtbot: QtBot, make_wizard: Callable[..., UpgradeWizard], workspace: Workspace, env_file: Path, tmp_path: Path
) -> None:
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 150)
    marker = tmp_path / "fail-once"
    marker.write_text("")
    shop(
        workspace,
        env_file,
        f"sqlite:///{source}",
        maintenance_var="",
        maintenance_on_cmd=f"if [ -e {marker} ]; then rm {marker}; echo 'the app is busy' >&2; exit 4; fi",
        maintenance_off_cmd="true",
    )
    (tmp_path / "dbs").mkdir()
    core_servers.register_server(workspace, "local-files", str(tmp_path / "dbs"))
    wizard = make_wizard(resource="shop-db")
    to_plan(qtbot, wizard)
    start(qtbot, wizard)
    page = wizard.progress_page
    qtbot.waitUntil(lambda: page.failure.isVisible(), timeout=WAIT)
    assert "the app is busy" in page.failure_text.text()
    assert page.retry_button.isVisible() and page.rollback_button.isVisible()
    assert page.states["maintenance_on"] == "failed" and not page.isComplete()
    assert procedure.list_runs(workspace, unfinished=True)[0].state == "failed"

    page.retry_button.click()
    finish(qtbot, wizard)
    [run] = procedure.list_runs(workspace)
    assert run.state == "done" and run.steps[2].attempts == 2
    assert workspace.show_resource("shop-db").state == "detached"
    new_path = env(env_file)["DATABASE_URL"].removeprefix("sqlite:///")
    assert Path(new_path).parent == tmp_path / "dbs" and count(f"sqlite:///{new_path}") == 150


def test_a_failure_then_roll_back(
    qtbot: QtBot, make_wizard: Callable[..., UpgradeWizard], workspace: Workspace, env_file: Path, tmp_path: Path
) -> None:
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 50)
    shop(
        workspace,
        env_file,
        f"sqlite:///{source}",
        maintenance_var="",
        maintenance_on_cmd="echo 'the proxy refuses' >&2; exit 3",
        maintenance_off_cmd="true",
    )
    config = env_file.read_text()
    wizard = make_wizard(resource="shop-db")
    to_plan(qtbot, wizard, f"sqlite:///{tmp_path / 'new.db'}")
    start(qtbot, wizard)
    page = wizard.progress_page
    qtbot.waitUntil(lambda: page.failure.isVisible(), timeout=WAIT)
    assert page.states["maintenance_on"] == "failed" and "the proxy refuses" in page.failure_text.text()
    page.rollback_button.click()
    accept_box(wizard)
    qtbot.waitUntil(lambda: page.status.text().startswith("<b>Rolled back"), timeout=WAIT)
    assert page.states["preflight"] == "rolled_back"
    [run] = procedure.list_runs(workspace)
    assert run.state == "rolled_back"
    assert env_file.read_text() == config
    assert workspace.show_resource("shop-db").state == "attached"
    assert workspace.show_resource(run.target).state == "failed"
    assert count(f"sqlite:///{source}") == 50


def test_a_failure_after_the_switch_offers_only_retry(
    qtbot: QtBot,
    make_wizard: Callable[..., UpgradeWizard],
    workspace: Workspace,
    env_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner, "FORWARD_RETRIES", 1)  # fail at once instead of retrying with back-off
    source, new = tmp_path / "shop.db", tmp_path / "new.db"
    fill(f"sqlite:///{source}", 40)
    ok = tmp_path / "proxy-up"
    shop(
        workspace,
        env_file,
        f"sqlite:///{source}",
        maintenance_var="",
        maintenance_on_cmd="true",
        maintenance_off_cmd=f"test -e {ok} || {{ echo 'the proxy is down' >&2; exit 5; }}",
    )
    wizard = make_wizard(resource="shop-db")
    to_plan(qtbot, wizard, f"sqlite:///{new}")
    start(qtbot, wizard)
    page = wizard.progress_page
    qtbot.waitUntil(lambda: page.failure.isVisible(), timeout=WAIT)
    assert "the proxy is down" in page.failure_text.text()
    assert page.retry_button.isVisible() and not page.rollback_button.isVisible()
    assert page.banner.isVisible()
    close = wizard.button(QWizard.WizardButton.CancelButton)  # nothing runs: the wizard may close, no Cancel
    assert close.isVisible() and close.text() == "&Close"
    assert env(env_file)["DATABASE_URL"] == f"sqlite:///{new}"  # switched: the deploy already uses it
    ok.write_text("")
    page.retry_button.click()
    assert not wizard.button(QWizard.WizardButton.CancelButton).isVisible()  # running again, past the switch
    finish(qtbot, wizard)
    assert procedure.list_runs(workspace)[0].state == "done"
    assert workspace.show_resource("shop-db").state == "detached"


class Crash(BaseException):
    """Stands for Changeover being killed mid-run: not an error the procedure handles."""


def interrupted_run(workspace: Workspace, env_file: Path, tmp_path: Path, rows: int, at_step: str) -> RunInfo:
    """A run of shop-db started through the core API and killed when ``at_step`` starts: left 'running'."""
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", rows)
    shop(workspace, env_file, f"sqlite:///{source}")
    plan = procedure.plan_upgrade(workspace, "shop-db", to_handle=f"sqlite:///{tmp_path / 'new.db'}")
    run = procedure.start_upgrade(workspace, plan)

    def crash(event: RunEvent) -> None:
        if event.step == at_step and event.state == "running":
            raise Crash

    with pytest.raises(Crash):
        procedure.execute(workspace, run.id, on_event=crash)
    assert procedure.show_run(workspace, run.id).state == "running"
    return run


def test_start_up_offers_to_resume_an_interrupted_run(
    qtbot: QtBot, workspace: Workspace, env_file: Path, tmp_path: Path, settings: QSettings
) -> None:
    run = interrupted_run(workspace, env_file, tmp_path, 300, "verify")
    assert env(env_file)["MAINTENANCE_MODE"] == "1"

    window = open_window(workspace, settings)
    qtbot.addWidget(window)
    launcher = window.findChild(wizard_module.UpgradeLauncher)
    assert launcher is not None
    qtbot.waitUntil(lambda: launcher.wizard is not None, timeout=WAIT)
    wizard = launcher.wizard
    assert wizard is not None and wizard.currentId() == PAGE_PROGRESS
    page = wizard.progress_page
    qtbot.waitUntil(lambda: page.failure.isVisible(), timeout=WAIT)
    assert f"Upgrade run {run.id} did not finish: it stopped at 'Verify the copy'" in page.failure_text.text()
    assert page.retry_button.text() == "&Resume" and page.rollback_button.isVisible()
    assert [page.states[s] for s in procedure.STEPS[:6]] == ["done"] * 5 + ["interrupted"]
    assert page.items["verify"].text(1) == "■ Interrupted"
    assert "so far" in page.window_label.text()  # the maintenance window is still open
    assert not can_go_back(wizard)

    page.retry_button.click()
    finish(qtbot, wizard)
    done = procedure.show_run(workspace, run.id)
    assert done.state == "done" and done.steps[5].attempts == 2
    assert env(env_file)["DATABASE_URL"] == f"sqlite:///{tmp_path / 'new.db'}"
    assert "MAINTENANCE_MODE" not in env(env_file)
    assert count(f"sqlite:///{tmp_path / 'new.db'}") == 300
    assert workspace.show_resource("shop-db").state == "detached"
    wizard.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: window.controller.runner.running == 0, timeout=WAIT)
    window.close()


def test_upgrading_a_database_with_an_unfinished_run_offers_that_run(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace, env_file: Path, tmp_path: Path
) -> None:
    run = interrupted_run(workspace, env_file, tmp_path, 80, "backup")
    assert env(env_file)["MAINTENANCE_MODE"] == "1"

    window = make_window()
    launcher = wizard_module.UpgradeLauncher(window)  # without the start-up look, to go through the action
    assert window.select_resource("shop-db")
    window.action("upgrade").trigger()
    qtbot.waitUntil(lambda: launcher.wizard is not None, timeout=WAIT)
    wizard = launcher.wizard
    assert wizard is not None and wizard.currentId() == PAGE_PROGRESS and wizard.run_info is not None
    assert wizard.run_info.id == run.id
    page = wizard.progress_page
    qtbot.waitUntil(lambda: page.failure.isVisible(), timeout=WAIT)
    assert "stopped at 'Back up the current database'" in page.failure_text.text()
    assert page.retry_button.isVisible() and page.rollback_button.isVisible()
    wizard.confirm = lambda title, text, on_yes: on_yes()  # the confirmation, injected
    page.rollback_button.click()
    qtbot.waitUntil(lambda: page.status.text().startswith("<b>Rolled back"), timeout=WAIT)
    assert page.states["maintenance_on"] == "rolled_back" and page.states["backup"] == "failed", page.states
    assert procedure.show_run(workspace, run.id).state == "rolled_back"
    assert env(env_file) == {"DEBUG": "0", "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}"}
    assert workspace.show_resource("shop-db").state == "attached"
    qtbot.waitUntil(lambda: not wizard.busy, timeout=WAIT)
    wizard.button(QWizard.WizardButton.CancelButton).click()  # "Close"
    qtbot.waitUntil(lambda: launcher.wizard is None, timeout=WAIT)
    settle(qtbot, window)  # the window rereads the inventory after the wizard closed


def test_enter_on_the_finished_page_never_retries(
    qtbot: QtBot, make_wizard: Callable[..., UpgradeWizard], workspace: Workspace, env_file: Path, tmp_path: Path
) -> None:
    """Retry had the focus when it was clicked and hidden; a window that was not active then (no window manager,
    or another window in front) keeps it as its focus widget, and the window system delivers Enter to it. Hidden, it
    must not react: Enter goes on to the summary, as Next does."""
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 20)
    marker = tmp_path / "fail-once"
    marker.write_text("")
    shop(
        workspace,
        env_file,
        f"sqlite:///{source}",
        maintenance_var="",
        maintenance_on_cmd=f"if [ -e {marker} ]; then rm {marker}; echo 'the app is busy' >&2; exit 4; fi",
        maintenance_off_cmd="true",
    )
    wizard = make_wizard(resource="shop-db")
    to_plan(qtbot, wizard, f"sqlite:///{tmp_path / 'new.db'}")
    start(qtbot, wizard)
    page = wizard.progress_page
    qtbot.waitUntil(lambda: page.failure.isVisible(), timeout=WAIT)
    page.retry_button.setFocus()
    page.retry_button.click()
    qtbot.waitUntil(lambda: page.succeeded, timeout=WAIT)
    qtbot.waitUntil(lambda: not wizard.busy, timeout=WAIT)
    assert not page.retry_button.isVisible() and not page.rollback_button.isVisible()
    assert page.log.toPlainText().count("Retrying") == 1
    # Enter as the window delivers it: to the widget that held the focus, whichever that was.
    for widget in (page.retry_button, wizard.focusWidget() or wizard):
        if wizard.currentId() == PAGE_PROGRESS:
            qtbot.keyClick(widget, Qt.Key.Key_Return)
    assert page.log.toPlainText().count("Retrying") == 1
    assert "already done" not in page.log.toPlainText()
    assert wizard.currentId() == PAGE_DONE
    assert procedure.list_runs(workspace)[0].state == "done"


def test_the_backup_step_shows_steady_progress_through_its_checksums(
    qtbot: QtBot, make_wizard: Callable[..., UpgradeWizard], workspace: Workspace, env_file: Path, tmp_path: Path
) -> None:
    """The backup's content checksums run beside the dump and may outlast it: the step's bar stays a percentage
    through them, and neither bar ever goes back (it sat at the step's start, indeterminate, then jumped)."""
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 3000)
    shop(workspace, env_file, f"sqlite:///{source}")
    backup_events: list[RunEvent] = []

    def record(event: RunEvent) -> None:
        if event.step == "backup" and event.state == "progress":
            backup_events.append(event)

    wizard = make_wizard(resource="shop-db", event_hook=record)
    to_plan(qtbot, wizard, f"sqlite:///{tmp_path / 'new.db'}")
    page = wizard.progress_page
    overall: list[int] = []
    page.overall_bar.valueChanged.connect(overall.append)
    start(qtbot, wizard)
    finish(qtbot, wizard)
    determinate = [e for e in backup_events if e.total]
    assert determinate, backup_events
    first = backup_events.index(determinate[0])
    after = backup_events[first:]
    assert [e.message for e in after if not e.total] == []  # no busy bar once it has a percentage
    fractions = [e.done / e.total for e in after if e.total]
    assert fractions == sorted(fractions), fractions
    assert any("checksum" in e.message for e in after), [e.message for e in after]
    assert overall == sorted(overall), overall
