"""Sort arrows say how the rows are sorted: ▲ is A to Z (oldest first), ▼ is Z to A (newest first)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableView, QTreeView
from pytestqt.qtbot import QtBot

from changeover.core import demo as demo_module
from changeover.core.workspace import Workspace
from changeover.gui.main_window import MainWindow
from changeover.gui.models.base import SORT_ROLE

from ..helpers import settle


def arrow_points_up(header: QHeaderView, section: int) -> bool:
    """Whether the sort arrow drawn in ``section`` points up, read from the header's pixels."""
    image = header.grab().toImage()
    left = header.sectionViewportPosition(section)
    right = left + header.sectionSize(section) - 1
    background = QColor(image.pixel(right - 2, 2)).lightness()
    widths: list[int] = []
    for y in range(2, image.height() - 2):  # not the border lines above and below
        # the arrow is the rightmost mark of the section, short of its border line (text may come close)
        dark = {x for x in range(right - 14, right - 3) if abs(QColor(image.pixel(x, y)).lightness() - background) > 60}
        if dark:
            end = start = max(dark)
            while start - 1 in dark:
                start -= 1
            widths.append(end - start + 1)
    assert len(widths) >= 3, "no sort arrow drawn"
    assert widths[0] != widths[-1], widths
    return widths[0] < widths[-1]


def keys(view: QTableView | QTreeView, column: int) -> list[object]:
    model = view.model()
    return [
        model.index(row, column).data(SORT_ROLE) or model.index(row, column).data() for row in range(model.rowCount())
    ]


def header_of(view: QTableView | QTreeView) -> QHeaderView:
    return view.header() if isinstance(view, QTreeView) else view.horizontalHeader()


def agree(view: QTableView | QTreeView) -> None:
    header = header_of(view)
    column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
    shown = keys(view, column)
    texts = [str(k).casefold() if isinstance(k, str) else k for k in shown]
    ascending = order == Qt.SortOrder.AscendingOrder
    assert texts == sorted(texts, reverse=not ascending), (view.objectName(), order, shown)  # type: ignore[type-var]
    assert arrow_points_up(header, column) == ascending, (view.objectName(), order)


def test_sort_arrows_match_the_rows_before_and_after_a_click(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace
) -> None:
    demo_module.create_demo(workspace)
    workspace.attach(demo_module.CACHE, "demo-shop", env_var="A_CACHE_URL")  # an env var before DATABASE_URL
    window = make_window()
    settle(qtbot, window)
    views = [window.resources_view, window.attachments_view, window.config_view, window.events_view]
    qtbot.waitUntil(lambda: all(v.model().rowCount() > 1 for v in views), timeout=10000)
    for view in views:
        agree(view)
    assert header_of(window.events_view).sortIndicatorOrder() == Qt.SortOrder.DescendingOrder  # newest first, ▼
    for view in views:
        header = header_of(view)
        for _ in range(2):  # a click on the first column's header reverses the order, twice
            before = header.sortIndicatorOrder()
            x = header.sectionViewportPosition(0) + 10
            qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
            assert header.sortIndicatorOrder() != before
            agree(view)
