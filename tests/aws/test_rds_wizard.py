"""The upgrade wizard's target page offers an RDS server's instance classes, and plans onto it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot
from sqlalchemy.engine import URL

from changeover.core import demo, servers
from changeover.core.providers import rds
from changeover.core.upgrade import procedure
from changeover.core.workspace import Workspace
from changeover.gui.upgrade import PAGE_PLAN, UpgradeWizard
from tests.upgrade.conftest import fill

from .conftest import REGION, LocalInstances, shop_on

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")
WAIT = 30000


@pytest.fixture
def wizard_on(qtbot: QtBot, workspace: Workspace) -> Iterator[Callable[[str], UpgradeWizard]]:
    made: list[UpgradeWizard] = []

    def make(resource: str) -> UpgradeWizard:
        wizard = UpgradeWizard(workspace, resource=resource)
        qtbot.addWidget(wizard)
        wizard.show()
        made.append(wizard)
        qtbot.waitUntil(wizard.database_page.isComplete, timeout=WAIT)
        wizard.button(QWizard.WizardButton.NextButton).click()
        qtbot.waitUntil(lambda: wizard.target_page.loaded, timeout=WAIT)
        return wizard

    yield make
    for wizard in made:
        qtbot.waitUntil(lambda w=wizard: not w.busy, timeout=WAIT)  # type: ignore[misc]


@pytest.fixture
def in_process_aws() -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


def test_the_target_page_offers_rds_classes_and_the_plan_keeps_the_engine(
    qtbot: QtBot,
    in_process_aws: None,
    workspace: Workspace,
    wizard_on: Callable[[str], UpgradeWizard],
    make_postgres_db: Callable[..., URL],
    tmp_path: Path,
) -> None:
    source = make_postgres_db("co_rds_gui")
    fill(source, 10)
    shop_on(workspace, tmp_path / "shop.env", source.render_as_string(hide_password=False))
    servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    wizard = wizard_on("shop-db")
    page = wizard.target_page
    page.server.setCurrentText("aws-eu")

    assert page.plan.isEnabled() and page.plan_choices.isVisible()
    offered = [page.plan_choices.itemText(i) for i in range(page.plan_choices.count())]
    assert offered[0] == "Choose a plan…" and offered[1:] == [str(p) for p in rds.PLANS]
    assert "db.r6g.xlarge (4 vCPU, 32 GiB)" in offered
    index = offered.index("db.t4g.large (2 vCPU, 8 GiB)")
    page.plan_choices.setCurrentIndex(index)
    page.plan_choices.activated.emit(index)
    assert page.plan.text() == "db.t4g.large"
    assert page.engine_note.text() == ""  # the new instance runs the source's engine: not a cross-engine move

    wizard.button(QWizard.WizardButton.NextButton).click()
    qtbot.waitUntil(lambda: wizard.currentId() == PAGE_PLAN and wizard.plan_page.plan is not None, timeout=WAIT)
    plan = wizard.plan_page.plan
    assert plan is not None and plan.ok and not plan.cross_engine
    assert plan.target_server == "aws-eu" and plan.target_plan == "db.t4g.large" and plan.target_engine == "postgres"
    wizard.button(QWizard.WizardButton.CancelButton).click()
    assert procedure.list_runs(workspace) == []


def test_a_sqlite_database_is_not_planned_onto_rds(in_process_aws: None, workspace: Workspace) -> None:
    demo.create_demo(workspace)
    servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    plan = procedure.plan_upgrade(workspace, demo.DATABASE, provision_on="aws-eu", plan="db.t4g.large")
    [refused] = [c for c in plan.checks if not c.ok]
    assert refused.name == "engine" and "not SQLite" in refused.message


def test_the_wizard_takes_the_snapshot_route_from_its_route_chooser(
    qtbot: QtBot,
    in_process_aws: None,
    local_instances: LocalInstances,
    workspace: Workspace,
    wizard_on: Callable[[str], UpgradeWizard],
    tmp_path: Path,
) -> None:
    from changeover.core import handles
    from changeover.core.providers.base import InstanceOptions
    from tests.conftest import unique_name

    servers.register_server(workspace, "aws-eu", f"rds://{REGION}")
    source = unique_name("shop-small").replace("_", "-")
    servers.provision(workspace, "aws-eu", source, plan="db.t4g.medium", instance=InstanceOptions("postgres"))
    fill(handles.parse(workspace.full_handle(source)).sqlalchemy_url(), 10)
    shop_on(workspace, tmp_path / "shop.env", resource=source)
    wizard = wizard_on(source)
    wizard.target_page.server.setCurrentText("aws-eu")
    wizard.target_page.plan.setText("db.r6g.xlarge")
    wizard.button(QWizard.WizardButton.NextButton).click()
    page = wizard.plan_page
    qtbot.waitUntil(lambda: wizard.currentId() == PAGE_PLAN and page.plan is not None, timeout=WAIT)
    assert page.plan is not None and page.plan.route == "copy" and page.route.isVisible()
    routes = [page.route.itemData(i) for i in range(page.route.count())]
    assert routes == ["copy", "snapshot", "online"]  # online: listed, not available onto a provisioned RDS target
    assert "not available" in page.route.itemText(2) and page.route_note.isVisible()

    page.route.setCurrentIndex(1)
    page.route.activated.emit(1)
    qtbot.waitUntil(lambda: page.plan is not None and page.plan.route == "snapshot", timeout=WAIT)

    plan = page.plan
    assert plan is not None and plan.ok, [c for c in plan.checks if not c.ok]
    assert [s for s, _ in plan.steps] == list(procedure.route_steps("snapshot"))
    assert page.isComplete() and page.route.currentData() == "snapshot"
    wizard.button(QWizard.WizardButton.CancelButton).click()
    assert procedure.list_runs(workspace) == []
