"""The deploys pane (by app and environment, with a filter and the first-run welcome) and the selected
deploy's pane (its attached resources and its other config variables)."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFrame, QHeaderView, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from changeover.core.records import ConfigVar, DeployInfo

from ..icons import get_colored_icon
from ..models import (
    HEALTH_COLUMN_WIDTH,
    PAYLOAD_ROLE,
    AttachmentsModel,
    ConfigModel,
    DeployTreeModel,
    record_proxy,
    tree_proxy,
)
from ..widgets import TreeView, upright_sort_arrows
from .tables import data_table, size_columns

logger = logging.getLogger(__name__)


class DeploysPane(QWidget):
    """Deploys grouped by app and environment; the filter is applied by the model."""

    def __init__(self, demo: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter deploys (Ctrl+F)")
        self.filter.setClearButtonEnabled(True)
        self.filter.setAccessibleName("Filter deploys")
        self.model = DeployTreeModel(self)
        self.proxy = tree_proxy(self.model, self)
        self.view = TreeView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        upright_sort_arrows(self.view.header())
        self.view.setUniformRowHeights(True)
        self.view.setAccessibleName("Deploys")
        self.view.setAccessibleDescription("Deploys grouped by app and environment")
        self.view.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.view.header().setStretchLastSection(False)
        # The count column as narrow as its header: the names get the rest (ResizeToContents would measure
        # every row of a large inventory on each change).
        self.view.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        self.view.header().resizeSection(1, self.view.fontMetrics().horizontalAdvance("Attached") + 28)
        self.welcome = QFrame()
        self.welcome.setFrameShape(QFrame.Shape.StyledPanel)
        welcome_text = QLabel(
            "<b>Your inventory is empty.</b><br>Add a deploy by its .env file, import one, or try Changeover on "
            "a sample deploy with a SQLite database."
        )
        welcome_text.setWordWrap(True)
        self.demo_button = QPushButton(get_colored_icon("demo"), "Open the &demo workspace")
        self.demo_button.setAccessibleName("Open the demo workspace")
        self.demo_button.clicked.connect(demo.trigger)
        welcome_layout = QVBoxLayout(self.welcome)
        welcome_layout.addWidget(welcome_text)
        welcome_layout.addWidget(self.demo_button)
        self.welcome.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter)
        layout.addWidget(self.welcome)
        layout.addWidget(self.view)

    def selected(self) -> DeployInfo | None:
        """The deploy behind the selected row (as the model holds it)."""
        rows = self.view.selectionModel().selectedRows()
        value = rows[0].data(PAYLOAD_ROLE) if rows else None
        return value if isinstance(value, DeployInfo) else None

    def select(self, name: str) -> bool:
        matches = self.proxy.match(
            self.proxy.index(0, 0), Qt.ItemDataRole.DisplayRole, name, 1,
            Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive,
        )  # fmt: skip
        for index in matches:
            if isinstance(index.data(PAYLOAD_ROLE), DeployInfo):
                self.view.setCurrentIndex(index)
                return True
        return False


class DeployPane(QWidget):
    """The selected deploy: its title, attached resources, and its other config variables (masked)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Select a deploy")
        self.title.setAccessibleName("Selected deploy")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.attachments_model = AttachmentsModel(self)
        self.attachments_proxy = record_proxy(self.attachments_model, self)
        self.attachments_view = data_table(
            "Attached resources", "Resources attached to the selected deploy", self.attachments_proxy
        )
        self.config_model = ConfigModel(self)
        self.config_proxy = record_proxy(self.config_model, self)
        self.config_view = data_table(
            "Config variables", "The selected deploy's other config variables, masked", self.config_proxy
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(QLabel("Attached resources"))
        layout.addWidget(self.attachments_view, 1)
        layout.addWidget(QLabel("Other config variables"))
        layout.addWidget(self.config_view, 1)

    def show_deploy(self, deploy: DeployInfo | None) -> None:
        if deploy is None:
            self.title.setText("Select a deploy")
            self.attachments_model.set_records([])
            self.config_model.set_records([])
            return
        group = " / ".join(x for x in (deploy.app, deploy.environment) if x)
        self.title.setText(
            f"<b>{deploy.name}</b> {('— ' + group) if group else ''}<br><small>{deploy.config_location}</small>"
        )
        self.attachments_model.set_records(list(deploy.attachments))
        size_columns(self.attachments_view, again=True)
        self.fit_health()

    def fit_health(self) -> None:
        """Fit the health column to its texts, never wider than HEALTH_COLUMN_WIDTH: a long reason is
        elided in the cell (whole in the tooltip) instead of pushing the handle out of sight."""
        view, health = self.attachments_view, AttachmentsModel.HEALTH
        view.resizeColumnToContents(health)
        if view.columnWidth(health) > HEALTH_COLUMN_WIDTH:
            view.setColumnWidth(health, HEALTH_COLUMN_WIDTH)

    def show_config(self, deploy: DeployInfo, variables: list[ConfigVar]) -> None:
        """The deploy's variables that are not attachments (those are listed above them)."""
        attached = {a.env_var for a in deploy.attachments}
        self.config_model.set_records([v for v in variables if v.name not in attached])
        size_columns(self.config_view, again=True)
