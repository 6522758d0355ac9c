"""Tools ▸ Servers with AWS: an rds:// or s3:// server needs no password; provisioning on RDS asks engine,
plan (the classes core offers), storage and exposure, and runs off the GUI thread with the status messages as
progress and a Cancel. Add deploy takes an SSM path and region instead of a .env file. Moto plays AWS."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from pytestqt.qtbot import QtBot

from changeover.core import aws
from changeover.core.providers import rds
from changeover.core.workspace import Workspace
from changeover.gui.dialogs import AddServerDialog, DeployDialog, ProvisionDialog
from changeover.gui.dialogs.work import WorkDialog
from changeover.gui.main_window import MainWindow

from ..dialogs.test_hints_fit import fits
from ..helpers import settle

REGION = "eu-west-1"
WAIT = 20000


@pytest.fixture(params=["in-process", "moto-server"])
def aws_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "in-process":
        from moto import mock_aws

        with mock_aws():
            yield request.param
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    yield request.param


@pytest.mark.parametrize(("kind", "location"), [("rds", f"rds://{REGION}"), ("s3", f"s3://{REGION}")])
def test_an_aws_server_needs_no_password(qtbot: QtBot, kind: str, location: str) -> None:
    dialog = AddServerDialog()
    qtbot.addWidget(dialog)
    dialog.kind.setCurrentIndex(dialog.kind.findData(kind))
    assert dialog.password.isHidden() and not dialog.handle.isHidden()
    assert dialog.form.labelForField(dialog.handle).text() == "&Region:"  # type: ignore[union-attr]
    dialog.name.setText("aws")
    dialog.handle.setText(location)
    assert dialog.validate(), dialog.status.text()
    assert "never stored by Changeover" in dialog.status.text()
    assert dialog.values() == ("aws", location)
    dialog.kind.setCurrentIndex(dialog.kind.findData("postgresql"))  # back to a database server: a password
    assert not dialog.password.isHidden()


def test_provision_on_rds_asks_engine_plan_storage_and_public_and_runs_with_progress(
    qtbot: QtBot, aws_backend: str, window: MainWindow, workspace: Workspace
) -> None:
    servers_dialog = window.show_servers()
    with qtbot.waitSignal(window.refreshed, timeout=WAIT):
        servers_dialog.register_requested.emit("aws-eu", f"rds://{REGION}")
    qtbot.waitUntil(lambda: servers_dialog.model.rowCount() == 1, timeout=WAIT)
    servers_dialog.select("aws-eu")
    dialog = servers_dialog.provision_selected()
    assert isinstance(dialog, ProvisionDialog) and dialog.instance
    assert [dialog.engine.itemData(i) for i in range(dialog.engine.count())] == ["postgres", "mysql", "mariadb"]
    offered = [dialog.plans.itemData(i) for i in range(dialog.plans.count())]
    assert offered == [p.name for p in rds.PLANS] and dialog.plans.itemText(0) == str(rds.PLANS[0])
    assert dialog.storage.value() == rds.DEFAULT_STORAGE_GB and not dialog.public.isChecked()
    dialog.name.setText("orders-db")
    dialog.engine.setCurrentIndex(dialog.engine.findData("mysql"))
    dialog.plans.setCurrentIndex(dialog.plans.findData("db.t4g.small"))
    dialog.storage.setValue(40)
    dialog.public.setChecked(True)
    assert "RDS instance" in dialog.status.text()
    qtbot.waitUntil(lambda: fits(dialog.status), timeout=3000)  # the long hint is shown whole
    dialog.accept()
    work = window.work_dialog
    assert isinstance(work, WorkDialog) and work.isVisible() and work.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "Provisioned orders-db on aws-eu.", timeout=WAIT)
    qtbot.waitUntil(lambda: not work.isVisible(), timeout=WAIT)
    assert work.messages  # the instance's status changes, as the core reported them
    client = boto3.client("rds", region_name=REGION, endpoint_url=aws.endpoint_url("rds"))
    [instance] = client.describe_db_instances()["DBInstances"]
    assert instance["Engine"] == "mysql" and instance["DBInstanceClass"] == "db.t4g.small"
    assert instance["AllocatedStorage"] == 40 and instance["PubliclyAccessible"] is True
    assert workspace.show_resource("orders-db").origin == "provisioned"
    settle(qtbot, window)


def test_add_deploy_with_its_config_in_ssm(
    qtbot: QtBot, aws_backend: str, window: MainWindow, workspace: Workspace
) -> None:
    dialog = window.add_deploy()
    assert isinstance(dialog, DeployDialog)
    assert dialog.ssm_path.isHidden() and not dialog.env_file.isHidden()
    dialog.store_kind.setCurrentIndex(dialog.store_kind.findData("ssm"))
    assert not dialog.ssm_path.isHidden() and not dialog.region.isHidden() and dialog.env_file.isHidden()
    dialog.name.setText("shop")
    dialog.ssm_path.setText("/shop/prod")
    assert not dialog._ok().isEnabled()  # a path without its region is not a store yet
    dialog.region.setText(REGION)
    assert dialog._ok().isEnabled()
    assert dialog.values()["ssm_path"] == "/shop/prod" and dialog.values()["env_file"] is None
    with qtbot.waitSignal(window.refreshed, timeout=WAIT):
        dialog.accept()
    info = workspace.show_deploy("shop")
    assert info.config_kind == "ssm" and "/shop/prod" in info.config_location
    settle(qtbot, window)
