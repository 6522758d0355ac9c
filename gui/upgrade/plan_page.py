"""3. The plan, the commit page: steps, pre-flight checks, estimate, retention; nothing changes before Start."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from changeover.core.formats import human_seconds
from changeover.core.upgrade import procedure
from changeover.core.upgrade.procedure import RunInfo, UpgradePlan

from ..formatting import number
from ..formatting import size as human_bytes
from .common import (
    WizardHost,
    error_text,
    step_tree,
    tree_row,
    wrapped_label,
)

logger = logging.getLogger(__name__)


class PlanPage(QWizardPage):
    def __init__(self, wizard: WizardHost) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("The plan")
        self.setSubTitle("Nothing has changed yet. Read the plan, then start the upgrade.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Start the upgrade")
        self.plan: UpgradePlan | None = None
        self.starting = False
        self._request = 0
        self.summary = wrapped_label(name="Summary", selectable=True)
        self.steps = step_tree("Steps", ["#", "Step"])
        self.checks = step_tree("Pre-flight checks", ["Check", "Result", "Details"])
        self.estimate = wrapped_label(name="Estimated maintenance window")
        self.keep_days = QSpinBox()
        self.keep_days.setRange(1, 3650)
        self.keep_days.setSuffix(" days")
        self.keep_days.setAccessibleName("Keep the old database")
        self.keep_until = wrapped_label(name="Kept until")
        # the routes this upgrade could take (RDS's snapshot, online by replication), where there is a choice
        self.route = QComboBox()
        self.route.setAccessibleName("Route")
        self.route_label = QLabel("&Route:")
        self.route_label.setBuddy(self.route)
        self.route_note = wrapped_label(name="Routes not available")  # why, in words: a tooltip is easy to miss
        self.chosen_route = procedure.RouteName.COPY.value
        self.registerField("keep_days", self.keep_days)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setAccessibleName("Cross-engine report")
        self.report_label = QLabel("Across engines: what is adapted, and what cannot carry")
        self.warnings = wrapped_label(name="Warnings")
        self.warnings.setTextFormat(Qt.TextFormat.RichText)
        self.status = wrapped_label(name="Status")
        keep_label = QLabel("&Keep the old database for")
        keep_label.setBuddy(self.keep_days)
        keep = QHBoxLayout()
        keep.addWidget(keep_label)
        keep.addWidget(self.keep_days)
        keep.addWidget(self.keep_until, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        lists = QHBoxLayout()
        for title, tree, stretch in (
            ("Steps, in order:", self.steps, 1),
            ("Pre-flight checks (they changed nothing):", self.checks, 2),
        ):
            column = QVBoxLayout()
            column.addWidget(QLabel(title))
            column.addWidget(tree)
            lists.addLayout(column, stretch)
        layout.addLayout(lists, 1)
        routes = QHBoxLayout()
        routes.addWidget(self.route_label)
        routes.addWidget(self.route, 1)
        layout.addLayout(routes)
        layout.addWidget(self.route_note)
        layout.addWidget(self.estimate)
        layout.addLayout(keep)
        layout.addWidget(self.report_label)
        layout.addWidget(self.report, 1)
        layout.addWidget(self.warnings)
        layout.addWidget(self.status)
        self.keep_days.valueChanged.connect(self._show_keep_until)
        self.route.activated.connect(self._route_chosen)
        self._show_routes(None)

    def initializePage(self) -> None:  # noqa: N802
        self.plan = None
        self.starting = False
        self._request += 1
        request = self._request
        for widget in (self.steps, self.checks):
            widget.clear()
        self.report.setVisible(False)
        self.report_label.setVisible(False)
        self.summary.setText("")
        self.estimate.setText("")
        self.warnings.setText("")
        self.status.setText("Running the pre-flight checks… nothing is changed.")
        ws = self.wiz.workspace
        source = str(self.field("source"))
        provision = bool(self.field("provision"))
        handle = None if provision else self.wiz.target_handle()
        server = str(self.field("server")) if provision else None
        plan_text = (str(self.field("plan")).strip() or None) if provision else None
        name = str(self.field("target_name")).strip() or None
        route = self.chosen_route

        def plan() -> UpgradePlan:
            return procedure.plan_upgrade(
                ws, source, to_handle=handle, provision_on=server, plan=plan_text, target_name=name, route=route
            )

        self.wiz.work(
            plan,
            name="plan the upgrade",
            on_finished=lambda p: self._show_plan(request, p),
            on_failed=lambda e: self._failed(request, e),
        )
        self.completeChanged.emit()

    def _failed(self, request: int, error: BaseException) -> None:
        if request == self._request:
            self.status.setText(f"<b>The upgrade cannot be planned:</b> {error_text(error)}")

    def _show_plan(self, request: int, plan: UpgradePlan) -> None:
        if request != self._request:
            return
        self.plan = plan
        self.wiz.plan = plan
        target = (
            f"a new database <b>{plan.target_name}</b> provisioned on {plan.target_server} ({plan.target_kind}"
            + (f", plan {plan.target_plan}" if plan.target_plan else "")
            + ")"
            if plan.target_server
            else f"the existing database <b>{plan.target_name}</b> at {plan.target_handle} ({plan.target_kind})"
        )
        deploys = ", ".join(f"{d} ({v})" for d, v in plan.deploys) or "no deploy"
        self.summary.setText(
            f"Move <b>{plan.source}</b> ({plan.source_kind} {plan.source_version}, "
            f"{human_bytes(plan.source_size, 'unknown')}, "
            f"{plan.source_tables} tables, about {number(plan.source_rows)} rows) to {target}. "
            f"Switched: {deploys}."
        )
        for i, (name, title) in enumerate(plan.steps, 1):
            item = QTreeWidgetItem([str(i), title])
            if name in ("maintenance_on", "switch"):
                font = item.font(1)
                font.setBold(True)
                item.setFont(1, font)
            self.steps.addTopLevelItem(item)
        for check in plan.checks:
            self.checks.addTopLevelItem(tree_row(check.name, "✔ passed" if check.ok else "✘ failed", check.message))
        names = [n for n, _ in plan.steps]
        on, off = names.index("maintenance_on") + 1, names.index("maintenance_off") + 1
        self.estimate.setText(
            f"Estimated maintenance window: <b>about {human_seconds(plan.estimate_seconds)}</b> "
            f"(min:s): the deploys are in maintenance from step {on} until step {off}."
        )
        self._show_routes(plan)
        self.keep_days.setValue(plan.keep_days)
        self._show_keep_until()
        if plan.cross_engine:
            lines = [f"From {plan.source_kind} to {plan.target_kind}.", "", "Adapted:"]
            lines += [f"  • {a}" for a in plan.adaptations] or ["  • nothing"]
            lines += ["", "Cannot carry (left behind):"]
            lines += [f"  • {n}" for n in plan.not_carried] or ["  • nothing: everything carries"]
            self.report.setPlainText("\n".join(lines))
        self.report.setVisible(plan.cross_engine)
        self.report_label.setVisible(plan.cross_engine)
        warnings = [*plan.warnings]
        warnings += [f"{c.name}: {c.message}" for c in plan.checks if not c.ok]
        warnings.append(
            f"After step {names.index('switch') + 1} (the switch) there is no way back: the deploys use the new "
            "database. Until then a "
            "cancel or a failure rolls back, and the current database is never changed."
        )
        self.warnings.setText("<br>".join(f"⚠ {w}" for w in warnings))
        self.status.setText(
            "Ready: nothing has changed yet. Start the upgrade when the maintenance window suits the deploys."
            if plan.ok
            else "<b>A pre-flight check failed</b>, so the upgrade cannot start: fix it, then go Back and Next "
            "to check again."
        )
        self.completeChanged.emit()

    def _show_routes(self, plan: UpgradePlan | None) -> None:
        """The route chooser, when the plan offers more than one way: each with its estimate, those not
        available greyed with the reason as their tooltip."""
        self.route.clear()
        routes = plan.routes if plan is not None else ()
        self.route.setVisible(bool(routes))
        self.route_label.setVisible(bool(routes))
        missing = [r for r in routes if not r.available]
        self.route_note.setText("<br>".join(f"<i>{r.text}</i> is not available: {r.reason}" for r in missing))
        self.route_note.setVisible(bool(missing))
        model = self.route.model()
        for route in routes:
            text = f"{route.text}: about {human_seconds(route.estimate_seconds)}" + (
                " (the shorter window)" if route.shortest else ""
            )
            if not route.available:
                text += " (not available)"
            self.route.addItem(text, route.name)
            index = self.route.count() - 1
            self.route.setItemData(index, route.reason or route.text, Qt.ItemDataRole.ToolTipRole)
            if not route.available and isinstance(model, QStandardItemModel):
                item = model.item(index)
                if item is not None:
                    item.setEnabled(False)
            if plan is not None and route.name == plan.route:
                self.route.setCurrentIndex(index)

    def _route_chosen(self, index: int) -> None:
        route = str(self.route.itemData(index) or procedure.RouteName.COPY.value)
        if route != self.chosen_route:
            self.chosen_route = route
            self.initializePage()  # plan again: each route has its own steps, checks and estimate

    def _show_keep_until(self) -> None:
        until = (datetime.now(UTC) + timedelta(days=self.keep_days.value())).date().isoformat()
        self.keep_until.setText(f"after the switch (until about {until}); then Changeover reminds you to drop it.")

    def isComplete(self) -> bool:  # noqa: N802
        return self.plan is not None and self.plan.ok and not self.starting

    def validatePage(self) -> bool:  # noqa: N802
        """Start the run (a job), then go on when it is journaled: ``start_upgrade`` is called here."""
        if self.wiz.run_info is not None:
            return True
        if self.plan is None or self.starting:
            return False
        plan = dataclasses.replace(self.plan, keep_days=self.keep_days.value())
        self.starting = True
        self.completeChanged.emit()
        self.status.setText("Starting: journaling the run and taking the database's lock…")
        self.wiz.work(
            lambda: procedure.start_upgrade(self.wiz.workspace, plan),
            name="start the upgrade",
            on_finished=self._started,
            on_failed=self._start_failed,
        )
        return False

    def _started(self, run: RunInfo) -> None:
        self.wiz.run_info = run
        self.wiz.changed()
        self.wiz.next()

    def _start_failed(self, error: BaseException) -> None:
        self.starting = False
        self.status.setText(f"<b>The upgrade did not start:</b> {error_text(error)}")
        self.completeChanged.emit()
