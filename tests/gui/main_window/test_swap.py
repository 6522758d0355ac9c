"""Swap for another… in the window: real Redis databases on this machine's server, real .env files and hooks."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox, QMessageBox
from pytestqt.qtbot import QtBot

from changeover.core.workspace import Workspace
from changeover.gui.dialogs import SwapDialog
from changeover.gui.main_window import MainWindow

from ..helpers import MACHINE_REDIS as OLD
from ..helpers import settle

NEW = "redis://127.0.0.1:6379/1"


def _deploys(workspace: Workspace, tmp_path: Path, hooks: dict[str, str]) -> dict[str, Path]:
    """One deploy per hook, each with its own .env, all with the old Redis attached as REDIS_URL."""
    workspace.register_resource("cache-old", OLD)
    workspace.register_resource("cache-new", NEW)
    files = {}
    for name, hook in hooks.items():
        env = tmp_path / name / ".env"
        env.parent.mkdir()
        env.write_text("APP=1\n", encoding="utf-8")
        workspace.add_deploy(name, str(env), restart_cmd="true")
        workspace.attach("cache-old", name, "REDIS_URL")
        workspace.edit_deploy(name, restart_cmd=hook)
        files[name] = env
    return files


def _redis_url(env: Path) -> str:
    from dotenv import dotenv_values

    return str(dotenv_values(env)["REDIS_URL"])


def _open_swap(qtbot: QtBot, window: MainWindow, resource: str) -> SwapDialog:
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    assert window.select_resource(resource)
    action = window.action("swap")
    assert action.isEnabled() and "&" in action.text()
    assert action in window.resources_view.actions()  # in the table's context menu too
    action.trigger()
    dialog = window.dialog
    assert isinstance(dialog, SwapDialog) and dialog.isVisible()
    return dialog


def test_swap_switches_every_deploy_and_keeps_the_old_one(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path, machine_redis: str
) -> None:
    files = _deploys(workspace, tmp_path, {"a-shop": "true", "b-shop": "true"})
    hand = tmp_path / "hand" / ".env"
    hand.parent.mkdir()
    hand.write_text(f"CACHE={OLD}\n", encoding="utf-8")
    workspace.add_deploy("hand-made", str(hand))
    workspace.set_setting("retention_days", "4")
    dialog = _open_swap(qtbot, window, "cache-old")
    qtbot.waitUntil(dialog.elsewhere.isVisible, timeout=10000)  # a hand-written use is not swapped: it says so
    assert "hand-made's CACHE points at cache-old too, written by hand" in dialog.elsewhere.text()
    assert not dialog.database and dialog.new.currentData() == "cache-new"
    assert "a-shop (REDIS_URL)" in dialog.note.text() and "b-shop (REDIS_URL)" in dialog.note.text()
    qtbot.waitUntil(lambda: dialog.keep_days.value() == 4)  # the inventory's retention setting
    with qtbot.waitSignal(window.controller.changed, timeout=20000) as done:
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    settle(qtbot, window)
    assert done.args == ["Swapped cache-old for cache-new on a-shop, b-shop; cache-old is kept, detached."]
    assert [_redis_url(files[d]) for d in ("a-shop", "b-shop")] == [NEW, NEW]
    assert hand.read_text(encoding="utf-8") == f"CACHE={OLD}\n"
    old = workspace.show_resource("cache-old")
    assert old.state == "detached" and old.keep_until is not None
    assert workspace.show_resource("cache-new").state == "attached"
    # The window redrew from the inventory: the old one is listed, detached, and the swap is in the activity.
    row = window.resources_model.row_of("cache-old")
    assert row is not None and window.resources_model.record(row).state == "detached"
    assert window.events_model.records()[0].action == "swap"


def test_a_failed_restart_undoes_the_swap_and_shows_why(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path, machine_redis: str
) -> None:
    files = _deploys(workspace, tmp_path, {"a-shop": "true", "b-shop": "exit 3", "c-shop": "true"})
    dialog = _open_swap(qtbot, window, "cache-old")
    with qtbot.waitSignal(window.controller.failed, timeout=20000):
        dialog.accept()
    settle(qtbot, window)
    box = window.message_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert box.windowTitle() == "Swap stopped and undone"
    assert "b-shop" in box.text() + box.informativeText()
    box.accept()
    assert [_redis_url(f) for f in files.values()] == [OLD, OLD, OLD]  # a-shop is back on the old one
    assert workspace.show_resource("cache-old").state == "attached"
    assert workspace.show_resource("cache-new").state == "available"


def test_a_database_is_pointed_to_the_upgrade_wizard(qtbot: QtBot, window: MainWindow, workspace: Workspace) -> None:
    workspace.register_resource("db", "postgresql://app@db.internal/app")
    workspace.register_resource("db-new", "postgresql://app@db2.internal/app")
    dialog = _open_swap(qtbot, window, "db")
    assert dialog.database and "Upgrade database" in dialog.note.text()
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    upgrade = next(b for b in dialog.buttons.buttons() if "Upgrade" in b.text())
    with qtbot.waitSignal(window.controller.upgrade_requested, timeout=5000) as asked:
        upgrade.click()
    assert asked.args == ["db"]
    assert workspace.show_resource("db").state == "available"  # nothing was swapped


def test_swap_is_disabled_without_a_live_resource(qtbot: QtBot, window: MainWindow) -> None:
    assert window.selected_resource() is None
    assert not window.action("swap").isEnabled()
    assert window.swap_resource() is None
