"""Every resource with its state, provider and size, and the state filter over them."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush

from changeover.core.formats import human_bytes
from changeover.core.records import ResourceInfo

from ..icons import warning_color
from .base import Column, RecordProxy, RecordTableModel, day, sort_time, when

logger = logging.getLogger(__name__)


def provider_text(info: ResourceInfo) -> str:
    if info.origin == "provisioned":
        return f"server {info.server}" if info.server else "provisioned"
    return "registered by hand"


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
        Column[ResourceInfo]("Size", lambda r: human_bytes(r.size_bytes), lambda r: r.size_bytes or 0),
        Column[ResourceInfo]("Registered", lambda r: when(r.created_at), lambda r: sort_time(r.created_at)),
    )

    def extra_data(self, record: ResourceInfo, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and record.overdue:
            return QBrush(warning_color())  # readable on light and dark palettes
        return None


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
