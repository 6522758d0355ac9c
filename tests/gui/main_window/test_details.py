"""The detail dock follows the selection: a resource's whole story (attachments, health, backups, upgrade
runs and their change record), a deploy's config store, hooks, maintenance state and history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from changeover.core import checks, demo
from changeover.core.history import resource_backups
from changeover.core.upgrade import procedure
from changeover.core.workspace import Workspace
from changeover.gui.main_window import MainWindow
from changeover.gui.screenshots import visible_texts

from ..helpers import settle


def _cells(view: object) -> list[list[str]]:
    model = view.model()  # type: ignore[attr-defined]
    return [[str(model.index(r, c).data()) for c in range(model.columnCount())] for r in range(model.rowCount())]


def _upgraded_demo(workspace: Workspace, tmp_path: Path) -> demo.Demo:
    made = demo.create_demo(workspace)
    plan = procedure.plan_upgrade(workspace, demo.DATABASE, to_handle=f"sqlite:///{tmp_path / 'new-shop.db'}")
    run = procedure.start_upgrade(workspace, plan)
    procedure.execute(workspace, run.id)
    assert procedure.show_run(workspace, run.id).state == "done"
    return made


def test_resource_detail_shows_backups_runs_health_and_attachments(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace, tmp_path: Path
) -> None:
    made = _upgraded_demo(workspace, tmp_path)
    checks.check_resources(workspace, [demo.DATABASE])
    [backup] = resource_backups(demo.DATABASE)
    window = make_window()
    dock = window.detail_dock
    view = dock.resource_view
    window.resources_pane.state_filter.setCurrentIndex(window.resources_pane.state_filter.findData("all"))
    with qtbot.waitSignal(view.shown, timeout=10000) as blocker:
        window.resources_pane.select(demo.DATABASE)
    assert blocker.args == [demo.DATABASE]
    assert dock.showing() == "resource"
    info = workspace.show_resource(demo.DATABASE)
    assert view.header.name.text() == demo.DATABASE and view.header.badge.text() == info.state
    assert view.handle.text() == info.handle
    # It was attached to the demo shop, then the upgrade moved the deploy to the new database.
    assert [row[:2] for row in _cells(view.attachments_view)] == [["demo-shop", "DATABASE_URL"]]
    health = _cells(view.health_view)
    assert len(health) == 1 and health[0][1] == "✔ ok" and health[0][0].count(":") == 2  # seconds shown
    # The upgrade's backup, with its size, time and checksum; the upgrade's verified load proved it (when, where).
    [row] = _cells(view.backups_view)
    assert row[0] and row[1].endswith(("B", "kB", "MB")) and row[4] == "✔ proven by restore"
    assert row[5].startswith("20") and row[6] == backup.proven_where and row[6]
    assert view.backups_model.record(0).sha256 == backup.sha256 and row[7] == backup.sha256[:16] + "…"
    assert view.tabs.tabText(2) == "Backups (1)" and "1 backup," in view.backups_note.text()
    assert view.selected_backup() is None
    view.backups_view.selectRow(0)
    assert view.selected_backup() == backup  # what the backup actions (view.backup_actions) work on
    # The run and its change record: every step of the procedure, in order, done.
    [run] = _cells(view.runs_view)
    assert run[2] == "done" and "→" in run[3]
    steps = _cells(view.steps_view)
    assert [s[0] for s in steps] == [procedure.show_run(workspace, 1).steps[i].title for i in range(len(steps))]
    assert len(steps) == len(procedure.STEPS) and {s[1] for s in steps} <= {"done", "skipped"}
    # Masked everywhere: no secret of the demo in the dock.
    texts = "\n".join(visible_texts(dock))
    assert not any(secret in texts for secret in made.secrets)


def test_deploy_detail_and_following_the_selection(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace
) -> None:
    demo.create_demo(workspace)
    workspace.set_maintenance(demo.DEPLOY, True)
    window = make_window()
    dock = window.detail_dock
    view = dock.deploy_view
    qtbot.waitUntil(lambda: dock.showing() == "deploy", timeout=10000)  # the selected deploy at start
    assert view.header.name.text() == demo.DEPLOY
    assert view.store.text().startswith("envfile: ") and view.store.text().endswith("shop.env")
    assert view.restart.text() == "true"
    assert view.maintenance.text().startswith("ON since ") and "flag MAINTENANCE_MODE" in view.maintenance.text()
    assert sorted(r[0] for r in _cells(view.attachments_view)) == ["DATABASE_URL", "REDIS_URL"]
    actions = [r[1] for r in _cells(view.events_view)]
    assert "maintenance on" in actions and "add deploy" in actions
    # Selecting a resource switches the dock to it; an answer for an older choice is dropped.
    with qtbot.waitSignal(dock.resource_view.shown, timeout=10000):
        window.resources_pane.select(demo.CACHE)
    assert dock.showing() == "resource" and dock.resource_view.header.name.text() == demo.CACHE
    assert dock.resource_view.backups_note.text() == "No backups yet."
    # A refresh keeps the dock on its subject.
    with qtbot.waitSignal(dock.resource_view.shown, timeout=10000):
        window.controller.refresh()
    assert dock.resource_view.header.name.text() == demo.CACHE
    settle(qtbot, window)
    with qtbot.waitSignal(window.detail_dock.deploy_view.shown, timeout=10000):
        window.controller.set_maintenance(demo.DEPLOY, False)
        window.follow("deploy", demo.DEPLOY)
    qtbot.waitUntil(lambda: view.maintenance.text().startswith("off since"), timeout=10000)
    settle(qtbot, window)


def test_the_dock_toggles_and_keeps_its_place(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace
) -> None:
    window = make_window()
    toggle = window.detail_dock.toggleViewAction()
    assert window.detail_dock.isVisible() and toggle.isChecked()
    toggle.trigger()
    assert not window.detail_dock.isVisible()
    window.close()
    again = make_window()
    assert not again.detail_dock.isVisible()  # the window's state is kept in its settings


def test_columns_share_the_width_and_long_names_are_elided(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace, tmp_path: Path
) -> None:
    from PySide6.QtCore import Qt

    from changeover.gui.main_window.tables import MAX_COLUMN_WIDTH

    deep = tmp_path / ("very-long-folder-name-" * 8)
    deep.mkdir()
    workspace.register_resource("a" + "-long-name" * 9, f"sqlite:///{deep / 'x.db'}")
    window = make_window()
    window.resize(1600, 1000)
    view = window.resources_view
    header = view.horizontalHeader()
    widths = [header.sectionSize(c) for c in range(header.count() - 1)]
    assert max(widths) <= MAX_COLUMN_WIDTH  # no column takes the whole table
    assert view.textElideMode() == Qt.TextElideMode.ElideMiddle
    assert window.minimumWidth() == 800


def test_real_screenshots_usage() -> None:
    from changeover.gui import real_screenshots

    assert real_screenshots.main([]) == 2
    assert real_screenshots.main(["--child", "sepia", "out"]) == 2  # no such theme
    assert set(real_screenshots.THEMES) == {"light", "dark"}
