"""The wizard takes the online route: chosen on the plan page, its own steps, the lag shown as the run goes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot
from sqlalchemy.engine import URL

from changeover.core.transfer.verify import checksum_database
from changeover.core.upgrade import procedure
from changeover.core.workspace import Workspace
from changeover.gui.upgrade import PAGE_DONE, UpgradeWizard
from tests.replication.conftest import Databases, databases, mariadb_pair, replica_connections, replication_users
from tests.upgrade.conftest import fill

from .test_wizard import WAIT, Gate, env, env_file, make_wizard, plan_page_ready, shop, start, to_target

__all__ = ["databases", "env_file", "make_wizard", "mariadb_pair"]

pytestmark = pytest.mark.servers


def test_the_route_chooser_takes_the_online_route_and_shows_the_lag(
    qtbot: QtBot,
    make_wizard: Callable[..., UpgradeWizard],
    workspace: Workspace,
    env_file: Path,
    databases: Databases,
) -> None:
    fill(databases.source, 200)
    shop(workspace, env_file, databases.source.render_as_string(hide_password=False))
    gate = Gate("maintenance_on")  # holds the run once it has caught up, before maintenance
    wizard = make_wizard(resource="shop-db", event_hook=gate)
    to_target(qtbot, wizard)
    wizard.target_page.existing.setChecked(True)
    wizard.target_page.handle.setText(databases.target.render_as_string(hide_password=False))
    wizard.target_page.target_name.setText("shop-db-online")
    wizard.button(QWizard.WizardButton.NextButton).click()
    plan_page_ready(qtbot, wizard)
    page = wizard.plan_page
    assert page.route.isVisible()
    routes = [page.route.itemData(i) for i in range(page.route.count())]
    assert routes == ["copy", "online"] and page.route.currentData() == "copy"
    online = routes.index("online")
    assert "not available" not in page.route.itemText(online), page.route.itemText(online)
    assert not page.route_note.isVisible()
    page.route.setCurrentIndex(online)
    page.route.activated.emit(online)  # as a click on the item does: the plan is made again for that route
    qtbot.waitUntil(lambda: page.plan is not None and page.plan.route == "online", timeout=WAIT)
    steps = [page.steps.topLevelItem(i).text(1) for i in range(page.steps.topLevelItemCount())]
    assert steps == [procedure.TITLES[s] for s in procedure.route_steps("online")]
    assert "from step 5 until step 9" in page.estimate.text(), page.estimate.text()
    start(qtbot, wizard)

    progress = wizard.progress_page
    qtbot.waitUntil(gate.reached.is_set, timeout=WAIT)
    # the worker is held right after it sent the event; the window applies it when its loop next runs
    qtbot.waitUntil(lambda: progress.states["maintenance_on"] == "running", timeout=WAIT)
    assert list(progress.items) == list(procedure.route_steps("online"))  # one row per step of the route
    assert progress.states["catch_up"] == "done"
    caught_up = progress.items["catch_up"].text(2)
    assert "behind" in caught_up or "caught up" in caught_up, caught_up
    assert "MAINTENANCE_MODE" not in env(env_file) or env(env_file)["MAINTENANCE_MODE"] == "1"
    gate.open()
    qtbot.waitUntil(lambda: progress.succeeded, timeout=WAIT)
    assert progress.overall_bar.value() == 1000
    wizard.button(QWizard.WizardButton.CommitButton).click()
    assert wizard.currentId() == PAGE_DONE
    qtbot.waitUntil(lambda: "kept until" in wizard.done_page.summary.text(), timeout=WAIT)
    assert wizard.done_page.durations.topLevelItemCount() == len(procedure.route_steps("online"))

    [run] = procedure.list_runs(workspace)
    assert run.state == "done" and run.route == "online"
    assert checksum_database(databases.target) == checksum_database(databases.source)
    assert env(env_file)["DATABASE_URL"] == workspace.full_handle("shop-db-online")
    assert replication_users(databases.source_server) == [] and replica_connections(databases.target_server) == []


def test_a_route_not_available_says_why_beside_the_chooser(
    qtbot: QtBot,
    make_wizard: Callable[..., UpgradeWizard],
    workspace: Workspace,
    env_file: Path,
    make_postgres_db: Callable[..., URL],
) -> None:
    source, target = make_postgres_db(), make_postgres_db()
    fill(source, 10)
    shop(workspace, env_file, source.render_as_string(hide_password=False))
    wizard = make_wizard(resource="shop-db")
    to_target(qtbot, wizard)
    wizard.target_page.existing.setChecked(True)
    wizard.target_page.handle.setText(target.render_as_string(hide_password=False))
    wizard.button(QWizard.WizardButton.NextButton).click()
    plan_page_ready(qtbot, wizard)
    page = wizard.plan_page
    online = [page.route.itemData(i) for i in range(page.route.count())].index("online")
    assert page.route.itemText(online).endswith("(not available)")
    assert page.route.model().item(online).isEnabled() is False  # type: ignore[attr-defined]
    # the shared server runs wal_level=replica: the reason and its fix are shown, not only in a tooltip
    assert page.route_note.isVisible() and "wal_level = logical" in page.route_note.text(), page.route_note.text()
    assert page.plan is not None and page.plan.ok and page.plan.route == "copy"  # the copy route still starts
