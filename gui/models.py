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
from changeover.core.workspace import AttachmentInfo, ConfigVar, DeployInfo, EventInfo, ResourceInfo

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
PAYLOAD_ROLE = Qt.ItemDataRole.UserRole + 2
FILTER_ROLE = Qt.ItemDataRole.UserRole + 3

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
    """A read-only table over a list of records; ``set_records`` replaces them all at once."""

    columns: Sequence[Column[R]] = ()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._records: list[R] = []

    def set_records(self, records: Sequence[R]) -> None:
        self.beginResetModel()
        self._records = list(records)
        self.endResetModel()

    def records(self) -> list[R]:
        return list(self._records)

    def record(self, row: int) -> R:
        return self._records[row]

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
        record = self._records[index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(record)
        if role == SORT_ROLE:
            return column.sort(record) if column.sort else column.text(record)
        if role == PAYLOAD_ROLE:
            return record
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip:
            return column.tooltip(record)
        return self.extra_data(record, index.column(), role)

    def extra_data(self, record: R, column: int, role: int) -> Any:
        return None


def sort_time(value: datetime | None) -> float:
    return value.timestamp() if value else 0.0


class AttachmentsModel(RecordTableModel[AttachmentInfo]):
    """The selected deploy's attached resources, with provider and health looked up by resource name."""

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
        if role == FILTER_ROLE:
            return record.state
        return None


class EventsModel(RecordTableModel[EventInfo]):
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


class DeployTreeModel(QStandardItemModel):
    """Deploys grouped by app, then environment: group rows carry no payload, deploy rows do."""

    HEADERS = ("Deploy", "Attached", "Config")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setHorizontalHeaderLabels(list(self.HEADERS))

    def set_deploys(self, deploys: Sequence[DeployInfo]) -> None:
        self.beginResetModel()
        self.blockSignals(True)
        try:
            self.removeRows(0, self.rowCount())
            groups: dict[tuple[str, str], QStandardItem] = {}
            root = self.invisibleRootItem()
            for deploy in sorted(deploys, key=lambda d: (d.app.lower(), d.environment.lower(), d.name.lower())):
                key = (deploy.app or "(no app)", deploy.environment or "(no environment)")
                group = groups.get(key)
                if group is None:
                    group = _item(f"{key[0]} / {key[1]}")
                    group.setData(key[0] + " " + key[1], SORT_ROLE)
                    root.appendRow([group, _item(""), _item("")])
                    groups[key] = group
                row = [
                    _item(deploy.name),
                    _item(str(len(deploy.attachments))),
                    _item(deploy.config_location),
                ]
                row[0].setData(deploy, PAYLOAD_ROLE)
                row[0].setData(deploy.name, SORT_ROLE)
                row[0].setToolTip(deploy.config_location)
                group.appendRow(row)
        finally:
            self.blockSignals(False)
        self.endResetModel()


def _item(text: str) -> QStandardItem:
    item = QStandardItem(text)
    item.setEditable(False)
    return item


class ResourceFilterProxy(QSortFilterProxyModel):
    """Resources by state: ``attached``, ``detached`` (detached or available) or ``all``; plus text."""

    STATES = ("attached", "detached", "all")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.state = "all"
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)

    def set_state(self, state: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9
            self.beginFilterChange()
            self.state = state
            self.endFilterChange()
        else:  # pragma: no cover - older Qt
            self.state = state
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        state = model.data(model.index(source_row, 0, source_parent), FILTER_ROLE)
        if self.state == "attached" and state != "attached":
            return False
        if self.state == "detached" and state not in ("detached", "available"):
            return False
        return super().filterAcceptsRow(source_row, source_parent)


def sorted_proxy(model: Any, parent: Any = None, *, recursive: bool = False) -> QSortFilterProxyModel:
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setFilterKeyColumn(0 if recursive else -1)
    proxy.setRecursiveFilteringEnabled(recursive)
    proxy.setAutoAcceptChildRows(recursive)
    return proxy
