"""The look every table of the main window shares, and fitting its columns to the rows that arrived."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from ..widgets import TableView, upright_sort_arrows


def data_table(
    name: str,
    description: str,
    model: QAbstractItemModel,
    order: Qt.SortOrder = Qt.SortOrder.AscendingOrder,
) -> QTableView:
    """A sortable, single-row-selection table of ``model``, compact rows, its last column stretched, sorted on
    its first column in ``order`` (so the arrow the header shows is the order the rows are in)."""
    view = TableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setSortingEnabled(True)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a long name or path keeps both its ends
    view.setTabKeyNavigation(False)  # Tab goes on to the next control; the arrows move between rows
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    view.horizontalHeader().setResizeContentsPrecision(100)  # size columns from 100 rows, not 10,000
    view.setAccessibleName(name)
    view.setAccessibleDescription(description)
    view.setObjectName(name.replace(" ", "_").lower())
    view.sortByColumn(0, order)
    upright_sort_arrows(view.horizontalHeader())
    return view


#: the widest a fitted column gets: a long handle, path or reason is elided (the tooltip or detail has it all)
MAX_COLUMN_WIDTH = 280


def size_columns(view: QTableView, *, again: bool = False) -> None:
    """Fit the columns to their contents the first time rows arrive (or every time for small tables), none
    wider than MAX_COLUMN_WIDTH, so the columns share the width instead of one taking it all."""
    model = view.model()
    if model is None or model.rowCount() == 0 or (view.property("sized") and not again):
        return
    view.setProperty("sized", True)
    header = view.horizontalHeader()
    for column in range(model.columnCount() - 1):  # the last one stretches
        view.resizeColumnToContents(column)
        if header.sectionSize(column) > MAX_COLUMN_WIDTH:
            header.resizeSection(column, MAX_COLUMN_WIDTH)
