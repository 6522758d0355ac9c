"""Tools ▸ Servers…: register database servers, provision databases on them, remove them, from the window."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit, QMessageBox
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from sqlalchemy.engine import make_url

from changeover.core import servers as core_servers
from changeover.core.demo import create_demo
from changeover.core.workspace import Workspace
from changeover.gui import models
from changeover.gui.dialogs import AddServerDialog, ServersDialog
from changeover.gui.main_window import MainWindow

from ...conftest import POSTGRES_URL, unique_name
from ...memory_keyring import InMemoryKeyring
from ..helpers import settle

ADMIN_PASSWORD = "adm1n-pa55-never-stored"


def _open(qtbot: QtBot, window: MainWindow) -> ServersDialog:
    window.action("servers").trigger()
    dialog = window.servers_dialog
    assert isinstance(dialog, ServersDialog) and dialog.isVisible()
    return dialog


def _ok(dialog: AddServerDialog | object) -> bool:
    return bool(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled())  # type: ignore[attr-defined]


def _cells(dialog: ServersDialog) -> list[list[str]]:
    model = dialog.proxy
    return [[str(model.index(r, c).data()) for c in range(model.columnCount())] for r in range(model.rowCount())]


def _inventory_bytes(workspace: Workspace) -> bytes:
    """The inventory's files on disk, as they are (the SQLite file and its journal)."""
    database = Path(workspace.inventory.engine.url.database or "")
    return b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))


def _postgres_admin_handle() -> str:
    """The local server's admin handle, without any password (it goes into the masked field)."""
    url = make_url(POSTGRES_URL).set(drivername="postgresql", password=None)
    return url.render_as_string(hide_password=False)


def test_the_action_has_a_shortcut_a_mnemonic_and_accessible_names(qtbot: QtBot, window: MainWindow) -> None:
    action = window.action("servers")
    assert action.shortcut().toString() == "Ctrl+Shift+S"
    assert action.text() == "&Servers…"
    tools = next(m for m in window.menuBar().actions() if m.text() == "&Tools").menu()
    assert action in tools.actions()  # type: ignore[union-attr]
    dialog = _open(qtbot, window)
    assert dialog.table.accessibleName() == "Servers"
    assert {b.accessibleName() for b in (dialog.add_button, dialog.remove_button, dialog.provision_button)} == {
        "Add server",
        "Remove server",
        "Provision database",
    }
    assert not dialog.remove_button.isEnabled() and not dialog.provision_button.isEnabled()
    assert "No server is registered" in dialog.note.text()
    add = dialog.add()
    for widget in (add.name, add.kind, add.handle, add.password, add.folder, add.browse):
        assert widget.accessibleName()
    assert add.password.echoMode() == QLineEdit.EchoMode.Password
    add.reject()
    dialog.close()


def test_add_dialog_validates_as_it_is_typed(qtbot: QtBot, tmp_path: Path) -> None:
    add = AddServerDialog(taken=["pg-main"])
    qtbot.addWidget(add)
    assert add.kind_value() == "postgresql" and not _ok(add)
    assert "admin handle" in add.status.text()
    add.handle.setText("mysql://root@127.0.0.1:3306/mysql")
    assert "not a PostgreSQL one" in add.status.text() and not _ok(add)
    add.handle.setText("redis://127.0.0.1:6379/0")  # the core's rule (parse_server_location) answers
    assert "is not a database server" in add.status.text() and not _ok(add)
    add.handle.setText("mysql://root@127.0.0.1:3306/mysql")
    add.kind.setCurrentIndex(add.kind.findData("mysql"))
    add.password.setText(ADMIN_PASSWORD)
    assert "Name the server." in add.status.text() and not _ok(add)
    add.name.setText("pg-main")
    assert "already exists" in add.status.text() and not _ok(add)
    add.name.setText("maria")
    assert _ok(add)
    assert "•••" in add.status.text() and ADMIN_PASSWORD not in add.status.text()
    assert ADMIN_PASSWORD in add.values()[1]  # folded into the handle the core gets, nowhere shown
    add.name.setText("not a name!")
    assert "not a valid server name" in add.status.text() and not _ok(add)

    add.name.setText("files")
    add.kind.setCurrentIndex(add.kind.findData("sqlite"))
    assert not add.form.isRowVisible(add.handle) and not add.form.isRowVisible(add.password)
    assert add.form.isRowVisible(add.folder_row)
    add.folder.setText("relative/folder")
    assert "absolute path" in add.status.text() and not _ok(add)
    add.folder.setText(str(tmp_path / "missing"))
    assert "does not exist" in add.status.text() and not _ok(add)
    add.folder.setText(str(tmp_path))
    assert _ok(add) and add.values() == ("files", str(tmp_path))


