"""The deploys tree (by app and environment), the selected deploy's attachments and config, and what an
import recognised in a .env (shown for the admin to confirm)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel

from changeover.core.checks import ResourceCheck
from changeover.core.discovery import Recognised
from changeover.core.records import AttachmentInfo, ConfigVar, DeployInfo, ResourceInfo

from ..icons import kind_icon
from .base import PAYLOAD_ROLE, SORT_ROLE, Column, Index, RecordTableModel, sort_time, when
from .health import health_text, health_tip
from .resources import provider_text

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeploysRead:
    """Deploys put in the tree's order off the GUI thread (DeployTreeModel.prepare)."""

    ordered: list[DeployInfo]
    shown: Sequence[DeployInfo]  # what the tree showed when they were compared (identity is checked)
    changed: list[DeployInfo] | None  # those that differ from it; None: the tree's shape differs


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

    @staticmethod
    def prepare(deploys: Sequence[DeployInfo], shown: Sequence[DeployInfo]) -> DeploysRead:
        """``deploys`` in the tree's order, and which of them differ from ``shown`` (what the tree showed when
        they were asked for): :meth:`set_deploys`' work, done by a worker thread for a large inventory."""
        ordered = sorted(deploys, key=lambda d: (d.app.casefold(), d.environment.casefold(), d.name.casefold()))
        same = [(d.name, d.app, d.environment) for d in ordered] == [(d.name, d.app, d.environment) for d in shown]
        changed = [d for d, old in zip(ordered, shown, strict=False) if d != old] if same else None
        return DeploysRead(ordered, shown, changed)

    def shown(self) -> list[DeployInfo]:
        """The deploys the tree shows now, in its order (the same list until the next set_deploys)."""
        return self._deploys

    def set_deploys(self, deploys: Sequence[DeployInfo], read: DeploysRead | None = None) -> bool:
        """Show ``deploys``; True when the tree was rebuilt (rather than updated in place). ``read``: them
        prepared off the GUI thread (used if the tree still shows what it was compared with)."""
        if read is None or read.shown is not self._deploys:
            read = self.prepare(deploys, self._deploys)
        ordered, same, changed = read.ordered, read.changed is not None, read.changed or []
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


class AttachmentsModel(RecordTableModel[AttachmentInfo]):
    """The selected deploy's attached resources, with provider and the last kept health result by name."""

    cache_texts = False
    HEALTH = 4  # the health column

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.resources: Mapping[str, ResourceInfo] = {}
        self.health: dict[str, ResourceCheck] = {}
        self.columns = (
            Column[AttachmentInfo]("Env var", lambda a: a.env_var),
            Column[AttachmentInfo]("Resource", lambda a: a.resource),
            Column[AttachmentInfo]("Kind", lambda a: a.kind),
            Column[AttachmentInfo]("Provider", self._provider),
            Column[AttachmentInfo](
                "Health",
                lambda a: health_text(self.health.get(a.resource)),
                tooltip=lambda a: health_tip(self.health.get(a.resource)),
            ),
            Column[AttachmentInfo]("Attached since", lambda a: when(a.attached_at), lambda a: sort_time(a.attached_at)),
            Column[AttachmentInfo]("Handle", lambda a: a.handle),
        )

    def _provider(self, a: AttachmentInfo) -> str:
        info = self.resources.get(a.resource)
        if info is None:
            return ""
        return provider_text(info)

    KIND = 2  # the kind column, with the kind's icon

    def extra_data(self, record: AttachmentInfo, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DecorationRole and column == self.KIND:
            return kind_icon(record.kind)
        return super().extra_data(record, column, role)

    PROVIDER = 3  # the provider column, read from the context

    def set_context(self, resources: Mapping[str, ResourceInfo]) -> None:
        """The resources by name the provider column reads (kept, not copied: a new read hands a new mapping)."""
        self.resources = resources
        if self.rowCount():
            self.dataChanged.emit(self.index(0, self.PROVIDER), self.index(self.rowCount() - 1, self.PROVIDER))

    def set_health(self, health: Mapping[str, ResourceCheck], *, replace: bool = False) -> None:
        """Show these kept results (``replace``: they are all there is, e.g. a fresh read of the inventory)."""
        if replace:
            self.health = dict(health)
        else:
            self.health.update(health)
        if self.rowCount():
            self.dataChanged.emit(self.index(0, self.HEALTH), self.index(self.rowCount() - 1, self.HEALTH))


class ConfigModel(RecordTableModel[ConfigVar]):
    columns = (
        Column[ConfigVar]("Variable", lambda v: v.name),
        Column[ConfigVar]("Value", lambda v: v.value),
    )


def recognised_action(r: Recognised) -> str:
    """What the import will do with one recognised resource."""
    if r.existing:
        return "attach the registered one" if r.attach else "already registered"
    return "register and attach" if r.attach else "register only"


class RecognisedModel(RecordTableModel[Recognised]):
    """What an import recognised in a .env, from ``import_deploy(..., dry_run=True)``: nothing saved yet."""

    columns = (
        Column[Recognised]("Variable", lambda r: ", ".join(r.variables) or r.variable),
        Column[Recognised]("Kind", lambda r: r.kind),
        Column[Recognised]("Resource", lambda r: r.resource),
        Column[Recognised]("Will", recognised_action),
        Column[Recognised]("Handle", lambda r: r.handle, tooltip=lambda r: r.handle),
        Column[Recognised]("Why", lambda r: r.why, tooltip=lambda r: r.why),
    )
