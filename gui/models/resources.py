"""Every resource with its state, provider and size, and the state filter over them."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QGuiApplication, QPalette

from changeover.core.records import ResourceInfo

from ..formatting import size
from ..icons import BADGES, badge_state, kind_icon, state_badge, warning_color
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
        text += ", overdue"  # the tooltip says what to do
    return text


def state_text(info: ResourceInfo) -> str:
    """The state as the badge says it: ``detached, overdue`` for one past its keep-until date."""
    return "detached, overdue" if info.overdue else info.state


def state_tip(info: ResourceInfo) -> str:
    return BADGES.get(badge_state(info.state, info.overdue), ("", "", info.state))[2]


class ResourcesModel(RecordTableModel[ResourceInfo]):
    key = staticmethod(lambda r: r.name)
    columns = (
        Column[ResourceInfo]("Name", lambda r: r.name),
        Column[ResourceInfo]("Kind", lambda r: r.kind),
        Column[ResourceInfo]("State", state_text, tooltip=state_tip),
        Column[ResourceInfo]("Kept", kept_text, lambda r: sort_time(r.keep_until), tooltip=state_tip),
        Column[ResourceInfo]("Attached to", lambda r: ", ".join(f"{a.deploy} ({a.env_var})" for a in r.attachments)),
        Column[ResourceInfo]("Handle", lambda r: r.handle),
        Column[ResourceInfo]("Provider", provider_text),
        Column[ResourceInfo]("Server", lambda r: r.server or ""),
        Column[ResourceInfo]("Size", lambda r: size(r.size_bytes), lambda r: r.size_bytes or 0),
        Column[ResourceInfo]("Registered", lambda r: when(r.created_at), lambda r: sort_time(r.created_at)),
    )

    #: the columns that wear an icon: the kind's on the name, the state's badge on the state
    NAME, STATE = 0, 2

    def extra_data(self, record: ResourceInfo, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and (record.overdue or record.state == "failed"):
            return QBrush(warning_color())  # readable on light and dark palettes
        if role == Qt.ItemDataRole.ForegroundRole and record.state == "deprovisioned":
            return QBrush(QGuiApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        if role == Qt.ItemDataRole.DecorationRole:
            if column == self.NAME:
                return kind_icon(record.kind)
            if column == self.STATE:
                return state_badge(badge_state(record.state, record.overdue))
        return None


class ResourceFilterProxy(RecordProxy):
    """Resources by state, plus text. ``all`` is every resource but the deprovisioned ones (unless
    ``show_deprovisioned``); ``detached`` is every live one attached nowhere (detached or available);
    ``overdue`` the detached ones past their date; ``available``, ``failed``, ``deprovisioned`` those states."""

    STATES = ("all", "attached", "detached", "available", "overdue", "failed", "deprovisioned")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.state = "all"
        self.show_deprovisioned = False

    def set_state(self, state: str) -> None:
        self._refilter(lambda: setattr(self, "state", state))

    def set_show_deprovisioned(self, show: bool) -> None:
        self._refilter(lambda: setattr(self, "show_deprovisioned", show))

    def accepts(self, record: Any) -> bool:
        if self.state == "all":
            return self.show_deprovisioned or record.state != "deprovisioned"
        if self.state == "detached":
            return record.state in ("detached", "available")
        if self.state == "overdue":
            return bool(record.overdue)
        return bool(record.state == self.state)
