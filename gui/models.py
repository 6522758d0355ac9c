"""Table models: one row per core result (frozen dataclasses), sort and payload roles, no I/O.

Every table is a :class:`RecordTableModel` behind a :class:`~PySide6.QtCore.QSortFilterProxyModel`:
``SORT_ROLE`` gives a sortable value (datetimes, sizes as numbers), ``PAYLOAD_ROLE`` the row's record.
Deploys are grouped by app and environment in :class:`DeployTreeModel`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel

from changeover.core.handles import MASK
from changeover.core.provisioning import ServerInfo
from changeover.core.workspace import AttachmentInfo, ConfigVar, DeployInfo, EventInfo, ResourceInfo

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
PAYLOAD_ROLE = Qt.ItemDataRole.UserRole + 2

R = TypeVar("R")
Index = QModelIndex | QPersistentModelIndex


def when(value: datetime | None) -> str:
    """A timestamp for a table cell, in local time, minutes precision."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else ""


def day(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d") if value else ""


def size(value: int | None) -> str:
    if value is None:
        return ""
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return ""  # pragma: no cover


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
        self._sort: tuple[int, Qt.SortOrder] = (-1, Qt.SortOrder.AscendingOrder)

    @classmethod
    def render(cls, records: Sequence[R]) -> list[tuple[str, ...]]:
        """The display texts of ``records`` (pure Python: safe on a worker thread)."""
        return [tuple(column.text(record) for column in cls.columns) for record in records]

    def set_records(self, records: Sequence[R], texts: list[tuple[str, ...]] | None = None) -> None:
        rows = list(records)
        if self.cache_texts:
            texts = texts if texts is not None and len(texts) == len(rows) else self.render_rows(rows)
        else:
            texts = None
        order = self._order(rows, texts)
        records_now = [rows[i] for i in order]
        texts_now = [texts[i] for i in order] if texts is not None else None
        if self._same_rows(records_now):
            # Rows whose cells read the same need no repaint (cached texts compare at C speed).
            if texts_now is not None and self._texts is not None:
                pairs: Any = zip(texts_now, self._texts, strict=True)
            else:
                pairs = zip(records_now, self._records, strict=True)
            changed = [i for i, (new, old) in enumerate(pairs) if new != old]
            self._records, self._texts, self._haystack = records_now, texts_now, None
            last = len(self.columns) - 1
            for row in changed:
                self.dataChanged.emit(self.index(row, 0), self.index(row, last))
            return
        self.beginResetModel()
        self._records, self._texts, self._haystack = records_now, texts_now, None
        self.endResetModel()

    def _same_rows(self, records: list[R]) -> bool:
        key = type(self).key
        if key is None or not self._records or len(records) != len(self._records):
            return False
        return list(map(key, records)) == list(map(key, self._records))

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
        column, order = self._sort
        if not (0 <= column < len(self.columns)):
            return list(range(len(records)))
        spec = self.columns[column]

        def key(i: int) -> Any:
            if spec.sort is not None:
                return spec.sort(records[i])
            text = texts[i][column] if texts is not None else spec.text(records[i])
            return text.casefold()

        return sorted(range(len(records)), key=key, reverse=order == Qt.SortOrder.DescendingOrder)

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


class AttachmentsModel(RecordTableModel[AttachmentInfo]):
    """The selected deploy's attached resources, with provider and health looked up by resource name."""

    cache_texts = False

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.resources: dict[str, ResourceInfo] = {}
        self.health: dict[str, str] = {}
        self.columns = (
            Column[AttachmentInfo]("Env var", lambda a: a.env_var),
            Column[AttachmentInfo]("Resource", lambda a: a.resource),
            Column[AttachmentInfo]("Kind", lambda a: a.kind),
            Column[AttachmentInfo]("Provider", self._provider),
            Column[AttachmentInfo](
                "Health", lambda a: self.health.get(a.resource, "not checked"), tooltip=self._health_tip
            ),
            Column[AttachmentInfo]("Attached since", lambda a: when(a.attached_at), lambda a: sort_time(a.attached_at)),
            Column[AttachmentInfo]("Handle", lambda a: a.handle),
        )

    def _provider(self, a: AttachmentInfo) -> str:
        info = self.resources.get(a.resource)
        if info is None:
            return ""
        return provider_text(info)

    def set_context(self, resources: dict[str, ResourceInfo]) -> None:
        self.beginResetModel()
        self.resources = dict(resources)
        self.endResetModel()

    def _health_tip(self, a: AttachmentInfo) -> str:
        return self.health.get(a.resource, "Resource ▸ Check health (Ctrl+H) tests each connection")

    def set_health(self, health: dict[str, str]) -> None:
        self.health.update(health)
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 4), self.index(self.rowCount() - 1, 4))


