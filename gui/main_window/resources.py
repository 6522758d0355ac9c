"""The resources pane: every resource in the inventory with its state, filtered by state and text."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from ..models import ResourceFilterProxy, ResourcesModel
from .tables import data_table

logger = logging.getLogger(__name__)


class ResourcesPane(QWidget):
    def __init__(self, context_actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state_filter = QComboBox()
        for text, state in (("All", "all"), ("Attached", "attached"), ("Detached", "detached")):
            self.state_filter.addItem(text, state)
        self.state_filter.setAccessibleName("Resource state filter")
        state_label = QLabel("&State:")
        state_label.setBuddy(self.state_filter)
        self.text_filter = QLineEdit()
        self.text_filter.setPlaceholderText("Filter resources")
        self.text_filter.setClearButtonEnabled(True)
        self.text_filter.setAccessibleName("Filter resources")
        self.model = ResourcesModel(self)
        self.proxy = ResourceFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.view = data_table("Resources", "Every resource in the inventory")
        self.view.setModel(self.proxy)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for action in context_actions:
            self.view.addAction(action)
        bar = QHBoxLayout()
        bar.addWidget(state_label)
        bar.addWidget(self.state_filter)
        bar.addWidget(self.text_filter, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.view)
        self.state_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_state(str(self.state_filter.currentData()))
        )
        self.text_filter.textChanged.connect(self.proxy.set_text)

    def select(self, name: str) -> None:
        """Select the row of ``name`` if the filters show it."""
        row = self.model.row_of(name)
        if row is not None:
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if index.isValid():
                self.view.selectRow(index.row())