def test_register_a_sqlite_folder_and_provision_a_database_on_it(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "sqlite-server"
    folder.mkdir()
    dialog = _open(qtbot, window)
    add = dialog.add()
    add.kind.setCurrentIndex(add.kind.findData("sqlite"))
    add.pick_folder()  # a non-blocking file dialog; the user picks the folder
    assert add.file_dialog.isVisible() and add.file_dialog.fileMode() == add.file_dialog.FileMode.Directory
    add.file_dialog.fileSelected.emit(str(folder))
    add.file_dialog.reject()
    assert add.folder.text() == str(folder)
    qtbot.keyClicks(add.name, "local-files")
    assert _ok(add)
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        add.accept()
    settle(qtbot, window)

    [server] = core_servers.list_servers(workspace)
    assert (server.name, server.kind, server.handle, server.has_secret) == ("local-files", "sqlite", str(folder), False)
    assert _cells(dialog) == [["local-files", "SQLite folder", server.version, "0", str(folder)]]
    assert dialog.selected() == server
    assert "Registered the server local-files" in window.statusBar().currentMessage()

    provision = dialog.provision_selected()
    assert provision is not None
    assert not provision.plan.isEnabled()  # a SQLite folder has no plans
    qtbot.keyClicks(provision.name, "shop-db")
    assert "shop_db" in provision.status.text() and _ok(provision)
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        provision.accept()
    settle(qtbot, window)

    info = workspace.show_resource("shop-db")
    assert (info.kind, info.origin, info.server) == ("sqlite", "provisioned", "local-files")
    database = Path(make_url(workspace.full_handle("shop-db")).database or "")
    assert database.parent == folder and database.is_file()
    assert core_servers.show_server(workspace, "local-files").resources == ("shop-db",)
    assert _cells(dialog)[0][3] == "1"
    assert "shop-db" in window.resources_by_name
    dialog.close()


@pytest.mark.servers
def test_register_the_local_postgres_with_a_masked_password_and_remove_it(
    qtbot: QtBot,
    window: MainWindow,
    workspace: Workspace,
    postgres_admin: sa.Engine,
    memory_keyring: InMemoryKeyring,
) -> None:
    name = unique_name("pg")
    dialog = _open(qtbot, window)
    add = dialog.add()
    assert add.kind_value() == "postgresql"
    qtbot.keyClicks(add.name, name)
    qtbot.keyClicks(add.handle, _postgres_admin_handle())
    qtbot.keyClicks(add.password, ADMIN_PASSWORD)  # trust auth on the local server: any password connects
    assert add.password.echoMode() == QLineEdit.EchoMode.Password
    assert _ok(add) and "•••" in add.status.text() and ADMIN_PASSWORD not in add.status.text()
    with qtbot.waitSignal(window.refreshed, timeout=15000):
        add.accept()
    settle(qtbot, window)

    [server] = core_servers.list_servers(workspace)
    assert (server.name, server.kind, server.has_secret) == (name, "postgresql", True)
    assert "•••" in server.handle and ADMIN_PASSWORD not in server.handle
    assert server.version
    assert ADMIN_PASSWORD.encode() not in _inventory_bytes(workspace)
    assert all(ADMIN_PASSWORD not in e.detail for e in workspace.events())
    assert ADMIN_PASSWORD in "".join(memory_keyring.items.values())  # the keyring has it
    assert ADMIN_PASSWORD not in "\n".join(" ".join(row) for row in _cells(dialog))
    assert _cells(dialog)[0][:2] == [name, "PostgreSQL"]

    assert dialog.select(name)
    confirm = dialog.remove_selected()
    assert confirm is not None and name in confirm.label.text()
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        confirm.accept()
    settle(qtbot, window)
    assert core_servers.list_servers(workspace) == []
    assert ADMIN_PASSWORD not in "".join(memory_keyring.items.values())
    assert dialog.model.rowCount() == 0
    dialog.close()


@pytest.mark.servers
def test_removal_is_refused_while_a_database_lives_there(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, postgres_admin: sa.Engine
) -> None:
    server = unique_name("pg")
    resource = unique_name("co_gui")
    core_servers.register_server(workspace, server, _postgres_admin_handle())
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    dialog = _open(qtbot, window)
    try:
        provision = dialog.provision_selected()
        assert provision is not None
        qtbot.keyClicks(provision.name, resource)
        with qtbot.waitSignal(window.refreshed, timeout=15000):
            provision.accept()
        settle(qtbot, window)
        assert workspace.show_resource(resource).server == server
        assert _cells(dialog)[0][3] == "1"

        confirm = dialog.remove_selected()
        assert confirm is not None and "refuses" in confirm.label.text()
        with qtbot.waitSignal(window.controller.failed, timeout=10000):
            confirm.accept()
        settle(qtbot, window)
        box = window.message_box
        assert isinstance(box, QMessageBox) and box.isVisible()
        assert f"The server '{server}' still carries {resource}: deprovision them first." in box.informativeText()
        box.accept()
        assert [s.name for s in core_servers.list_servers(workspace)] == [server]
        assert workspace.events(server)[0].result == "failed"
    finally:
        settle(qtbot, window)
        if resource in {r.name for r in workspace.list_resources("all")}:
            core_servers.deprovision(workspace, resource, resource, final_backup=False)
        dialog.close()
    with postgres_admin.connect() as conn:
        left = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": core_servers.database_name(resource)}
        ).first()
    assert left is None


def test_the_server_model_passes_the_model_tester(
    qtmodeltester: ModelTester, request: pytest.FixtureRequest, workspace: Workspace
) -> None:
    create_demo(workspace)  # the demo registers one SQLite folder server
    model = models.ServersModel()
    servers = core_servers.list_servers(workspace)
    model.set_records(servers, models.ServersModel.render(servers))
    assert model.rowCount() == 1
    assert model.index(0, 1).data() == "SQLite folder"
    assert model.index(0, 0).data(models.PAYLOAD_ROLE) == servers[0]
    assert model.index(0, 3).data(models.SORT_ROLE) == 0
    assert model.index(0, 3).data(Qt.ItemDataRole.ToolTipRole) == "No live database provisioned here"
    qtmodeltester.check(model, force_py=True)
    proxy_tester = ModelTester(request.config)
    try:
        proxy = models.record_proxy(model)
        proxy_tester.check(proxy, force_py=True)
        proxy.sort(3, Qt.SortOrder.DescendingOrder)
        proxy.set_text("no server has this text")
        assert proxy.rowCount() == 0
    finally:
        proxy_tester._cleanup()