def provider_text(info: ResourceInfo) -> str:
    if info.origin == "provisioned":
        return f"server {info.server}" if info.server else "provisioned"
    return "registered by hand"


class ConfigModel(RecordTableModel[ConfigVar]):
    columns = (
        Column[ConfigVar]("Variable", lambda v: v.name),
        Column[ConfigVar]("Value", lambda v: v.value),
    )


def kept_text(info: ResourceInfo) -> str:
    if info.state == "deprovisioned":
        return f"deprovisioned {day(info.deprovisioned_at)}"
    if info.state != "detached":
        return ""
    if info.keep_until is None:
        return "detached"
    text = f"kept until {day(info.keep_until)}"
    if info.overdue:
        text += " — overdue: deprovision it or keep it longer"
    return text


class ResourcesModel(RecordTableModel[ResourceInfo]):
    key = staticmethod(lambda r: r.name)
    columns = (
        Column[ResourceInfo]("Name", lambda r: r.name),
        Column[ResourceInfo]("Kind", lambda r: r.kind),
        Column[ResourceInfo]("State", lambda r: r.state),
        Column[ResourceInfo]("Kept", kept_text, lambda r: sort_time(r.keep_until)),
        Column[ResourceInfo]("Attached to", lambda r: ", ".join(f"{a.deploy} ({a.env_var})" for a in r.attachments)),
        Column[ResourceInfo]("Handle", lambda r: r.handle),
        Column[ResourceInfo]("Provider", provider_text),
        Column[ResourceInfo]("Server", lambda r: r.server or ""),
        Column[ResourceInfo]("Size", lambda r: size(r.size_bytes), lambda r: r.size_bytes or 0),
        Column[ResourceInfo]("Registered", lambda r: when(r.created_at), lambda r: sort_time(r.created_at)),
    )

    def extra_data(self, record: ResourceInfo, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and record.overdue:
            return QBrush(QColor("#c62828"))
        return None


class EventsModel(RecordTableModel[EventInfo]):
    key = staticmethod(lambda e: (e.at, e.action, e.object_type, e.object_name))

    columns = (
        Column[EventInfo]("When", lambda e: when(e.at), lambda e: sort_time(e.at)),
        Column[EventInfo]("Action", lambda e: e.action),
        Column[EventInfo]("Object", lambda e: f"{e.object_type} {e.object_name}"),
        Column[EventInfo]("Result", lambda e: e.result),
        Column[EventInfo]("Actor", lambda e: e.actor),
        Column[EventInfo]("Detail", lambda e: e.detail, tooltip=lambda e: e.detail),
    )

    def extra_data(self, record: EventInfo, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and record.result != "ok":
            return QBrush(QColor("#c62828"))
        return None


@dataclass(frozen=True)
class Credential:
    """One secret Changeover keeps in the keyring: whose it is and how to show it (masked)."""

    owner_type: str  # "resource" or "server"
    owner: str
    kind: str
    handle: str  # masked
    server: str | None
    origin: str = "registered"  # registered | provisioned | server


class CredentialsModel(RecordTableModel[Credential]):
    """Secrets by owner; a revealed value is shown only while it is in ``revealed``."""

    cache_texts = False

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.revealed: dict[str, str] = {}
        self.columns = (
            Column[Credential]("Owner", lambda c: c.owner),
            Column[Credential]("Type", lambda c: c.owner_type if c.owner_type == "server" else c.origin),
            Column[Credential]("Kind", lambda c: c.kind),
            Column[Credential]("Server", lambda c: c.server or ""),
            Column[Credential]("Handle", lambda c: self.revealed.get(c.owner, c.handle)),
            Column[Credential]("Secret", lambda c: "revealed" if c.owner in self.revealed else MASK),
        )

    def reveal(self, owner: str, full_handle: str) -> None:
        self.revealed[owner] = full_handle
        self._changed(owner)

    def hide(self, owner: str | None = None) -> None:
        owners = [owner] if owner else list(self.revealed)
        for name in owners:
            self.revealed.pop(name, None)
            self._changed(name)

    def _changed(self, owner: str) -> None:
        for row, record in enumerate(self._records):
            if record.owner == owner:
                self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))


def credentials_from(resources: Sequence[ResourceInfo], servers: Sequence[Any] = ()) -> list[Credential]:
    """Every secret in the keyring: each live resource's, then each server's admin secret."""
    found = [
        Credential("resource", r.name, r.kind, r.handle, r.server, r.origin)
        for r in resources
        if r.has_secret and r.state != "deprovisioned"
    ]
    found += [Credential("server", s.name, s.kind, s.handle, None, "server") for s in servers if s.has_secret]
    return found


