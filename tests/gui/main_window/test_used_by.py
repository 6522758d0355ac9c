"""The resources pane says which deploys use the selected resource, read from their configs now."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from changeover.core.workspace import Workspace
from changeover.gui.main_window import MainWindow

from ..helpers import settle

HANDLE = "redis://:cache-pw-123@cache.internal:6379/0"


def _env(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name / ".env"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    return path


def _select(qtbot: QtBot, window: MainWindow, name: str) -> str:
    pane = window.resources_pane
    with qtbot.waitSignal(pane.uses_shown, timeout=10000, check_params_cb=lambda r: r == name):
        assert window.select_resource(name)
    return pane.used_by.text()


def test_used_by_lists_attached_and_hand_edited_deploys(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path
) -> None:
    workspace.register_resource("cache", HANDLE)
    workspace.register_resource("other", "redis://other.internal:6379/0")
    workspace.add_deploy("a-shop", str(_env(tmp_path, "a", "APP=a\n")), restart_cmd="true")
    workspace.attach("cache", "a-shop", "REDIS_URL")
    # b-shop's .env was edited by hand to point at the same Redis; c-shop points elsewhere.
    workspace.add_deploy("b-shop", str(_env(tmp_path, "b", f"CACHE_URL={HANDLE}\n")))
    c_env = _env(tmp_path, "c", "APP=c\n")
    workspace.add_deploy("c-shop", str(c_env), restart_cmd="true")
    workspace.attach("other", "c-shop", "REDIS_URL")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    settle(qtbot, window)
    assert window.resources_pane.used_by.text() == "Select a resource to see which deploys use it."

    text = _select(qtbot, window, "cache")
    lines = text.splitlines()
    assert lines[0] == "Used by (read from each deploy's config now) — cache:"
    assert lines[1:] == [
        "a-shop: REDIS_URL = redis://:•••@cache.internal:6379/0 (attached)",
        "b-shop: CACHE_URL = redis://:•••@cache.internal:6379/0 (not attached by Changeover: written by hand)",
    ]
    assert "cache-pw-123" not in text

    # c-shop's REDIS_URL is edited by hand to the same Redis: after a refresh the pane says so.
    c_env.write_text(f"REDIS_URL={HANDLE}\n", encoding="utf-8")
    with qtbot.waitSignal(window.resources_pane.uses_shown, timeout=10000):
        window.controller.refresh()
    assert window.resources_pane.used_by.text().splitlines()[-1] == (
        "c-shop: REDIS_URL = redis://:•••@cache.internal:6379/0 "
        "(not attached by Changeover: it attached other there, edited by hand since)"
    )
    assert _select(qtbot, window, "other").splitlines()[1:] == ["no deploy's config points at it."]
    settle(qtbot, window)


def test_an_answer_for_a_resource_no_longer_selected_is_dropped(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path
) -> None:
    workspace.register_resource("cache", HANDLE)
    workspace.register_resource("other", "redis://other.internal:6379/0")
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    shown = _select(qtbot, window, "other")
    window.resources_pane.show_uses("cache", [])  # a late answer for an earlier selection
    assert window.resources_pane.used_by.text() == shown
    window.resources_view.clearSelection()
    assert window.resources_pane.used_by.text() == "Select a resource to see which deploys use it."
    settle(qtbot, window)
