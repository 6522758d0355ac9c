"""The audit trail, newest first."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush

from changeover.core.records import EventInfo

from ..formatting import moment
from ..icons import warning_color
from .base import Column, RecordTableModel, sort_time

logger = logging.getLogger(__name__)


class EventsModel(RecordTableModel[EventInfo]):
    key = staticmethod(lambda e: (e.at, e.action, e.object_type, e.object_name))

    columns = (
        Column[EventInfo]("When", lambda e: moment(e.at), lambda e: sort_time(e.at)),
        Column[EventInfo]("Action", lambda e: e.action),
        Column[EventInfo]("Object", lambda e: f"{e.object_type} {e.object_name}"),
        Column[EventInfo]("Result", lambda e: e.result),
        Column[EventInfo]("Actor", lambda e: e.actor),
        Column[EventInfo]("Detail", lambda e: e.detail, tooltip=lambda e: e.detail),
    )

    def extra_data(self, record: EventInfo, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and record.result != "ok":
            return QBrush(warning_color())  # readable on light and dark palettes
        return None
