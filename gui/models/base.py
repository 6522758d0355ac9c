"""Table models' common ground: records in, sorted display texts out, roles for sort and payload.

Every table of the window is a :class:`RecordTableModel` over a list of core records behind a
:class:`RecordProxy` (filtering); :func:`when` and :func:`day` write timestamps for a cell.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

logger = logging.getLogger(__name__)


SORT_ROLE = Qt.ItemDataRole.UserRole + 1


PAYLOAD_ROLE = Qt.ItemDataRole.UserRole + 2


R = TypeVar("R")


Index = QModelIndex | QPersistentModelIndex


def when(value: datetime | None) -> str:
    """A timestamp for a table cell, in local time, minutes precision."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else ""


def day(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d") if value else ""


@dataclass(frozen=True)
class Column(Generic[R]):
    header: str
    text: Callable[[R], str]
    sort: Callable[[R], Any] | None = None
    tooltip: Callable[[R], str] | None = None


class RecordTableModel(QAbstractTableModel, Generic[R]):
    """A read-only table over a list of records; ``set_records`` replaces them all at once.

    Display texts are computed once per record (``render``, which a worker thread may call for a large
    list) and sorting is done here, on the Python list, so that neither a sort nor a filter calls back
    into Python once per cell: 10,000 rows sort and filter in milliseconds.
    """

    columns: Sequence[Column[R]] = ()
    #: False when a column's text depends on state that changes without set_records (e.g. health)
    cache_texts = True
    #: identity of a record across reads (e.g. its name): when every row keeps its identity and place,
    #: set_records updates the rows that changed instead of resetting the whole table
    key: Callable[[Any], Any] | None = None

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._records: list[R] = []
        self._texts: list[tuple[str, ...]] | None = None
        self._haystack: list[str] | None = None
        self._keys: list[Any] | None = None  # each row's key (type(self).key), in row order
        self._sort: tuple[int, Qt.SortOrder] = (-1, Qt.SortOrder.AscendingOrder)

    @classmethod
    def render(cls, records: Sequence[R]) -> list[tuple[str, ...]]:
        """The display texts of ``records`` (pure Python: safe on a worker thread)."""
        return [tuple(column.text(record) for column in cls.columns) for record in records]

    @classmethod
    def prepare(
        cls, records: Sequence[R], sort: tuple[int, Qt.SortOrder]
    ) -> tuple[list[R], list[tuple[str, ...]], list[Any] | None]:
        """``records`` rendered and put in the order ``sort`` (column, order) gives, with their keys: the work
        :meth:`set_records` would do, done by a worker thread (pure Python) for a large list.

        Hand the three to ``set_records(records, texts, presorted=sort, keys=keys)``."""
        rows = list(records)
        texts = cls.render(rows)
        order = cls._ordering(cls.columns, rows, texts, sort)
        rows, texts = [rows[i] for i in order], [texts[i] for i in order]
        return rows, texts, (list(map(cls.key, rows)) if cls.key is not None else None)

    def set_records(
        self,
        records: Sequence[R],
        texts: list[tuple[str, ...]] | None = None,
        *,
        presorted: tuple[int, Qt.SortOrder] | None = None,
        keys: list[Any] | None = None,
    ) -> None:
        """Show ``records`` (with their display ``texts`` if rendered already). ``presorted``: they are in the
        order that sort gives (ignored unless it is this model's sort now); ``keys``: their keys, in order."""
        rows = list(records)
        if self.cache_texts:
            texts = texts if texts is not None and len(texts) == len(rows) else self.render_rows(rows)
        else:
            texts = None
        if presorted is not None and presorted == self._sort:
            records_now, texts_now = rows, texts
        else:
            order = self._order(rows, texts)
            records_now = [rows[i] for i in order]
            texts_now = [texts[i] for i in order] if texts is not None else None
            keys = None
        key = type(self).key
        keys_now: list[Any] | None = None
        if key is not None:
            keys_now = keys if keys is not None and len(keys) == len(rows) else list(map(key, records_now))
        if keys_now is not None and self._keys is not None and self._records and keys_now == self._keys:
            # The same rows in the same places: only those whose cells read differently are repainted (the
            # cached texts compare at C speed; nothing at all when every row reads the same).
            if texts_now is not None and self._texts is not None:
                changed = [] if texts_now == self._texts else self._changed_rows(texts_now, self._texts)
            else:
                changed = self._changed_rows(records_now, self._records)
            self._records, self._texts, self._haystack = records_now, texts_now, None
            last = len(self.columns) - 1
            for row in changed:
                self.dataChanged.emit(self.index(row, 0), self.index(row, last))
            return
        self.beginResetModel()
        self._records, self._texts, self._haystack, self._keys = records_now, texts_now, None, keys_now
        self.endResetModel()

    @staticmethod
    def _changed_rows(new: Sequence[Any], old: Sequence[Any]) -> list[int]:
        return [i for i, (a, b) in enumerate(zip(new, old, strict=True)) if a != b]

    def sort_state(self) -> tuple[int, Qt.SortOrder]:
        """The column and order the rows are sorted by (column -1: as they came)."""
        return self._sort

    def render_rows(self, records: Sequence[R]) -> list[tuple[str, ...]]:
        return [tuple(column.text(record) for column in self.columns) for record in records]

    def records(self) -> list[R]:
        return list(self._records)

    def record(self, row: int) -> R:
        return self._records[row]

    def row_of(self, key: Any) -> int | None:
        """The row of the record whose ``key`` is ``key`` (None when absent or the model has no key)."""
        get = type(self).key
        if get is None:
            return None
        if self._keys is not None:
            try:
                return self._keys.index(key)
            except ValueError:
                return None
        return next((row for row, record in enumerate(self._records) if get(record) == key), None)

    def text(self, row: int, column: int) -> str:
        if self._texts is not None:
            return self._texts[row][column]
        return self.columns[column].text(self._records[row])

    def haystack(self, row: int) -> str:
        """Every text of a row, case-folded, for the filter box."""
        if self._haystack is None:
            if self._texts is not None:
                self._haystack = ["\t".join(texts).casefold() for texts in self._texts]
            else:
                self._haystack = ["\t".join(c.text(r) for c in self.columns).casefold() for r in self._records]
        return self._haystack[row]

    def _order(self, records: list[R], texts: list[tuple[str, ...]] | None) -> list[int]:
        return self._ordering(self.columns, records, texts, self._sort)

    @staticmethod
    def _ordering(
        columns: Sequence[Column[Any]],
        records: Sequence[Any],
        texts: Sequence[tuple[str, ...]] | None,
        sort: tuple[int, Qt.SortOrder],
    ) -> list[int]:
        """The row order (indexes into ``records``) that ``sort`` gives."""
        column, order = sort
        if not (0 <= column < len(columns)):
            return list(range(len(records)))
        spec = columns[column]
        if spec.sort is not None:
            keys: list[Any] = [spec.sort(record) for record in records]
        elif texts is not None:
            keys = [row[column].casefold() for row in texts]
        else:
            keys = [spec.text(record).casefold() for record in records]
        return sorted(range(len(records)), key=keys.__getitem__, reverse=order == Qt.SortOrder.DescendingOrder)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort = (column, order)
        if not self._records:
            return
        self.layoutAboutToBeChanged.emit()
        order_now = self._order(self._records, self._texts)
        position = [0] * len(order_now)
        for new, old in enumerate(order_now):
            position[old] = new
        self._records = [self._records[i] for i in order_now]
        if self._keys is not None:
            self._keys = [self._keys[i] for i in order_now]
        if self._texts is not None:
            self._texts = [self._texts[i] for i in order_now]
        self._haystack = None
        old_indexes = self.persistentIndexList()
        new_indexes = [self.index(position[i.row()], i.column()) for i in old_indexes]
        self.changePersistentIndexList(old_indexes, new_indexes)
        self.layoutChanged.emit()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        horizontal = orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
        if horizontal and 0 <= section < len(self.columns):
            return self.columns[section].header
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._records)):
            return None
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, col)
        record = self._records[row]
        column = self.columns[col]
        if role == SORT_ROLE:
            return column.sort(record) if column.sort else self.text(row, col)
        if role == PAYLOAD_ROLE:
            return record
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip:
            return column.tooltip(record)
        return self.extra_data(record, col, role)

    def extra_data(self, record: R, column: int, role: int) -> Any:
        return None


