"""Every table model passes pytest-qt's model tester, with real data from the demo workspace."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester

from changeover.core.checks import check_resources
from changeover.core.demo import create_demo
from changeover.core.workspace import Workspace
from changeover.gui import models


def _demo_models(workspace: Workspace) -> dict[str, Any]:
    create_demo(workspace)
    resources = workspace.list_resources("all")
    deploys = workspace.list_deploys()
    deploy_tree = models.DeployTreeModel()
    deploy_tree.set_deploys(deploys)
    attachments = models.AttachmentsModel()
    attachments.set_context({r.name: r for r in resources})
    attachments.set_records(list(deploys[0].attachments))
    attachments.set_health({r.resource: r for r in check_resources(workspace, ["demo-shop-db"])})
    config = models.ConfigModel()
    config.set_records(workspace.deploy_config("demo-shop"))
    resources_model = models.ResourcesModel()
    resources_model.set_records(resources, models.ResourcesModel.render(resources))
    events = models.EventsModel()
    events.set_records(workspace.events())
    credentials = models.CredentialsModel()
    credentials.set_records(models.credentials_from(resources))
    credentials.reveal("demo-shop-cache", "redis://:x@127.0.0.1:6379/0")
    return {
        "deploys": deploy_tree,
        "attachments": attachments,
        "config": config,
        "resources": resources_model,
        "events": events,
        "credentials": credentials,
    }


@pytest.mark.parametrize("name", ["deploys", "attachments", "config", "resources", "events", "credentials"])
def test_models_pass_the_model_tester(
    qtmodeltester: ModelTester, request: pytest.FixtureRequest, workspace: Workspace, name: str
) -> None:
    model = _demo_models(workspace)[name]
    assert model.rowCount() > 0
    qtmodeltester.check(model, force_py=True)
    # The proxy gets a tester of its own: one tester follows one model's signals.
    proxy_tester = ModelTester(request.config)
    try:
        if name == "deploys":
            proxy_tester.check(models.tree_proxy(model), force_py=True)
            return
        proxy = models.record_proxy(model)
        proxy_tester.check(proxy, force_py=True)
        proxy.sort(0, Qt.SortOrder.DescendingOrder)  # the model sorts its own list under both testers' eyes
        shown = [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
        assert shown == sorted(shown, key=str.casefold, reverse=True)
        proxy.set_text(shown[-1])
        assert shown[-1] in [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
        proxy.set_text("no row has this text")
        assert proxy.rowCount() == 0
    finally:
        proxy_tester._cleanup()


def test_resource_state_proxy(qtmodeltester: ModelTester, workspace: Workspace) -> None:
    resources_model = _demo_models(workspace)["resources"]
    proxy = models.ResourceFilterProxy()
    proxy.setSourceModel(resources_model)
    qtmodeltester.check(proxy, force_py=True)
    proxy.set_state("detached")
    assert [proxy.index(r, 0).data() for r in range(proxy.rowCount())] == ["demo-shop-db-2024"]
    proxy.set_state("attached")
    assert proxy.rowCount() == 2


def test_roles_sort_and_payload(workspace: Workspace) -> None:
    create_demo(workspace)
    model = models.ResourcesModel()
    model.set_records(workspace.list_resources("all"))
    overdue_row = next(r for r in range(model.rowCount()) if model.record(r).overdue)
    kept = model.index(overdue_row, 3)
    assert "overdue" in kept.data()
    assert isinstance(kept.data(models.SORT_ROLE), float)
    assert model.index(overdue_row, 0).data(models.PAYLOAD_ROLE) is model.record(overdue_row)
    assert model.index(overdue_row, 0).data(Qt.ItemDataRole.ForegroundRole) is not None
    fine_row = next(r for r in range(model.rowCount()) if not model.record(r).overdue)
    assert model.index(fine_row, 0).data(Qt.ItemDataRole.ForegroundRole) is None


def test_a_re_read_updates_changed_rows_in_place(qtmodeltester: ModelTester, qtbot: Any, workspace: Workspace) -> None:
    from datetime import UTC, datetime, timedelta

    create_demo(workspace)
    model = models.ResourcesModel()
    resources = workspace.list_resources("all")
    model.set_records(resources, models.ResourcesModel.render(resources))
    qtmodeltester.check(model, force_py=True)
    workspace.set_keep_until("demo-shop-db-2024", datetime.now(UTC) + timedelta(days=30))
    again = workspace.list_resources("all")
    changed: list[int] = []
    model.dataChanged.connect(lambda top, bottom, roles=(): changed.append(top.row()))
    with qtbot.assertNotEmitted(model.modelReset):
        model.set_records(again, models.ResourcesModel.render(again))
    row = next(r for r in range(model.rowCount()) if model.record(r).name == "demo-shop-db-2024")
    assert changed == [row]
    assert "overdue" not in model.index(row, 3).data()
    workspace.register_resource("new-one", "redis://127.0.0.1:6379/3")
    with qtbot.waitSignal(model.modelReset, timeout=1000):
        model.set_records(workspace.list_resources("all"))
    assert model.rowCount() == len(resources) + 1


def test_deploy_tree_updates_in_place_and_filters(qtmodeltester: ModelTester, workspace: Workspace) -> None:
    create_demo(workspace)
    tree = models.DeployTreeModel()
    assert tree.set_deploys(workspace.list_deploys()) is True
    qtmodeltester.check(tree, force_py=True)
    workspace.detach("demo-shop-cache", "demo-shop")
    assert tree.set_deploys(workspace.list_deploys()) is False  # same tree, one row updated
    group = tree.item(0, 0)
    assert group.child(0, 1).text() == "1"
    tree.set_filter("nothing-like-it")
    assert tree.rowCount() == 0
    tree.set_filter("SHOP")
    assert tree.rowCount() == 1 and tree.item(0, 0).child(0, 0).text() == "demo-shop"
