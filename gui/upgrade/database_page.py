"""1. The database: which resource, its deploys, engine, version and size."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizardPage,
)

from changeover.core import backups
from changeover.core.engines import DatabaseInfo
from changeover.core.records import ResourceInfo
from changeover.core.upgrade import procedure

from ..formatting import number, plural
from ..formatting import size as human_bytes
from .common import (
    WizardHost,
    error_text,
    step_tree,
    wrapped_label,
)

logger = logging.getLogger(__name__)


class DatabasePage(QWizardPage):
    def __init__(self, wizard: WizardHost) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("The database")
        self.setSubTitle("Which database to upgrade, who uses it, and how big it is.")
        self.resources: dict[str, ResourceInfo] = {}
        self.info: DatabaseInfo | None = None
        self.info_for = ""
        self.loaded = False
        self.resource = QComboBox()
        self.resource.setAccessibleName("Database to upgrade")
        self.registerField("source", self.resource, "currentText", self.resource.currentTextChanged)
        self.engine = wrapped_label(name="Engine and version")
        self.size_label = wrapped_label(name="Size")
        self.handle = wrapped_label(name="Handle", selectable=True)
        self.deploys = step_tree("Deploys using it", ["Deploy", "Variable"])
        self.status = wrapped_label(name="Status")
        form = QFormLayout()
        form.addRow("&Database:", self.resource)
        form.addRow("Handle:", self.handle)
        form.addRow("Engine:", self.engine)
        form.addRow("Size:", self.size_label)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Deploys that use it (their variable is switched to the new database):"))
        layout.addWidget(self.deploys)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.deploys.setMaximumHeight(180)
        self.resource.currentTextChanged.connect(self._describe)

    def initializePage(self) -> None:  # noqa: N802
        if not self.loaded:
            self.status.setText("Reading the inventory…")
            self.wiz.work(
                lambda: self.wiz.workspace.list_resources(),
                name="list the databases",
                on_finished=self._show_resources,
                on_failed=lambda e: self.status.setText(error_text(e)),
            )

    def _show_resources(self, resources: list[ResourceInfo]) -> None:
        self.loaded = True
        self.resources = {
            r.name: r for r in resources if r.kind in procedure.DATABASE_KINDS and r.state in ("attached", "detached")
        }
        self.resource.blockSignals(True)
        self.resource.clear()
        self.resource.addItems(sorted(self.resources))
        if self.wiz.initial_resource in self.resources:
            self.resource.setCurrentText(self.wiz.initial_resource)
        self.resource.blockSignals(False)
        if not self.resources:
            self.status.setText("There is no database resource to upgrade: register one first.")
        self._describe(self.resource.currentText())

    def _describe(self, name: str) -> None:
        self.info, self.info_for = None, ""
        self.completeChanged.emit()
        resource = self.resources.get(name)
        if resource is None:
            return
        self.handle.setText(resource.handle)
        self.deploys.clear()
        for attachment in resource.attachments:
            self.deploys.addTopLevelItem(QTreeWidgetItem([attachment.deploy, attachment.env_var]))
        self.engine.setText(resource.kind)
        self.size_label.setText("…")
        self.status.setText(f"Reading {name}: engine, version and size…")
        self.wiz.work(
            lambda: backups.describe_resource(self.wiz.workspace, name),
            name="describe the database",
            on_finished=lambda info: self._show_info(name, info),
            on_failed=lambda e: self._failed(name, e),
        )

    def _show_info(self, name: str, info: DatabaseInfo) -> None:
        if name != self.resource.currentText():
            return  # an answer about a database no longer chosen
        self.info, self.info_for = info, name
        self.engine.setText(f"{info.engine} {info.server_version}")
        self.size_label.setText(
            f"{human_bytes(info.size_bytes, 'unknown')}, {plural(len(info.tables), 'table')}, "
            f"about {number(info.estimated_rows)} rows"
        )
        resource = self.resources[name]
        if resource.state != "attached":
            self.status.setText(f"{name} is {resource.state}: only a database a deploy uses is upgraded.")
        elif not resource.attachments:
            self.status.setText(f"No deploy uses {name}: the switch will change no config.")
        else:
            self.status.setText("")
        self.completeChanged.emit()

    def _failed(self, name: str, error: BaseException) -> None:
        if name == self.resource.currentText():
            self.size_label.setText("unknown")
            self.status.setText(f"{name} cannot be read: {error_text(error)}")

    def isComplete(self) -> bool:  # noqa: N802
        resource = self.resources.get(self.resource.currentText())
        return (
            self.info is not None
            and self.info_for == self.resource.currentText()
            and resource is not None
            and resource.state == "attached"
        )

    def source(self) -> ResourceInfo | None:
        return self.resources.get(self.resource.currentText())
