"""The main window driven like a user would, checked against the inventory and the .env file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QLineEdit, QMessageBox
from pytestqt.qtbot import QtBot

from changeover.core import paths
from changeover.core.workspace import Workspace
from changeover.gui.dialogs import AttachDialog, DeployDialog, DeprovisionDialog, DetachDialog, RegisterDialog
from changeover.gui.icons import warning_color
from changeover.gui.main_window import MainWindow
from changeover.gui.main_window.status_bar import readable_location

from ..helpers import open_deprovision, settle

CACHE_PASSWORD = "cache-pa55-word"


def _ok(dialog: DeployDialog | RegisterDialog | AttachDialog | DetachDialog | DeprovisionDialog) -> bool:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def _env(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v or "" for k, v in dotenv_values(path).items()}


def _add_deploy(qtbot: QtBot, window: MainWindow, env_file: Path, name: str = "shop-prod") -> None:
    dialog = window.add_deploy()
    assert not _ok(dialog)
    qtbot.keyClicks(dialog.name, name)
    dialog.env_file.setText(str(env_file))
    qtbot.keyClicks(dialog.app, "shop")
    qtbot.keyClicks(dialog.environment, "production")
    dialog.restart_cmd.setText("true")
    assert _ok(dialog)
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        dialog.accept()
    settle(qtbot, window)


def _register(qtbot: QtBot, window: MainWindow, name: str, handle: str, password: str = "") -> None:
    dialog = window.register_resource()
    qtbot.keyClicks(dialog.name, name)
    qtbot.keyClicks(dialog.handle, handle)
    qtbot.keyClicks(dialog.password, password)
    assert _ok(dialog), dialog.status.text()
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        dialog.accept()
    settle(qtbot, window)


def test_add_edit_remove_deploy(qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path) -> None:
    _add_deploy(qtbot, window, env_file)
    [deploy] = workspace.list_deploys()
    assert (deploy.name, deploy.app, deploy.environment, deploy.restart_cmd) == (
        "shop-prod",
        "shop",
        "production",
        "true",
    )
    assert deploy.config_location == str(env_file)
    assert window.selected_deploy() is not None and window.selected_deploy().name == "shop-prod"  # type: ignore[union-attr]
    # The other config variables are shown, the secret one masked.
    qtbot.waitUntil(lambda: window.config_model.rowCount() == 3)
    values = {v.name: v.value for v in window.config_model.records()}
    assert values["APP_NAME"] == "shop"
    assert values["SECRET_KEY"] == "•••"

    edit = window.edit_deploy()
    assert edit is not None
    edit.environment.setText("prod")
    edit.maintenance_var.setText("MAINTENANCE")
    assert set(edit.changes()) == {"environment", "maintenance_var"}
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        edit.accept()
    settle(qtbot, window)
    deploy = workspace.show_deploy("shop-prod")
    assert (deploy.environment, deploy.maintenance_var) == ("prod", "MAINTENANCE")
    assert window.deploy_model.item(0, 0).text() == "shop / prod"

    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.action("maintenance_on").trigger()
    settle(qtbot, window)
    assert _env(env_file)["MAINTENANCE"] == "1"
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.action("maintenance_off").trigger()
    settle(qtbot, window)
    assert "MAINTENANCE" not in _env(env_file)

    confirm = window.remove_deploy()
    assert confirm is not None
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        confirm.accept()
    settle(qtbot, window)
    assert workspace.list_deploys() == []
    assert env_file.exists()


def test_register_attach_detach_deprovision(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path, memory_keyring: object
) -> None:
    _add_deploy(qtbot, window, env_file)
    _register(qtbot, window, "shop-cache", "redis://127.0.0.1:6379/0", CACHE_PASSWORD)
    info = workspace.show_resource("shop-cache")
    assert info.has_secret and info.kind == "redis" and info.state == "available"
    assert info.handle == "redis://:•••@127.0.0.1:6379/0"
    assert CACHE_PASSWORD in str(getattr(memory_keyring, "items", {}).values())
    assert workspace.full_handle("shop-cache") == f"redis://:{CACHE_PASSWORD}@127.0.0.1:6379/0"

    assert window.select_resource("shop-cache")
    attach = window.attach()
    assert attach is not None
    assert attach.values() == ("shop-cache", "shop-prod", "REDIS_URL", False)  # the kind's usual variable
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        attach.accept()
    settle(qtbot, window)
    assert _env(env_file)["REDIS_URL"] == f"redis://:{CACHE_PASSWORD}@127.0.0.1:6379/0"
    assert workspace.show_resource("shop-cache").state == "attached"
    assert [a.env_var for a in window.attachments_model.records()] == ["REDIS_URL"]
    assert window.attachments_model.records()[0].handle == "redis://:•••@127.0.0.1:6379/0"

    # Deprovision is refused while attached, with the reason shown.
    refused = open_deprovision(qtbot, window)
    assert refused is not None
    assert "attached to shop-prod as REDIS_URL" in refused.reason.text()
    assert not refused.confirm.isEnabled() and not _ok(refused)
    refused.reject()

    workspace.set_setting("retention_days", "5")
    detach = window.detach()
    assert detach is not None
    qtbot.waitUntil(lambda: detach.keep_days.value() == 5)  # the inventory's retention setting
    detach.keep_days.setValue(3)
    assert detach.values() == ("shop-cache", "shop-prod", 3)
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        detach.accept()
    settle(qtbot, window)
    assert "REDIS_URL" not in _env(env_file)
    detached = workspace.show_resource("shop-cache")
    assert detached.state == "detached" and detached.keep_until is not None
    assert window.attachments_model.rowCount() == 0
    row = next(
        r for r in range(window.resources_model.rowCount()) if window.resources_model.record(r).name == "shop-cache"
    )
    assert window.resources_model.index(row, 3).data().startswith("kept until ")

    confirm = open_deprovision(qtbot, window)
    assert confirm is not None and not _ok(confirm)
    qtbot.keyClicks(confirm.confirm, "shop-cach")
    assert not _ok(confirm)
    qtbot.keyClicks(confirm.confirm, "e")
    assert _ok(confirm)
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        confirm.accept()
    settle(qtbot, window)
    gone = workspace.list_resources("all")[0]
    assert gone.state == "deprovisioned" and not gone.has_secret
    assert CACHE_PASSWORD not in str(getattr(memory_keyring, "items", {}).values())
    actions = [e.action for e in workspace.events("shop-cache")]
    assert actions[:4] == ["deprovision", "detach", "attach", "register"]
    assert [e.action for e in window.events_model.records()][:1] == ["deprovision"]


def test_import_deploy(qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path) -> None:
    env = tmp_path / "imported.env"
    env.write_text("DATABASE_URL=postgresql://shop:pw-123@db.internal:5432/shop\nDEBUG=1\n", encoding="utf-8")
    dialog = window.import_deploy()
    dialog.name.setText("legacy")
    dialog.env_file.setText(str(env))
    with qtbot.waitSignal(dialog.preview_shown, timeout=10000):
        dialog.accept()  # the first OK shows what was recognised
    assert workspace.list_deploys() == [] and dialog.isVisible()
    with qtbot.waitSignal(window.controller.changed, timeout=10000) as done:
        dialog.accept()
    settle(qtbot, window)
    [resource] = workspace.list_resources()
    assert done.args == [f"Imported legacy: registered and attached DATABASE_URL as {resource.name}."]
    assert resource.state == "attached" and resource.handle == "postgresql://shop:•••@db.internal:5432/shop"
    assert workspace.show_deploy("legacy").attachments[0].env_var == "DATABASE_URL"
    assert env.read_text(encoding="utf-8").startswith("DATABASE_URL=postgresql://shop:pw-123@")


def test_failure_shows_title_and_message(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path
) -> None:
    dialog = window.add_deploy()
    dialog.name.setText("broken")
    dialog.env_file.setText(str(tmp_path / "missing.env"))
    with qtbot.waitSignal(window.controller.failed, timeout=10000):
        dialog.accept()
    settle(qtbot, window)
    box = window.message_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert box.windowTitle() == "Deploy config problem"
    assert "missing.env" in box.informativeText()
    box.accept()
    assert workspace.list_deploys() == []
    assert workspace.events("broken")[0].result == "failed"


def test_register_dialog_validates_live_and_tests_the_connection(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    import sqlite3

    db = tmp_path / "probe.sqlite3"
    sqlite3.connect(db).close()
    dialog = window.register_resource()
    dialog.name.setText("probe")
    qtbot.keyClicks(dialog.handle, "nope://x")
    assert "Unknown scheme" in dialog.status.text() and not _ok(dialog)
    assert not dialog.test_button.isEnabled()
    dialog.handle.setText("postgresql://app@db.internal/app")
    dialog.password.setText("hunter2-secret")
    assert _ok(dialog)
    assert dialog.password.echoMode() == QLineEdit.EchoMode.Password
    assert "postgresql://app:•••@db.internal/app" in dialog.status.text()
    assert "hunter2-secret" not in dialog.status.text()
    dialog.password.clear()
    dialog.handle.setText(f"sqlite:///{db}")
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.test_result.text().startswith("✔"), timeout=10000)
    assert "Connected to sqlite" in dialog.test_result.text()
    dialog.handle.setText(f"sqlite:///{tmp_path / 'absent.sqlite3'}")
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.test_result.text().startswith("✘"), timeout=10000)
    dialog.reject()
    settle(qtbot, window)


def test_first_run_offers_the_demo(qtbot: QtBot, window: MainWindow, workspace: Workspace) -> None:
    assert window.welcome.isVisible() and window.action("demo").isEnabled()
    with qtbot.waitSignal(window.refreshed, timeout=20000):
        qtbot.mouseClick(window.demo_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert not window.welcome.isVisible() and not window.action("demo").isEnabled()
    [deploy] = workspace.list_deploys()
    env = _env(Path(deploy.config_location))
    assert Path(deploy.config_location).is_relative_to(paths.data_dir())
    assert env["DATABASE_URL"].startswith("sqlite:///") and env["DATABASE_URL"].endswith("shop.sqlite3")
    assert {a.env_var for a in deploy.attachments} == {"DATABASE_URL", "REDIS_URL"}
    from changeover.core import servers as core_servers

    assert [s.name for s in core_servers.list_servers(workspace)] == ["demo-sqlite-server"]
    overdue = [r for r in workspace.list_resources() if r.overdue]
    assert [r.name for r in overdue] == ["demo-shop-db-2024"]


def test_upgrade_hook_only_for_databases(qtbot: QtBot, window: MainWindow, workspace: Workspace) -> None:
    workspace.register_resource("db", "postgresql://app@db.internal/app")
    workspace.register_resource("cache", "redis://127.0.0.1:6379/0")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    upgrade = window.action("upgrade")
    window.select_resource("cache")
    assert not upgrade.isEnabled()
    window.select_resource("db")
    assert upgrade.isEnabled()
    with qtbot.waitSignal(window.controller.upgrade_requested, timeout=2000) as blocker:
        upgrade.trigger()
    assert blocker.args == ["db"]


def test_resource_state_filter(qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path) -> None:
    workspace.add_deploy("d", str(env_file))
    workspace.register_resource("attached-one", "redis://127.0.0.1:6379/0")
    workspace.register_resource("loose-one", "redis://127.0.0.1:6379/1")
    workspace.attach("attached-one", "d")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()

    def shown() -> list[str]:
        proxy = window.resources_proxy
        return sorted(proxy.index(r, 0).data() for r in range(proxy.rowCount()))

    assert shown() == ["attached-one", "loose-one"]
    window.state_filter.setCurrentIndex(window.state_filter.findData("attached"))
    assert shown() == ["attached-one"]
    window.state_filter.setCurrentIndex(window.state_filter.findData("detached"))
    assert shown() == ["loose-one"]
    window.resource_filter.setText("ATTACHED-")
    assert shown() == []


def test_deploy_filter_and_activity_filter(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path
) -> None:
    for name, app in (("alpha-prod", "alpha"), ("beta-prod", "beta"), ("beta-stage", "beta")):
        env = tmp_path / f"{name}.env"
        env.write_text("X=1\n", encoding="utf-8")
        workspace.add_deploy(name, str(env), app=app, environment=name.split("-")[1])
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    assert window.deploy_proxy.rowCount() == 3  # alpha/prod, beta/prod, beta/stage
    qtbot.keyClicks(window.deploy_filter, "beta")
    groups = [window.deploy_proxy.index(r, 0).data() for r in range(window.deploy_proxy.rowCount())]
    assert groups == ["beta / prod", "beta / stage"]
    with qtbot.waitSignal(window.controller.events_loaded, timeout=10000):
        window.activity_filter.setText("alpha-prod")
    assert [e.object_name for e in window.events_model.records()] == ["alpha-prod"]


def test_status_bar_tells_where_secrets_and_inventory_live(window: MainWindow, workspace: Workspace) -> None:
    assert window.keyring_label.text() == "Secrets are kept in the tests' in-memory keyring (unlocked)."
    assert not window.keyring_label.font().bold()
    # A file inventory reads as its path, not a SQLAlchemy URL; the tooltip has the URL.
    location = workspace.inventory.location
    assert window.inventory_label.text() == f"Inventory: {readable_location(location)}"
    assert "sqlite:" not in window.inventory_label.text() and window.inventory_label.toolTip() == location
    assert readable_location(f"sqlite:///{Path.home()}/x/inv.sqlite3") == "~/x/inv.sqlite3"
    assert readable_location("sqlite:////srv/inv.sqlite3") == "/srv/inv.sqlite3"
    assert readable_location("postgresql://admin:***@db/inv") == "postgresql://admin:***@db/inv"


def test_status_bar_warns_without_a_keyring(qtbot: QtBot, window: MainWindow) -> None:
    import keyring.backends.fail

    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        with qtbot.waitSignal(window.refreshed, timeout=10000):
            window.controller.refresh()
    finally:
        keyring.set_keyring(previous)
    assert window.keyring_label.text() == (
        "Warning: No usable keyring: start or unlock GNOME Keyring / KWallet (or your system's keyring), "
        "then try again."
    )
    assert window.keyring_label.font().bold()
    assert f"color: {warning_color().name()}" in window.keyring_label.styleSheet()
    assert window.keyring_icon.toolTip().startswith("No secret can be stored")


def test_status_bar_warns_when_the_keyring_is_locked(qtbot: QtBot, window: MainWindow) -> None:
    import keyring.backend
    import keyring.errors

    class Locked(keyring.backend.KeyringBackend):
        priority = 1  # type: ignore[assignment]
        name = "the tests' locked keyring"  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            raise keyring.errors.KeyringLocked("locked")

        set_password = delete_password = get_password  # type: ignore[assignment]

    previous = keyring.get_keyring()
    keyring.set_keyring(Locked())
    try:
        with qtbot.waitSignal(window.refreshed, timeout=10000):
            window.controller.refresh()
    finally:
        keyring.set_keyring(previous)
    text = window.keyring_label.text()
    assert text == "Warning: The keyring (the tests' locked keyring) is locked. Unlock your keyring and try again."
    assert window.keyring_label.font().bold()
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    assert not window.keyring_label.text().startswith("Warning")  # unlocked again: the warning goes
    assert not window.keyring_label.font().bold() and window.keyring_label.styleSheet() == ""


def test_every_action_has_a_shortcut_or_mnemonic_and_controls_have_names(window: MainWindow) -> None:
    for key, action in window.actions_by_key.items():
        assert "&" in action.text() or not action.shortcut().isEmpty(), key
    for view in (window.deploy_view, window.attachments_view, window.config_view, window.resources_view):
        assert view.accessibleName()
    for edit in window.findChildren(QLineEdit):
        assert edit.accessibleName(), edit


def test_geometry_is_remembered(qtbot: QtBot, make_window: object, settings: object) -> None:
    first = make_window()  # type: ignore[operator]
    first.resize(800, 580)  # the offscreen screen is 800 x 600
    first.close()
    second = make_window()  # type: ignore[operator]
    assert (second.width(), second.height()) == (800, 580)
    second.resize(500, 400)  # below the window's minimum: every pane keeps room for its controls
    assert (second.width(), second.height()) == (800, 540)


def test_no_secret_is_readable_in_the_demo_window(qtbot: QtBot, window: MainWindow, workspace: Workspace) -> None:
    from changeover.core.demo import create_demo

    demo = create_demo(workspace)
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    settle(qtbot, window)
    credentials = window.show_credentials()
    qtbot.waitUntil(lambda: credentials.model.rowCount() == 1)
    texts: list[str] = []
    for widget in [window, credentials]:
        texts += [label.text() for label in widget.findChildren(QLabel)]
        texts += [edit.text() for edit in widget.findChildren(QLineEdit)]
    for model in (
        window.resources_model,
        window.attachments_model,
        window.config_model,
        window.events_model,
        credentials.model,
    ):
        for row in range(model.rowCount()):
            for column in range(model.columnCount()):
                texts.append(str(model.index(row, column).data()))
                texts.append(str(model.index(row, column).data(Qt.ItemDataRole.ToolTipRole)))
    assert len(texts) > 40
    joined = "\n".join(texts)
    assert "•••" in joined
    for secret in demo.secrets:
        assert secret not in joined
    credentials.close()


def test_provider_made_database_shows_server_and_size_and_deprovisions(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path
) -> None:
    from changeover.core import servers as core_servers

    folder = tmp_path / "sqlite-server"
    folder.mkdir()
    core_servers.register_server(workspace, "files", str(folder))
    core_servers.provision(workspace, "files", "made-db")
    assert len(list(folder.glob("*.sqlite3"))) == 1
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    model = window.resources_model
    row = next(r for r in range(model.rowCount()) if model.record(r).name == "made-db")
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert model.index(row, headers.index("Server")).data() == "files"
    assert model.index(row, headers.index("Size")).data() == "0 B"
    assert model.index(row, headers.index("Provider")).data() == "server files"
    assert [s.name for s in window.snapshot.servers] == ["files"]  # type: ignore[union-attr]
    window.select_resource("made-db")
    dialog = open_deprovision(qtbot, window)
    assert dialog is not None and dialog.final_backup.isVisibleTo(dialog)
    dialog.confirm.setText("made-db")
    dialog.final_backup.setChecked(False)
    with qtbot.waitSignal(window.refreshed, timeout=20000):
        dialog.accept()
    settle(qtbot, window)
    assert workspace.show_resource("made-db").state == "deprovisioned"
    assert list(folder.glob("*.sqlite3")) == []


def test_icons_follow_a_dark_palette(qtbot: QtBot, window: MainWindow) -> None:
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    def center_lightness() -> int:
        return window.action("add_deploy").icon().pixmap(24, 24).toImage().pixelColor(12, 12).lightness()

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    light = app.palette()
    assert center_lightness() < 128
    dark = QPalette(light)
    dark.setColor(QPalette.ColorRole.Window, QColor("#202020"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#f0f0f0"))
    app.setPalette(dark)
    try:
        qtbot.waitUntil(lambda: center_lightness() > 200, timeout=3000)
    finally:
        app.setPalette(light)
    qtbot.waitUntil(lambda: center_lightness() < 128, timeout=3000)


def test_attach_over_a_held_variable_needs_replace(qtbot: QtBot, window: MainWindow, workspace: Workspace) -> None:
    from changeover.core.demo import DATABASE, DEPLOY, OLD_DATABASE, create_demo

    demo = create_demo(workspace)
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    window.select_resource(OLD_DATABASE)
    attach = window.attach()
    assert attach is not None
    assert attach.values() == (OLD_DATABASE, DEPLOY, "DATABASE_URL", False)
    assert f"DATABASE_URL now holds {DATABASE}" in attach.hint.text()
    attach.replace.setChecked(True)
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        attach.accept()
    settle(qtbot, window)
    assert _env(demo.env_file)["DATABASE_URL"].endswith("shop-2024.sqlite3")
    assert workspace.show_resource(DATABASE).state == "detached"
    assert workspace.show_resource(OLD_DATABASE).state == "attached"


def test_a_long_inventory_path_does_not_widen_the_window(window: MainWindow) -> None:
    location = "sqlite:////srv/" + "deep/" * 60 + "inventory.sqlite3"
    before = window.minimumSizeHint().width()
    window.status_bar.show_inventory(location)
    assert window.minimumSizeHint().width() == before <= 800  # the window works at 800 px, detail dock open
    assert window.inventory_label.toolTip() == location
    assert window.inventory_label.text() == f"Inventory: {location.removeprefix('sqlite:///')}"


def test_a_failed_upgrade_target_can_be_deprovisioned_and_not_attached(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace, tmp_path: Path
) -> None:
    """The wizard says to deprovision the database a rolled-back upgrade left failed: the window lets you."""
    from changeover.core import servers as core_servers
    from changeover.core.upgrade import procedure
    from tests.upgrade.conftest import fill

    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}", 10)
    env_file = tmp_path / "shop.env"
    env_file.write_text("DEBUG=0\n", encoding="utf-8")
    workspace.add_deploy(
        "shop",
        str(env_file),
        restart_cmd="true",
        maintenance_on_cmd="echo 'the proxy refuses' >&2; exit 3",
        maintenance_off_cmd="true",
        maintenance_var="",
    )
    workspace.register_resource("shop-db", f"sqlite:///{source}")
    workspace.attach("shop-db", "shop")
    folder = tmp_path / "dbs"
    folder.mkdir()
    core_servers.register_server(workspace, "files", str(folder))
    plan = procedure.plan_upgrade(workspace, "shop-db", provision_on="files")
    run = procedure.start_upgrade(workspace, plan)
    with pytest.raises(procedure.UpgradeFailed):
        procedure.execute(workspace, run.id)  # the failure rolls back: the new database is marked failed
    target = procedure.show_run(workspace, run.id).target
    assert workspace.show_resource(target).state == "failed"

    window = make_window()
    window.resources_pane.state_filter.setCurrentIndex(window.resources_pane.state_filter.findData("all"))
    assert window.select_resource(target)
    assert window.action("deprovision").isEnabled()
    assert not window.action("attach").isEnabled()  # a failed database is attached nowhere
    assert "failed" in window.action("attach").toolTip()
    dialog = open_deprovision(qtbot, window)
    assert dialog.confirm.isEnabled() and "This cannot be undone" in dialog.reason.text()  # not refused
    dialog.confirm.setText(target)
    dialog.final_backup.setChecked(False)
    assert _ok(dialog)
    with qtbot.waitSignal(window.refreshed, timeout=20000):
        dialog.accept()
    settle(qtbot, window)
    assert workspace.show_resource(target).state == "deprovisioned"
    assert list(folder.iterdir()) == []
