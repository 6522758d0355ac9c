"""Small widgets and helpers every screen shares: named fields, the password field, record tables.

The formatters come from :mod:`changeover.core.formats`, so the window, the wizard and the CLI write sizes,
rates and durations the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from PySide6.QtCore import QAbstractItemModel, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProxyStyle,
    QStyle,
    QStyleOption,
    QStyleOptionHeader,
    QTableView,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from changeover.core import handles
from changeover.core.formats import human_bytes, human_count, human_rate, human_seconds

from .models import PAYLOAD_ROLE

__all__ = [
    "ConfirmDialog",
    "GrowToFit",
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


def mark_destructive(button: QAbstractButton) -> None:
    """Make a button that removes or drops something look it: the warning red (readable on the palette), bold,
    the warning icon, and the ``destructive`` property a style sheet or a test can read."""
    from .icons import get_colored_icon, warning_color

    button.setProperty("destructive", True)
    button.setIcon(get_colored_icon("warning"))
    button.setStyleSheet(f"QPushButton:enabled {{ color: {warning_color().name()}; font-weight: bold; }}")


def dialog_buttons(dialog: QDialog, ok_text: str, *, destructive: bool = False) -> QDialogButtonBox:
    """OK (named ``ok_text``, red when ``destructive``) and Cancel, wired to the dialog's accept and reject."""
    dialog.setMinimumWidth(520)
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    box.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    if destructive:
        mark_destructive(box.button(QDialogButtonBox.StandardButton.Ok))
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


def manager_layout(dialog: QDialog, widgets: Sequence[QWidget], buttons: Sequence[QWidget]) -> QVBoxLayout:
    """A manager dialog's layout: its table and notes, then a row of its actions, a stretch and Close."""
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    row.addStretch(1)
    close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    close.rejected.connect(dialog.reject)
    row.addWidget(close)
    layout = QVBoxLayout(dialog)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addLayout(row)
    return layout


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


class _OneEntryPerEvent:
    """For item views and headers: each event of their viewport enters Python once, paints included.

    A view paints by asking its model (Python) about every visible cell: hundreds of calls. The event loop
    delivers a paint without the GIL, so each of those calls takes the GIL on its own, and while a job's
    thread is busy in Python each one waits for it, up to the switch interval: a table's repaint took 260 ms
    instead of 4 (the window's longest stall while a job ran). With ``viewportEvent`` overridden here the
    delivery itself is a Python call: the GIL is taken once and the model's calls run inside it (20-40 ms
    with a busy job; benchmarks/gui_bench.py).
    """

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802
        return bool(super().viewportEvent(event))  # type: ignore[misc]


class HeaderView(_OneEntryPerEvent, QHeaderView):
    """A QHeaderView whose paints enter Python once (:class:`_OneEntryPerEvent`)."""

    @classmethod
    def replacing(cls, original: QHeaderView, view: QAbstractItemView) -> HeaderView:
        """A header for ``view`` set up as its own ``original`` one is (which Qt's views set up differently)."""
        header = cls(original.orientation(), view)
        header.setSectionsClickable(original.sectionsClickable())
        header.setHighlightSections(original.highlightSections())
        header.setSectionsMovable(original.sectionsMovable())
        header.setStretchLastSection(original.stretchLastSection())
        header.setDefaultAlignment(original.defaultAlignment())
        return header


class TableView(_OneEntryPerEvent, QTableView):
    """A QTableView whose paints and viewport events enter Python once (:class:`_OneEntryPerEvent`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHorizontalHeader(HeaderView.replacing(self.horizontalHeader(), self))


class TreeView(_OneEntryPerEvent, QTreeView):
    """A QTreeView whose paints and viewport events enter Python once (:class:`_OneEntryPerEvent`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeader(HeaderView.replacing(self.header(), self))


def upright_sort_arrows(header: QHeaderView) -> None:
    """Draw ``header``'s sort arrow as ▲ for ascending (see :class:`UprightSortArrows`)."""
    style = UprightSortArrows()  # over the application's style, whichever theme that is
    style.setParent(header)  # lives as long as the header
    header.setStyle(style)


class GrowToFit(QObject):
    """Grows a dialog (never shrinks it) when its wrapped texts need more lines than it has room for.

    A wrapped QLabel whose text gets longer after the dialog is shown asks its layout for more height, but the
    window keeps its size and the text is cut off; this answers the layout's request by growing the window, up to
    the screen's height."""

    def __init__(self, dialog: QWidget) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self._pending = False
        dialog.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        # While the dialog is being destroyed, Qt may still filter its events after this object's Python side
        # is gone (seen in CI as a missing attribute): such an event needs no fitting.
        dialog = getattr(self, "dialog", None)
        if dialog is None:
            return False
        if watched is dialog and event.type() == QEvent.Type.LayoutRequest and not getattr(self, "_pending", True):
            self._pending = True
            QTimer.singleShot(0, self.fit)  # once the layout has taken the new texts in
        return False

    def fit(self) -> None:
        self._pending = False
        layout = self.dialog.layout()
        if layout is None or not self.dialog.isVisible():
            return
        layout.activate()
        width = self.dialog.width()
        need = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else layout.totalSizeHint().height()
        screen = self.dialog.screen()
        if screen is not None:
            need = min(need, screen.availableGeometry().height())
        if need > self.dialog.height():
            self.dialog.resize(width, need)


def record_table(proxy: QAbstractItemModel, name: str, description: str) -> QTableView:
    """A sortable, single-row-selection table of records, its fifth column (the handle) stretched."""
    table = TableView()
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

    def __init__(
        self, title: str, text: str, ok_text: str, parent: QWidget | None = None, *, destructive: bool = False
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
        if destructive:
            mark_destructive(buttons.button(QDialogButtonBox.StandardButton.Ok))
        self.buttons = buttons
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(buttons)


#: the MIME type password managers set so clipboard managers (Klipper, GPaste, CopyQ...) keep no history of it
PASSWORD_HINT = "x-kde-passwordManagerHint"


def copy_secret(text: str) -> None:
    """Put a secret on the clipboard marked as one (``x-kde-passwordManagerHint: secret``, as KeePassXC does)."""
    from PySide6.QtCore import QMimeData
    from PySide6.QtGui import QGuiApplication

    data = QMimeData()
    data.setText(text)
    data.setData(PASSWORD_HINT, b"secret")
    QGuiApplication.clipboard().setMimeData(data)
