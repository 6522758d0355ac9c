"""The activity pane: the audit trail, newest first, filtered by the object it is about."""

from __future__ import annotations

import logging

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtWidgets import QCompleter, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from changeover.core.records import EventInfo

from ..models import EventsModel, record_proxy
from .tables import data_table, size_columns

logger = logging.getLogger(__name__)


class ActivityPane(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("All objects (type a deploy, resource or server name)")
        self.filter.setClearButtonEnabled(True)
        self.filter.setAccessibleName("Activity object filter")
        self.object_names = QStringListModel(self)
        completer = QCompleter(self.object_names, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.filter.setCompleter(completer)
        label = QLabel("&Object:")
        label.setBuddy(self.filter)
        self.model = EventsModel(self)
        self.proxy = record_proxy(self.model, self)
        self.view = data_table("Activity", "The audit trail, newest first", self.proxy, Qt.SortOrder.DescendingOrder)
        bar = QHBoxLayout()
        bar.addWidget(label)
        bar.addWidget(self.filter, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.view)

    def show_events(self, events: list[EventInfo], texts: list[tuple[str, ...]] | None = None) -> None:
        self.model.set_records(events, texts)
        size_columns(self.view)
