"""The resources pane: every resource in the inventory with its state, filtered by state and text, and
below it which deploys use the selected one, read from their configs now (hand edits included)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from changeover.core.checks import ResourceCheck
from changeover.core.uses import Use

from ..icons import badge_state, state_badge
from ..models import ResourceFilterProxy, ResourcesModel, health_tip
from ..models.health import NOT_CHECKED_TIP
from .tables import data_table

logger = logging.getLogger(__name__)

PROMPT = "Select a resource to see which deploys use it."

#: the state filter's choices (text, proxy state)
STATE_CHOICES = (
    ("All", "all"),
    ("Attached", "attached"),
    ("Not attached", "detached"),
    ("Available", "available"),
    ("Overdue", "overdue"),
    ("Failed", "failed"),
    ("Deprovisioned", "deprovisioned"),
)


class ResourcesPane(QWidget):
    #: the name of the resource whose row was selected (the window asks the controller who uses it)
    resource_selected = Signal(str)
    #: emitted when the deploys using a resource have been shown
    uses_shown = Signal(str)

    def __init__(self, context_actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state_filter = QComboBox()
        for text, state in STATE_CHOICES:
            self.state_filter.addItem(state_badge(badge_state(state)) if state != "all" else QIcon(), text, state)
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
        self.view = data_table("Resources", "Every resource in the inventory", self.proxy)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for action in context_actions:
            self.view.addAction(action)
        bar = QHBoxLayout()
        bar.addWidget(state_label)
        bar.addWidget(self.state_filter)
        bar.addWidget(self.text_filter, 1)
        self.show_deprovisioned = QCheckBox("Show de&provisioned")
        self.show_deprovisioned.setToolTip("List the deprovisioned resources too (kept for their history)")
        self.show_deprovisioned.toggled.connect(self.proxy.set_show_deprovisioned)
        bar.addWidget(self.show_deprovisioned)
        self.asking: str | None = None  # the resource whose users were asked for last
        self.requests = 0
        self.used_by = QLabel(PROMPT)
        self.used_by.setWordWrap(True)
        self.used_by.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.used_by.setAccessibleName("Used by")
        self.used_by.setObjectName("used_by")
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.view)
        layout.addWidget(self.used_by)
        self.health = QLabel()
        self.health.setWordWrap(True)
        self.health.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.health.setAccessibleName("Last health check")
        self.health.setObjectName("resource_health")
        self.health.hide()
        layout.addWidget(self.health)
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

    def selected_name(self) -> str | None:
        """The resource of the selected row (None when no row is selected, e.g. the filter hides it)."""
        rows = self.view.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.record(self.proxy.mapToSource(rows[0]).row()).name

    def _selected(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        name = self.selected_name()
        if name is None:
            self.asking = None
            self.used_by.setText(PROMPT)
            return
        if name != self.asking:
            self.ask(name)

    def ask(self, name: str) -> None:
        """Ask (through ``resource_selected``) who uses ``name`` now; its answer replaces the text."""
        self.asking = name
        self.requests += 1
        self.used_by.setText(f"Looking for the deploys that use {name}…")
        self.resource_selected.emit(name)

    def ask_again(self) -> None:
        """After the inventory was read again: the configs may have changed too."""
        name = self.selected_name()
        if name is not None:
            self.ask(name)

    def show_uses(self, resource: str, uses: Sequence[Use]) -> None:
        """Which deploys point at ``resource`` now: one line each, with what Changeover knows of it.

        An answer for a resource that is no longer the one asked about (the selection moved on while
        it was read) is dropped.
        """
        if resource != self.asking:
            return
        lines = [use_line(use) for use in uses]
        body = "\n".join(lines) if lines else "no deploy's config points at it."
        self.used_by.setText(f"Used by (read from each deploy's config now) — {resource}:\n{body}")
        self.uses_shown.emit(resource)

    def show_health(self, resource: str | None, check: ResourceCheck | None) -> None:
        """The selected resource's last kept health result, its reason in full (no selection: hidden)."""
        if resource is None:
            self.health.hide()
            return
        tip = health_tip(check) if check is not None else f"{resource}: {NOT_CHECKED_TIP}"
        self.health.setText(f"Last health check — {tip}")
        self.health.show()


def use_line(use: Use) -> str:
    """One deploy variable that points at the resource, and whether Changeover attached it there."""
    if use.problem:
        return f"{use.deploy}: {use.problem}"
    where = f"{use.deploy}: {use.variable} = {use.handle}"
    if use.known:
        return f"{where} (attached)"
    if use.resource:
        return f"{where} (not attached by Changeover: it attached {use.resource} there, edited by hand since)"
    return f"{where} (not attached by Changeover: written by hand)"
