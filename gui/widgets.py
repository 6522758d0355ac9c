"""Small widgets and helpers every screen shares: named fields, the password field, record tables.

The formatters come from :mod:`changeover.core.formats`, so the window, the wizard and the CLI write sizes,
rates and durations the same way.
"""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProxyStyle,
    QStyle,
    QStyleOption,
    QStyleOptionHeader,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from changeover.core import handles
from changeover.core.formats import human_bytes, human_count, human_rate, human_seconds

from .models import PAYLOAD_ROLE

__all__ = [
    "ConfirmDialog",
    "UprightSortArrows",
    "dialog_buttons",
    "human_bytes",
    "human_count",
    "human_rate",
    "human_seconds",
    "named",
    "password_field",
    "record_table",
    "selected_record",
    "upright_sort_arrows",
    "with_password",
]

W = TypeVar("W", bound=QWidget)
R = TypeVar("R")


def named(widget: W, name: str, description: str = "") -> W:
    """``widget`` with an accessible name (and object name), its description also as the tooltip."""
    widget.setAccessibleName(name)
    widget.setObjectName(name.replace(" ", "_").lower())
    if description:
        widget.setAccessibleDescription(description)
        widget.setToolTip(description)
    return widget


def password_field(name: str = "Password") -> QLineEdit:
    """The one masked field a password or key is typed into."""
    field = named(QLineEdit(), name, "Kept in the OS keyring, never in the inventory")
    field.setEchoMode(QLineEdit.EchoMode.Password)
    return field


def with_password(handle_text: str, password: str) -> str:
    """``handle_text`` with the password typed into its own masked field folded in (the full handle)."""
    text = handle_text.strip()
    if not password:
        return text
    handle = handles.parse(text)
    full: str = handle.with_secrets({**handle.secrets, "password": password}).full()
    return full


def dialog_buttons(dialog: QDialog, ok_text: str) -> QDialogButtonBox:
    """OK (named ``ok_text``) and Cancel, wired to the dialog's accept and reject."""
    dialog.setMinimumWidth(520)
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    box.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


class UprightSortArrows(QProxyStyle):
    """Header sort arrows the way admins read them: ▲ is ascending (A to Z, oldest first), ▼ descending.

    QHeaderView hands an ascending column to the style as ``SortDown``, and Fusion (like most styles off macOS)
    draws that as ▼: the arrow read backwards next to rows sorted A to Z."""

    def drawPrimitive(  # noqa: N802
        self,
        element: QStyle.PrimitiveElement,
        option: QStyleOption,
        painter: QPainter,
        widget: QWidget | None = None,
    ) -> None:
        if element == QStyle.PrimitiveElement.PE_IndicatorHeaderArrow and isinstance(option, QStyleOptionHeader):
            flipped = QStyleOptionHeader(option)
            up, down = QStyleOptionHeader.SortIndicator.SortUp, QStyleOptionHeader.SortIndicator.SortDown
            if option.sortIndicator == up:
                flipped.sortIndicator = down
            elif option.sortIndicator == down:
                flipped.sortIndicator = up
            option = flipped
        super().drawPrimitive(element, option, painter, widget)


def upright_sort_arrows(header: QHeaderView) -> None:
    """Draw ``header``'s sort arrow as ▲ for ascending (see :class:`UprightSortArrows`)."""
    style = UprightSortArrows()  # over the application's style, whichever theme that is
    style.setParent(header)  # lives as long as the header
    header.setStyle(style)


def record_table(proxy: QAbstractItemModel, name: str, description: str) -> QTableView:
    """A sortable, single-row-selection table of records, its fifth column (the handle) stretched."""
    table = QTableView()
    table.setModel(proxy)
    table.setSortingEnabled(True)
    table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
    table.verticalHeader().hide()
    upright_sort_arrows(table.horizontalHeader())
    table.setTabKeyNavigation(False)  # Tab goes on to the next control; the arrows move between rows
    return named(table, name, description)


def selected_record(table: QTableView, kind: type[R]) -> R | None:
    """The record behind the selected row, if one is selected and is a ``kind``."""
    rows = table.selectionModel().selectedRows()
    value = rows[0].data(PAYLOAD_ROLE) if rows else None
    return value if isinstance(value, kind) else None


class ConfirmDialog(QDialog):
    """A yes/no question shown with ``open()``, never a nested event loop."""

    def __init__(self, title: str, text: str, ok_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(buttons)