#: how a server's kind reads in the window (the CLI's words: postgresql, mysql, sqlite)
SERVER_KIND_TEXT = {"postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL", "sqlite": "SQLite folder"}


class ServersModel(RecordTableModel[ServerInfo]):
    """The registered database servers Changeover provisions on, with the databases each carries."""

    key = staticmethod(lambda s: s.name)
    columns = (
        Column[ServerInfo]("Name", lambda s: s.name),
        Column[ServerInfo]("Kind", lambda s: SERVER_KIND_TEXT.get(s.kind, s.kind)),
        Column[ServerInfo]("Version", lambda s: s.version),
        Column[ServerInfo](
            "Databases",
            lambda s: str(len(s.resources)),
            lambda s: len(s.resources),
            tooltip=lambda s: ", ".join(s.resources) or "No live database provisioned here",
        ),
        Column[ServerInfo]("Handle", lambda s: s.handle),
    )


class DeployTreeModel(QStandardItemModel):
    """Deploys grouped by app, then environment: group rows carry no payload, deploy rows do.

    The filter box is applied here, by rebuilding the tree with the deploys that match: one model reset
    is far cheaper for a view than thousands of row removals from a filtering proxy.
    """

    HEADERS = ("Deploy", "Attached")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setHorizontalHeaderLabels(list(self.HEADERS))
        self._deploys: list[DeployInfo] = []
        self._needle = ""
        self._items: dict[str, tuple[QStandardItem, QStandardItem]] = {}

    def set_deploys(self, deploys: Sequence[DeployInfo]) -> bool:
        """Show ``deploys``; True when the tree was rebuilt (rather than updated in place)."""
        ordered = sorted(deploys, key=lambda d: (d.app.casefold(), d.environment.casefold(), d.name.casefold()))
        same = [(d.name, d.app, d.environment) for d in ordered] == [
            (d.name, d.app, d.environment) for d in self._deploys
        ]
        changed = [d for d, old in zip(ordered, self._deploys, strict=False) if d != old] if same else []
        self._deploys = ordered
        if not same:
            self._rebuild()
            return True
        for deploy in changed:  # the same tree: update the rows that changed in place
            items = self._items.get(deploy.name)
            if items is not None:
                items[0].setData(deploy, PAYLOAD_ROLE)
                items[0].setToolTip(deploy.config_location)
                items[1].setText(str(len(deploy.attachments)))
        return False

    def set_filter(self, text: str) -> None:
        needle = text.strip().casefold()
        if needle != self._needle:
            self._needle = needle
            self._rebuild()

    def matches(self, deploy: DeployInfo) -> bool:
        needle = self._needle
        return not needle or needle in f"{deploy.name}\t{deploy.app}\t{deploy.environment}".casefold()

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def _rebuild(self) -> None:
        self.beginResetModel()
        self.blockSignals(True)
        self._items = {}
        try:
            self.removeRows(0, self.rowCount())
            groups: dict[tuple[str, str], QStandardItem] = {}
            root = self.invisibleRootItem()
            for deploy in self._deploys:
                if not self.matches(deploy):
                    continue
                key = (deploy.app or "(no app)", deploy.environment or "(no environment)")
                group = groups.get(key)
                if group is None:
                    group = QStandardItem(f"{key[0]} / {key[1]}")
                    group.setData(f"{key[0]}\t{key[1]}".casefold(), SORT_ROLE)
                    root.appendRow([group, QStandardItem("")])
                    groups[key] = group
                item = QStandardItem(deploy.name)
                item.setData(deploy, PAYLOAD_ROLE)
                item.setData(deploy.name.casefold(), SORT_ROLE)
                item.setToolTip(deploy.config_location)
                count = QStandardItem(str(len(deploy.attachments)))
                self._items[deploy.name] = (item, count)
                group.appendRow([item, count])
        finally:
            self.blockSignals(False)
        self.endResetModel()


class ResourceFilterProxy(RecordProxy):
    """Resources by state: ``attached``, ``detached`` (detached or available) or ``all``; plus text."""

    STATES = ("attached", "detached", "all")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.state = "all"

    def set_state(self, state: str) -> None:
        self._refilter(lambda: setattr(self, "state", state))

    def accepts(self, record: Any) -> bool:
        if self.state == "attached":
            return bool(record.state == "attached")
        if self.state == "detached":
            return record.state in ("detached", "available")
        return True


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
