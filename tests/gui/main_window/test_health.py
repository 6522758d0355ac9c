"""Health in the window: kept results with their time, Ctrl+H now, and the background re-check on a timer.

Real servers: this machine's Redis (ok), a port nothing listens on (refused), and a socket that accepts
and never answers (a check that takes its whole timeout, to show the timer skips while one runs).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from changeover.core import checks
from changeover.core.workspace import Workspace
from changeover.gui.main_window import MainWindow
from changeover.gui.models import HEALTH_COLUMN_WIDTH, NOT_CHECKED

from ..helpers import settle


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A socket that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def _deploy(workspace: Workspace, tmp_path: Path, resources: dict[str, str]) -> None:
    env = tmp_path / "shop" / ".env"
    env.parent.mkdir()
    env.write_text("APP=1\n", encoding="utf-8")
    workspace.add_deploy("shop", str(env), restart_cmd="true")
    for number, (name, handle) in enumerate(resources.items()):
        workspace.register_resource(name, handle)
        workspace.attach(name, "shop", f"CACHE_{number}_URL")


def _health(window: MainWindow) -> dict[str, tuple[str, str]]:
    """The health column, by resource: (cell text, tooltip)."""
    model = window.attachments_model
    column = model.HEALTH
    return {
        model.record(r).resource: (
            str(model.index(r, column).data()),
            str(model.index(r, column).data(Qt.ItemDataRole.ToolTipRole)),
        )
        for r in range(model.rowCount())
    }


def _show(qtbot: QtBot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.refreshed, timeout=10000):
        window.controller.refresh()
    settle(qtbot, window)
    window.select_deploy("shop")


def test_kept_results_are_shown_with_their_time(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path, machine_redis: str
) -> None:
    refused = f"redis://127.0.0.1:{_free_port()}/0"
    _deploy(workspace, tmp_path, {"cache": machine_redis, "gone": refused, "later": "redis://127.0.0.1:6379/2"})
    kept = {r.resource: r for r in checks.check_resources(workspace, ["cache", "gone"])}
    _show(qtbot, window)
    health = _health(window)
    stamp = kept["cache"].checked_at.astimezone().strftime("%H:%M")
    assert health["cache"][0] == f"✔ ok {kept['cache'].latency_ms:.0f} ms at {stamp}"
    assert health["gone"][0].startswith(f"✘ failed {kept['gone'].latency_ms:.0f} ms at {stamp}: Connection refused")
    assert kept["gone"].reason in health["gone"][1]  # the whole reason in the tooltip
    assert health["later"][0] == NOT_CHECKED
    # The long reason is elided in its cell: the column stays at most HEALTH_COLUMN_WIDTH wide.
    view = window.attachments_view
    assert view.fontMetrics().horizontalAdvance(health["gone"][0]) > HEALTH_COLUMN_WIDTH
    assert view.columnWidth(window.attachments_model.HEALTH) <= HEALTH_COLUMN_WIDTH


def test_ctrl_h_checks_the_selected_resources_now(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path, machine_redis: str
) -> None:
    port = _free_port()
    _deploy(workspace, tmp_path, {"cache": machine_redis, "gone": f"redis://127.0.0.1:{port}/0"})
    _show(qtbot, window)
    action = window.action("health")
    assert action.shortcut().toString() == "Ctrl+H" and action.isEnabled()
    window.activateWindow()
    window.deploy_view.setFocus()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    with qtbot.waitSignal(window.controller.health_checked, timeout=20000) as checked:
        qtbot.keyClick(window.deploy_view, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    assert set(checked.args[0]) == {"cache", "gone"}
    health = _health(window)
    assert health["cache"][0].startswith("✔ ok ")
    assert health["gone"][0].startswith("✘ failed ") and f"127.0.0.1:{port}" in health["gone"][1]
    # The column fits the short ok text, and stops at HEALTH_COLUMN_WIDTH for the long failure.
    view = window.attachments_view
    width = view.columnWidth(window.attachments_model.HEALTH)
    assert view.fontMetrics().horizontalAdvance(health["cache"][0]) < width <= HEALTH_COLUMN_WIDTH
    assert view.fontMetrics().horizontalAdvance(health["gone"][0]) > HEALTH_COLUMN_WIDTH
    message = window.statusBar().currentMessage()
    assert message.startswith("Checked 2: 1 ok, 1 failed (gone: Connection refused")
    # Kept in the inventory: a fresh read of it shows the same.
    assert {name: r.status.value for name, r in checks.last_results(workspace).items()} == {
        "cache": "ok",
        "gone": "failed",
    }
    before = {name: r.checked_at for name, r in checks.last_results(workspace).items()}
    # With the Resources table in focus, Ctrl+H checks the resource selected there, and only that one.
    window.tabs.setCurrentWidget(window.resources_pane)
    assert window.select_resource("cache")
    window.resources_view.setFocus()
    with qtbot.waitSignal(window.controller.health_checked, timeout=20000) as checked:
        qtbot.keyClick(window.resources_view, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    assert list(checked.args[0]) == ["cache"]
    after = checks.last_results(workspace)
    assert after["gone"].checked_at == before["gone"] and after["cache"].checked_at >= before["cache"]
    detail = window.resources_pane.health
    assert detail.isVisible() and detail.text().startswith("Last health check — cache: ok in ")
    settle(qtbot, window)


def test_the_timer_re_checks_attached_resources_in_the_background_and_skips_while_one_runs(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path, silent_port: int
) -> None:
    controller = window.controller
    assert controller.health_timer.isActive() and controller.health_timer.interval() == 5 * 60 * 1000
    _deploy(workspace, tmp_path, {"mute": f"redis://127.0.0.1:{silent_port}/0"})
    workspace.register_resource("spare", "redis://127.0.0.1:6379/3")  # not attached: not re-checked
    _show(qtbot, window)
    ticks: list[tuple[int, object]] = []  # (checks running when the timer ticked, the job it started)
    original = controller.check_in_background

    def tick() -> None:
        running = controller.checking
        ticks.append((running, original()))

    controller.health_timer.timeout.disconnect()
    controller.health_timer.timeout.connect(tick)
    controller.health_timer.setInterval(20)
    with qtbot.waitSignal(controller.health_checked, timeout=checks.TIMEOUT * 1000 + 15000) as checked:
        # The timer keeps ticking on the GUI thread while the check waits on the silent server.
        qtbot.waitUntil(lambda: len(ticks) >= 3, timeout=5000)
    controller.health_timer.stop()
    assert ticks[0][0] == 0 and ticks[0][1] is not None  # the first tick started a check
    assert all(running == 1 and job is None for running, job in ticks[1:3])  # the next ones were skipped
    assert list(checked.args[0]) == ["mute"]
    result = checked.args[0]["mute"]
    assert result.status.value == "failed" and "Timed out" in result.reason
    assert _health(window)["mute"][0].startswith("✘ failed ")
    assert window.statusBar().currentMessage() == ""  # the background says nothing in the status bar
    assert "spare" not in checks.last_results(workspace)
    settle(qtbot, window, timeout=20000)
