"""The resources pane: every resource in the inventory with its state, filtered by state and text, and
below it which deploys use the selected one, read from their configs now (hand edits included)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from changeover.core.uses import Use

from ..models import ResourceFilterProxy, ResourcesModel
from .tables import data_table

logger = logging.getLogger(__name__)


class ResourcesPane(QWidget):
    #: the name of the resource whose row was selected (the window asks the controller who uses it)
    resource_selected = Signal(str)

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
        self.used_by = QLabel("Select a resource to see which deploys use it.")
        self.used_by.setWordWrap(True)
        self.used_by.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.used_by.setAccessibleName("Used by")
        self.used_by.setObjectName("used_by")
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.view)
        layout.addWidget(self.used_by)
        self.view.selectionModel().selectionChanged.connect(self._selected)
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

    def _selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            return
        name = self.model.record(self.proxy.mapToSource(indexes[0]).row()).name
        self.used_by.setText(f"Looking for the deploys that use {name}…")
        self.resource_selected.emit(name)

    def show_uses(self, resource: str, uses: Sequence[Use]) -> None:
        """Which deploys point at ``resource`` now: one line each, with what Changeover knows of it."""
        lines = []
        for use in uses:
            if use.problem:
                lines.append(f"{use.deploy}: {use.problem}")
            elif use.known:
                lines.append(f"{use.deploy}: {use.variable} (attached)")
            elif use.resource:
                lines.append(f"{use.deploy}: {use.variable} (attached as {use.resource}, edited since)")
            else:
                lines.append(f"{use.deploy}: {use.variable} (not attached: written outside Changeover)")
        body = "\n".join(lines) if lines else "no deploy's config points at it."
        self.used_by.setText(f"Used by (from each deploy's config now) — {resource}:\n{body}")
