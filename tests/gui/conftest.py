"""GUI fixtures: a main window over the temp inventory, settings in a temp file, jobs drained at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from changeover.core.workspace import Workspace
from changeover.gui.controller import MainController
from changeover.gui.main_window import MainWindow
from tests.conftest import server_unavailable

from .helpers import MACHINE_REDIS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The offscreen platform plugin warns that it cannot propagate size hints or raise a window: harmless
    # (RECIPES.md); a real display does both.
    for item in items:
        if "tests/gui/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)"))


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "changeover-settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot: QtBot, workspace: Workspace, settings: QSettings) -> Iterator[Callable[[], MainWindow]]:
    made: list[MainWindow] = []

    def settle(window: MainWindow) -> None:
        qtbot.waitUntil(lambda: window.controller.runner.running == 0, timeout=20000)

    def make() -> MainWindow:
        controller = MainController(workspace)
        window = MainWindow(controller, settings)
        controller.setParent(window)
        # pytest-qt closes and deletes the window before this fixture's teardown: let its jobs end first, or they
        # report to deleted widgets (a teardown error under load).
        qtbot.addWidget(window, before_close_func=settle)
        window.show()
        with qtbot.waitSignal(window.refreshed, timeout=10000):
            controller.refresh()
        made.append(window)
        return window

    yield make
    for window in made:
        # Let every job end before the workspace fixture closes the inventory under it.
        qtbot.waitUntil(lambda w=window: w.controller.runner.running == 0, timeout=20000)  # type: ignore[misc]


@pytest.fixture
def window(make_window: Callable[[], MainWindow]) -> MainWindow:
    return make_window()


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / "app" / ".env"
    path.parent.mkdir()
    path.write_text("APP_NAME=shop\nDEBUG=false\nSECRET_KEY=s3cr3t-value-123\n", encoding="utf-8")
    return path


@pytest.fixture
def machine_redis() -> str:
    """This machine's Redis, answering PING (skipped through server_unavailable when it is down)."""
    import redis

    try:
        redis.Redis.from_url(MACHINE_REDIS, socket_timeout=3).ping()
    except redis.RedisError as exc:
        server_unavailable("Redis on 127.0.0.1:6379", exc)
    return MACHINE_REDIS
