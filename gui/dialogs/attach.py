"""Attach a resource to a deploy under an env var, detach it again, or swap it for another of its kind."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from changeover.core import handles
from changeover.core.checks import ResourceCheck
from changeover.core.records import DeployInfo, ResourceInfo
from changeover.core.uses import Use

from ..models.health import checked_time
from ..widgets import GrowToFit, dialog_buttons, named

logger = logging.getLogger(__name__)

#: states a resource cannot be attached in
GONE = ("deprovisioned", "failed")


class AttachDialog(QDialog):
    """Attach a resource to a deploy under an env var (the kind's usual variable suggested)."""

    def __init__(
        self,
        resources: list[ResourceInfo],
        deploys: list[DeployInfo],
        resource: str | None = None,
        deploy: str | None = None,
        parent: QWidget | None = None,
        health: dict[str, ResourceCheck] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Attach a resource")
        self.kinds = {r.name: r.kind for r in resources}
        self.health = dict(health or {})
        self.states = {r.name: r.state for r in resources}
        self.holders = {(a.deploy, a.env_var): a.resource for d in deploys for a in d.attachments}
        self.resource = QComboBox()
        for info in resources:
            if info.state not in GONE:
                self.resource.addItem(f"{info.name} ({info.kind})", info.name)
        named(self.resource, "Resource to attach")
        self.deploy = QComboBox()
        for d in deploys:
            self.deploy.addItem(d.name, d.name)
        named(self.deploy, "Deploy")
        self.env_var = named(QLineEdit(), "Env var", "The variable the deploy reads the handle from")
        self.replace = QCheckBox("&Replace what the variable holds now")
        self.replace.setAccessibleName("Replace the current value")
        form = QFormLayout()
        form.addRow("&Resource:", self.resource)
        form.addRow("&Deploy:", self.deploy)
        form.addRow("&As variable:", self.env_var)
        form.addRow("", self.replace)
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        named(self.hint, "Attach hint")
        form.addRow("", self.hint)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.buttons = dialog_buttons(self, "A&ttach")
        layout.addWidget(self.buttons)
        self.grow = GrowToFit(self)  # the hint appears when the variable is already held
        self.resource.currentIndexChanged.connect(self._suggest)
        self.env_var.textChanged.connect(self._update)
        self.deploy.currentIndexChanged.connect(self._update)
        if deploy and self.deploy.findData(deploy) >= 0:
            self.deploy.setCurrentIndex(self.deploy.findData(deploy))
        chosen = self._preselect(resources, resource, str(self.deploy.currentData()))
        if chosen and self.resource.findData(chosen) >= 0:
            self.resource.setCurrentIndex(self.resource.findData(chosen))
        self._suggest()

    def _preselect(self, resources: list[ResourceInfo], asked: str | None, deploy: str) -> str | None:
        """The resource offered first: the one asked for unless the deploy has it already, else the first one
        attached nowhere (available, then detached), else the one asked for."""
        on_deploy = {a.resource for r in resources for a in r.attachments if a.deploy == deploy}
        if asked and asked in self.kinds and asked not in on_deploy and self.states.get(asked) not in GONE:
            return asked
        for state in ("available", "detached"):
            loose = next((r.name for r in resources if r.state == state), None)
            if loose:
                return loose
        return asked

    def _suggest(self) -> None:
        kind = self.kinds.get(str(self.resource.currentData()))
        if kind:
            self.env_var.setText(handles.DEFAULT_ENV_VAR.get(kind, ""))
        self._update()

    def _update(self) -> None:
        ok = self.resource.currentIndex() >= 0 and self.deploy.currentIndex() >= 0
        ok = ok and bool(handles.ENV_VAR_NAME.match(self.env_var.text()))
        holder = self.holders.get((str(self.deploy.currentData()), self.env_var.text().strip()))
        lines = []
        if holder and holder != self.resource.currentData():
            lines.append(
                f"{self.env_var.text().strip()} now holds {holder}: tick Replace to swap it (the deploy restarts once)."
            )
        name = str(self.resource.currentData())
        check = self.health.get(name)
        if check is not None and check.failed and self.kinds.get(name) in handles.DATABASE_KINDS:
            lines.append(
                f"⚠ {name} did not answer its last health check ({checked_time(check.checked_at)}): "
                f"{check.reason.splitlines()[0] if check.reason else 'no reason given'}. The deploy would point at a "
                "database that may not answer."
            )
        self.hint.setText("\n".join(lines))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def values(self) -> tuple[str, str, str, bool]:
        return (
            str(self.resource.currentData()),
            str(self.deploy.currentData()),
            self.env_var.text().strip(),
            self.replace.isChecked(),
        )


class DetachDialog(QDialog):
    """Detach a resource from one of its deploys; it is kept for a number of days."""

    def __init__(self, resource: ResourceInfo, retention_days: int = 7, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Detach {resource.name}")
        self.resource = resource
        self.deploy = QComboBox()
        for a in resource.attachments:
            self.deploy.addItem(f"{a.deploy} ({a.env_var})", a.deploy)
        named(self.deploy, "Detach from deploy")
        self.keep_days = QSpinBox()
        self.keep_days.setRange(1, 3650)
        self.keep_days.setValue(retention_days)
        self.keep_days.setSuffix(" days")
        named(self.keep_days, "Keep for", "How long the detached resource is kept before the reminder")
        note = QLabel(
            "The variable is removed from the deploy's config and the deploy restarted. The resource itself is "
            "kept, detached, until you deprovision it."
        )
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("&From deploy:", self.deploy)
        form.addRow("&Keep for:", self.keep_days)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        self.buttons = dialog_buttons(self, "&Detach", destructive=True)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(self.deploy.count() > 0)
        layout.addWidget(self.buttons)

    def values(self) -> tuple[str, str, int]:
        return self.resource.name, str(self.deploy.currentData()), self.keep_days.value()


class SwapDialog(QDialog):
    """Swap a resource for another of its kind on every deploy it is attached to (databases: the wizard).

    The core checks the new resource first, then switches the deploys one by one, each with one config
    change and one restart, and puts them all back if one fails. A database is not swapped (its data would
    stay behind): the dialog says so and offers the upgrade wizard (``wants_upgrade``) instead.
    """

    def __init__(
        self,
        resource: ResourceInfo,
        resources: list[ResourceInfo],
        retention_days: int = 7,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Swap {resource.name}")
        self.old = resource
        self.wants_upgrade = False
        self.database = resource.kind in handles.DATABASE_KINDS
        self.new = QComboBox()
        for info in resources:
            if (
                info.name != resource.name
                and info.kind == resource.kind
                and info.state not in ("deprovisioned", "failed")
            ):
                self.new.addItem(f"{info.name} ({info.handle})", info.name)
        named(self.new, "Replace with", "A resource of the same kind; it is checked before any deploy changes")
        self.keep_days = QSpinBox()
        self.keep_days.setRange(1, 3650)
        self.keep_days.setValue(retention_days)
        self.keep_days.setSuffix(" days")
        named(self.keep_days, "Keep the old one for", "How long the replaced resource is kept, detached")
        deploys = ", ".join(f"{a.deploy} ({a.env_var})" for a in resource.attachments) or "no deploy"
        self.note = named(QLabel(), "Swap explanation")
        self.note.setWordWrap(True)
        if self.database:
            self.note.setText(
                f"{resource.name} is a database: swapping it would leave its data behind. Use Upgrade database… "
                "to copy the data, verify it and move the deploys together."
            )
        elif not resource.attachments:
            self.note.setText(f"{resource.name} is attached to no deploy: there is nothing to swap.")
        elif self.new.count() == 0:
            self.note.setText(f"No other {resource.kind} resource is registered: register the new one first.")
        else:
            self.note.setText(
                f"Used by {deploys}. The new resource is checked first; then each deploy gets one config change and "
                "one restart, in name order. If one fails, the deploys already switched are put back and restarted."
            )
        form = QFormLayout()
        form.addRow("&Replace with:", self.new)
        form.addRow("&Keep the old one for:", self.keep_days)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addLayout(form)
        self.buttons = dialog_buttons(self, "&Swap")
        ok = not self.database and bool(resource.attachments) and self.new.count() > 0
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        if self.database:
            upgrade = self.buttons.addButton("&Upgrade database…", QDialogButtonBox.ButtonRole.ActionRole)
            upgrade.clicked.connect(self._upgrade)
            self.new.setEnabled(False)
            self.keep_days.setEnabled(False)
        layout.addWidget(self.buttons)

        self.elsewhere = named(QLabel(), "Not swapped")
        self.elsewhere.setWordWrap(True)
        self.elsewhere.hide()
        layout.insertWidget(1, self.elsewhere)

    def show_uses(self, uses: Sequence[Use]) -> None:
        """Warn of configs that point at the old resource without Changeover's attachment: not swapped."""
        outside = [u for u in uses if not u.known and not u.problem]
        unread = [u for u in uses if u.problem]
        lines = [f"{u.deploy}'s {u.variable} points at {self.old.name} too, written by hand" for u in outside]
        lines += [f"{u.deploy}: {u.problem}" for u in unread]
        if lines:
            self.elsewhere.setText(
                "A swap changes only what Changeover attached; these stay as they are:\n" + "\n".join(lines)
            )
            self.elsewhere.show()

    def _upgrade(self) -> None:
        self.wants_upgrade = True
        self.accept()

    def values(self) -> tuple[str, str, int]:
        return self.old.name, str(self.new.currentData()), self.keep_days.value()
