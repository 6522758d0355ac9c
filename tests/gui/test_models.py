"""Every table model passes pytest-qt's model tester, with real data from the demo workspace."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester

from changeover.core.demo import create_demo
from changeover.core.workspace import Workspace
from changeover.gui import models


def test_models_pass_the_model_tester(qtmodeltester: ModelTester, workspace: Workspace) -> None:
    create_demo(workspace)
    resources = workspace.list_resources("all")
    deploys = workspace.list_deploys()
    deploy_tree = models.DeployTreeModel()
    deploy_tree.set_deploys(deploys)
    attachments = models.AttachmentsModel()
    attachments.set_context({r.name: r for r in resources})
    attachments.set_records(list(deploys[0].attachments))
    attachments.set_health({"demo-shop-db": "ok: Connected"})
    config = models.ConfigModel()
    config.set_records(workspace.deploy_config("demo-shop"))
    resources_model = models.ResourcesModel()
    resources_model.set_records(resources)
    events = models.EventsModel()
    events.set_records(workspace.events())
    credentials = models.CredentialsModel()
    credentials.set_records(models.credentials_from(resources))
    credentials.reveal("demo-shop-cache", "redis://:x@127.0.0.1:6379/0")
    for model in (deploy_tree, attachments, config, resources_model, events, credentials):
        assert model.rowCount() > 0
        qtmodeltester.check(model, force_py=True)
        qtmodeltester.check(models.sorted_proxy(model, recursive=model is deploy_tree), force_py=True)
    proxy = models.ResourceFilterProxy()
    proxy.setSourceModel(resources_model)
    proxy.set_state("detached")
    qtmodeltester.check(proxy, force_py=True)
    assert proxy.rowCount() == 1


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


def test_size_and_provider_text() -> None:
    assert models.size(None) == ""
    assert models.size(512) == "512 B"
    assert models.size(3 * 1024 * 1024) == "3.0 MB"