class RecordProxy(QSortFilterProxyModel):
    """Filters a RecordTableModel by text (one Python call per row) and hands sorting to the model."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.needle = ""

    def source(self) -> RecordTableModel[Any]:
        model = self.sourceModel()
        assert isinstance(model, RecordTableModel)
        return model

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        # The model sorts its own list; this proxy keeps the model's order (its sort column stays -1).
        self.source().sort(column, order)

    def set_text(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "needle", text.strip().casefold()))

    def _refilter(self, change: Callable[[], None]) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9
            self.beginFilterChange()
            change()
            self.endFilterChange()
        else:  # pragma: no cover - older Qt
            change()
            self.invalidateFilter()

    def accepts(self, record: Any) -> bool:
        return True

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        source = self.source()
        if self.needle and self.needle not in source.haystack(source_row):
            return False
        return self.accepts(source.record(source_row))


def sort_time(value: datetime | None) -> float:
    return value.timestamp() if value else 0.0


def record_proxy(model: RecordTableModel[Any], parent: Any = None) -> RecordProxy:
    proxy = RecordProxy(parent)
    proxy.setSourceModel(model)
    return proxy


def tree_proxy(model: Any, parent: Any = None) -> QSortFilterProxyModel:
    """Sort the deploy tree (a C++ item model: Qt's own proxy sorts it without calling Python)."""
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    return proxy
