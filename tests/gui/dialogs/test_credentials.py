"""The credentials manager: listed by resource, revealed on request and hidden again, copied, replaced."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from changeover.core.workspace import Workspace
from changeover.gui.main_window import MainWindow

from ..helpers import settle

PASSWORD = "old-pa55word"
NEW_PASSWORD = "new-pa55word"


def _open(qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path):  # type: ignore[no-untyped-def]
    workspace.add_deploy("shop", str(env_file), restart_cmd="true")
    workspace.register_resource("shop-db", f"postgresql://shop:{PASSWORD}@db.internal:5432/shop")
    workspace.register_resource("no-secret", "redis://127.0.0.1:6379/0")
    workspace.attach("shop-db", "shop")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    dialog = window.show_credentials()
    qtbot.addWidget(dialog)
    return dialog


def _texts(dialog) -> str:  # type: ignore[no-untyped-def]
    model = dialog.model
    return "\n".join(str(model.index(r, c).data()) for r in range(model.rowCount()) for c in range(model.columnCount()))


def test_reveal_is_explicit_and_temporary(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path
) -> None:
    dialog = _open(qtbot, window, workspace, env_file)
    assert [c.owner for c in dialog.model.records()] == ["shop-db"]  # only resources with a secret
    assert dialog.rotate_button.isEnabled()  # a database user, even registered by hand (through its server)
    assert "a second user beside the old one" in dialog.rotate_button.toolTip()
    assert PASSWORD not in _texts(dialog)
    dialog.select("shop-db")
    dialog.reveal_button.click()
    qtbot.waitUntil(lambda: PASSWORD in _texts(dialog), timeout=10000)
    assert dialog.hide_timer.isActive() and dialog.hide_timer.interval() == 10_000
    dialog.hide_timer.start(100)  # rather than wait the full 10 s
    qtbot.waitUntil(lambda: PASSWORD not in _texts(dialog), timeout=5000)
    assert "•••" in _texts(dialog)
    settle(qtbot, window)


def test_copy_clears_the_clipboard_later(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path
) -> None:
    dialog = _open(qtbot, window, workspace, env_file)
    dialog.select("shop-db")
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("something else")
    dialog.copy_button.click()
    qtbot.waitUntil(lambda: clipboard.text() == PASSWORD, timeout=10000)
    assert PASSWORD not in _texts(dialog)  # copying does not reveal
    assert dialog.clipboard_timer.isActive() and dialog.clipboard_timer.interval() == 30_000
    dialog.clipboard_timer.start(100)  # rather than wait the full 30 s
    qtbot.waitUntil(lambda: clipboard.text() == "", timeout=5000)
    settle(qtbot, window)


def test_replace_the_secret_rewrites_the_attached_deploy(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path, postgres_admin: object
) -> None:
    from dotenv import dotenv_values

    log = env_file.parent / "restarts.log"
    workspace.add_deploy("shop", str(env_file), restart_cmd=f"echo restarted >> {log}")
    # the machine's PostgreSQL trusts local logins: it answers the check with any password
    workspace.register_resource("live-db", f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/postgres")
    workspace.attach("live-db", "shop")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    dialog = window.show_credentials()
    qtbot.addWidget(dialog)
    dialog.select("live-db")
    dialog.replace_selected()
    replace = dialog.replace_dialog
    assert "written into the config of shop" in replace.findChild(QLabel).text()
    assert not replace.buttons.button(replace.buttons.StandardButton.Ok).isEnabled()
    qtbot.keyClicks(replace.secret, NEW_PASSWORD)
    assert replace.secret.echoMode() == replace.secret.EchoMode.Password
    with qtbot.waitSignal(window.refreshed, timeout=20000):
        replace.accept()
    settle(qtbot, window)
    new = f"postgresql://postgres:{NEW_PASSWORD}@127.0.0.1:5432/postgres"
    assert workspace.full_handle("live-db") == new
    assert dotenv_values(env_file)["DATABASE_URL"] == new  # written everywhere, no re-attach needed
    assert log.read_text() == "restarted\nrestarted\n"  # the attach, then the replace
    event = workspace.events("live-db")[0]
    assert (event.action, event.result) == ("replace secret", "ok") and NEW_PASSWORD not in event.detail
    assert NEW_PASSWORD not in _texts(dialog)
    [credential] = [c for c in dialog.model.records() if c.owner == "live-db"]
    assert credential.secret_rotated_at is not None  # the window's snapshot carries the new date


def test_the_age_of_each_secret_and_the_old_ones_marked(qtbot: QtBot, qtmodeltester: object) -> None:
    from datetime import UTC, datetime, timedelta

    from PySide6.QtCore import Qt

    from changeover.core.records import ResourceInfo
    from changeover.gui.dialogs.credentials import CredentialsDialog
    from changeover.gui.models import credentials_from

    now = datetime.now(UTC)

    def info(name: str, set_at: datetime | None, rotated: datetime | None = None) -> ResourceInfo:
        return ResourceInfo(
            name, "redis", "redis://default:•••@127.0.0.1:6379/0", "registered", "available", True, None, None,
            now, None, None, None, secret_set_at=set_at, secret_rotated_at=rotated,
        )  # fmt: skip

    resources = [
        info("fresh", now - timedelta(days=400), rotated=now - timedelta(days=3)),
        info("stale", now - timedelta(days=45)),
        info("unknown", None),
    ]
    dialog = CredentialsDialog()
    qtbot.addWidget(dialog)
    dialog.set_credentials(credentials_from(resources), warn_days=30)
    model = dialog.model
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    age, changed = headers.index("Age"), headers.index("Changed")
    rows = {model.index(r, 0).data(): r for r in range(model.rowCount())}
    assert model.index(rows["fresh"], age).data() == "3 days"  # counted from the last replace
    assert model.index(rows["fresh"], changed).data() == (now - timedelta(days=3)).astimezone().strftime("%Y-%m-%d")
    assert model.index(rows["stale"], age).data() == "45 days (old)"
    assert model.index(rows["stale"], age).data(Qt.ItemDataRole.FontRole).bold()
    assert "older than 30 days" in model.index(rows["stale"], age).data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(rows["fresh"], age).data(Qt.ItemDataRole.FontRole) is None
    assert model.index(rows["unknown"], age).data() == ""
    assert dialog.age_note.text() == "1 secret is older than 30 days (stale): replace or rotate it."
    dialog.set_credentials(credentials_from(resources), warn_days=90)
    assert model.index(rows["stale"], age).data() == "45 days"
    assert dialog.age_note.text() == "" and not dialog.age_note.isVisibleTo(dialog)


def test_rotate_a_provisioned_database_user(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path, postgres_admin: object
) -> None:
    from dotenv import dotenv_values

    from changeover.core import servers as core_servers

    from ...conftest import POSTGRES_URL, unique_name

    name = unique_name("gui-rot").replace("_", "-")
    core_servers.register_server(workspace, "pg", POSTGRES_URL)
    core_servers.provision(workspace, "pg", name)
    try:
        workspace.add_deploy("shop", str(env_file), restart_cmd="true")
        workspace.attach(name, "shop")
        before = dotenv_values(env_file)["DATABASE_URL"]
        with qtbot.waitSignal(window.refreshed, timeout=10000):
            window.controller.refresh()
        dialog = window.show_credentials()
        qtbot.addWidget(dialog)
        dialog.select(name)
        assert dialog.rotate_button.isEnabled()
        dialog.rotate_button.click()
        assert "only then is the old one revoked" in dialog.rotate_dialog.findChild(QLabel).text()
        with qtbot.waitSignal(window.refreshed, timeout=20000):
            dialog.rotate_dialog.accept()
        settle(qtbot, window)
        after = dotenv_values(env_file)["DATABASE_URL"]
        assert after and before and after != before
        assert workspace.full_handle(name) == after
        assert [e.result for e in workspace.events(name) if e.action == "rotate password"] == ["ok"]
    finally:
        for attachment in workspace.show_resource(name).attachments:
            workspace.detach(name, attachment.deploy)
        core_servers.deprovision(workspace, name, name, final_backup=False)


def test_kinds_that_cannot_rotate_say_why_and_point_to_replace(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, env_file: Path
) -> None:
    workspace.register_resource("mail", "smtp://postmaster:pw@mail.example.com:587")
    dialog = _open(qtbot, window, workspace, env_file)
    dialog.select("mail")
    assert dialog.selected() is not None and dialog.selected().owner == "mail"  # type: ignore[union-attr]
    assert not dialog.rotate_button.isEnabled() and dialog.replace_button.isEnabled()
    assert dialog.rotate_button.toolTip() == (
        "Cannot rotate: an SMTP relay's password is issued by the relay (your mail server, Mailgun, Postmark...). "
        "Get a new secret where it is issued, then use Replace… to give it to every deploy."
    )
    settle(qtbot, window)


def test_the_rotate_confirmation_tells_one_phase_for_an_rds_master_password(qtbot: QtBot) -> None:
    from changeover.gui.dialogs.credentials import RotateDialog
    from changeover.gui.models.credentials import Credential

    on_rds = Credential(
        "resource",
        "orders-db",
        "postgresql",
        "postgresql://orders_db:•••@x/orders_db",
        "aws-eu",
        "provisioned",
        deploys=("shop",),
        server_kind="rds",
    )
    local = Credential(
        "resource",
        "app-db",
        "postgresql",
        "postgresql://app:•••@db/app",
        "pg-main",
        "provisioned",
        deploys=("shop",),
        server_kind="postgresql",
    )
    texts = []
    for credential in (on_rds, local):
        dialog = RotateDialog(credential)
        qtbot.addWidget(dialog)
        texts.append(" ".join(label.text() for label in dialog.findChildren(QLabel)))
    assert "in one phase" in texts[0] and "revoked" not in texts[0] and "shop" in texts[0]
    assert "only then is the old one revoked" in texts[1] and "one phase" not in texts[1]
