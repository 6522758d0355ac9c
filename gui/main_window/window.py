"""The main window: deploys by app and environment, the selected deploy's resources and config, every
resource with its state, the audit trail, and a status bar saying where secrets and inventory live.

Views only: every action opens a dialog or calls the :class:`~changeover.gui.controller.MainController`,
which runs the use case on a worker thread; the window redraws from what comes back.

Why about 600 lines: the panes, the status bar and the table models live in their own modules; what stays
is one short method per menu action (open its dialog, hand the answer to the controller) and the selection
state they share. Splitting those actions off would pass that state around or make the window a mixin of
its own parts; the next feature that adds actions should move the Resource menu's into their own module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QByteArray, QEvent, QItemSelection, QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QTabWidget,
)

from changeover.core import __version__, handles, paths
from changeover.core.checks import ResourceCheck
from changeover.core.errors import ChangeoverError
from changeover.core.history import DeployDetail, ResourceDetail
from changeover.core.inventory.models import ResourceState
from changeover.core.records import ConfigVar, DeployInfo, EventInfo, ResourceInfo
from changeover.core.uses import Use

from .. import errors
from ..controller import MainController, Snapshot
from ..dialogs import (
    AttachDialog,
    ConfirmDialog,
    CredentialsDialog,
    DeployDialog,
    DeprovisionDialog,
    DetachDialog,
    KeepUntilDialog,
    RegisterDialog,
    ServersDialog,
    SwapDialog,
    error_box,
)
from ..dialogs.errors import Fix, fix_for
from ..dialogs.help import LocationsDialog, ShortcutsDialog, about_text
from ..dialogs.preferences import PreferencesDialog
from ..dialogs.work import WorkDialog
from ..icons import get_colored_icon
from ..models import (
    PAYLOAD_ROLE,
    credentials_from,
)
from .actions import build_actions, build_menus
from .activity import ActivityPane
from .backup_actions import BackupActions
from .deploys import DeployPane, DeploysPane
from .details import DetailDock
from .resources import ResourcesPane
from .status_bar import StatusBar, readable_location
from .tables import size_columns

logger = logging.getLogger(__name__)

#: the smallest the window gets: every pane, the detail dock and the toolbar still fit at 800 px
MINIMUM_SIZE = (800, 540)
#: the most of the window's width the detail dock keeps when the window is made narrower
DOCK_SHARE = 0.45
#: how long a resource stays selected before the seconds-long "who uses it" read starts (milliseconds)
USES_AFTER_MS = 250


class MainWindow(QMainWindow):
    #: emitted each time the window has redrawn from a fresh read of the inventory
    refreshed = Signal()
    #: emitted when the selected deploy's config has been shown
    config_shown = Signal(str)
    #: emitted when the deprovision dialog has opened (after the core said whether it may)
    deprovision_dialog_opened = Signal()
    #: emitted when the preferences dialog has opened (after the settings were read)
    preferences_opened = Signal()

    def __init__(self, controller: MainController, settings: QSettings | None = None) -> None:
        super().__init__()
        self.controller = controller
        self.settings = settings or QSettings()
        self.setWindowTitle("Changeover")
        self.setObjectName("changeover_main_window")
        self.setMinimumSize(MINIMUM_SIZE[0], MINIMUM_SIZE[1])
        self.snapshot: Snapshot | None = None
        self.resources_by_name: dict[str, ResourceInfo] = {}
        self.health: dict[str, ResourceCheck] = {}  # each resource's last kept health result
        self.dialog: QDialog | None = None  # the dialog an action opened last (tests drive it)
        self.message_box: QMessageBox | None = None
        self.credentials_dialog: CredentialsDialog | None = None
        self.servers_dialog: ServersDialog | None = None
        self.work_dialog: WorkDialog | None = None  # the progress of the last long action (deprovision, provision)
        self._resource_choice = ""
        #: opens a file or folder in the desktop's application (Help ▸ Where…, Preferences; tests record here)
        self.opener: Callable[[QUrl], object] = QDesktopServices.openUrl
        self._build_actions()
        self._build_menus()
        self._build_body()
        self._build_status_bar()
        self._connect()
        #: the backups tab's Restore…, Test-restore, Delete… and the runs' Save change record…
        self.backup_actions = BackupActions(self)
        self._restore_geometry()
        self._update_actions()
        self.controller.health_timer.start()  # re-check the attached resources in the background

    # -- building -------------------------------------------------------------------------------

    def _build_actions(self) -> None:
        self.actions_by_key = build_actions(self)

    def action(self, key: str) -> QAction:
        return self.actions_by_key[key]

    def _build_menus(self) -> None:
        build_menus(self, self.action)

    def _build_body(self) -> None:
        self.deploys_pane = DeploysPane(self.action("demo"))
        filter_action = QAction(self)
        filter_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Find))
        filter_action.triggered.connect(lambda: self.deploys_pane.filter.setFocus(Qt.FocusReason.ShortcutFocusReason))
        self.addAction(filter_action)
        self.deploy_pane = DeployPane()
        keys = ("attach", "detach", "swap", "keep_until", "deprovision", "upgrade", "credentials")
        self.resources_pane = ResourcesPane([self.action(key) for key in keys])
        self.activity_pane = ActivityPane()
        # The panes' parts, by the names the tests, screenshots and benchmarks use.
        self.deploy_filter, self.deploy_view = self.deploys_pane.filter, self.deploys_pane.view
        self.deploy_model, self.deploy_proxy = self.deploys_pane.model, self.deploys_pane.proxy
        self.welcome, self.demo_button = self.deploys_pane.welcome, self.deploys_pane.demo_button
        self.deploy_title = self.deploy_pane.title
        self.attachments_model, self.attachments_view = (
            self.deploy_pane.attachments_model,
            self.deploy_pane.attachments_view,
        )
        self.config_model, self.config_view = self.deploy_pane.config_model, self.deploy_pane.config_view
        self.state_filter, self.resource_filter = self.resources_pane.state_filter, self.resources_pane.text_filter
        self.resources_model, self.resources_proxy = self.resources_pane.model, self.resources_pane.proxy
        self.resources_view = self.resources_pane.view
        self.activity_filter, self.object_names = self.activity_pane.filter, self.activity_pane.object_names
        self.events_model, self.events_view = self.activity_pane.model, self.activity_pane.view

        self.top_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.top_splitter.setObjectName("top_splitter")
        self.deploys_pane.setMinimumWidth(190)  # a deploy's name stays readable at 800 px
        self.top_splitter.addWidget(self.deploys_pane)
        self.top_splitter.addWidget(self.deploy_pane)
        self.top_splitter.setStretchFactor(0, 1)
        self.top_splitter.setStretchFactor(1, 3)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Resources and activity")
        self.tabs.addTab(self.resources_pane, "Reso&urces")
        self.tabs.addTab(self.activity_pane, "Acti&vity")

        self.main_splitter = QSplitter(Qt.Orientation.Vertical)
        self.main_splitter.setObjectName("main_splitter")
        self.main_splitter.addWidget(self.top_splitter)
        self.main_splitter.addWidget(self.tabs)
        self.main_splitter.setStretchFactor(0, 1)
        self.main_splitter.setStretchFactor(1, 1)
        self.setCentralWidget(self.main_splitter)

        # The selection's whole story, beside the tables (View ▸ Details toggles it).
        self.detail_dock = DetailDock(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.detail_dock)
        toggle = self.detail_dock.toggleViewAction()
        toggle.setText("&Details of the selection")
        toggle.setShortcut(QKeySequence("Ctrl+Shift+I"))
        toggle.setObjectName("action_details")
        self.actions_by_key["details"] = toggle
        view_menu = self.menuBar().findChild(QMenu, "menu_view")
        assert view_menu is not None
        view_menu.addAction(toggle)
        self.detail_subject: tuple[str, str] | None = None  # ("resource" | "deploy", name) the dock follows
        self._restoring = False  # True while a new snapshot re-selects rows: that is not the user choosing
        self._object_names: list[str] = []  # what the activity filter completes, as last set

    def _build_status_bar(self) -> None:
        self.status_bar = StatusBar()
        self.setStatusBar(self.status_bar)
        self.keyring_label, self.keyring_icon = self.status_bar.keyring_label, self.status_bar.keyring_icon
        self.inventory_label, self.busy_label = self.status_bar.inventory_label, self.status_bar.busy_label

    def _connect(self) -> None:
        c = self.controller
        c.snapshot_loaded.connect(self.show_snapshot)
        c.config_loaded.connect(self.show_config)
        c.events_loaded.connect(self._show_events)
        c.health_checked.connect(self.show_health)
        c.changed.connect(lambda text: self.statusBar().showMessage(text, 8000))
        c.failed.connect(self.show_error)
        c.resource_detail_loaded.connect(self._show_resource_detail)
        c.deploy_detail_loaded.connect(self._show_deploy_detail)
        c.busy_changed.connect(self.status_bar.set_busy)
        self.deploy_filter.textChanged.connect(self._filter_deploys)
        # a read of the inventory sorts the resources off the GUI thread, in the order the table shows
        c.resource_sort = self.resources_model.sort_state()
        self.resources_view.horizontalHeader().sortIndicatorChanged.connect(
            lambda column, order: setattr(c, "resource_sort", (column, order))
        )
        self.deploy_view.selectionModel().selectionChanged.connect(self._deploy_selected)
        self.resources_view.selectionModel().selectionChanged.connect(self._resource_selected)
        self.resources_pane.resource_selected.connect(self._load_uses)
        self.attachments_view.selectionModel().selectionChanged.connect(self._attachment_selected)
        self.activity_filter.textChanged.connect(self._activity_filter_changed)
        handlers = {
            "demo": c.open_demo,
            "refresh": c.refresh,
            "quit": self.close,
            "add_deploy": self.add_deploy,
            "import_deploy": self.import_deploy,
            "edit_deploy": self.edit_deploy,
            "remove_deploy": self.remove_deploy,
            "restart": lambda: self._with_deploy(c.restart),
            "maintenance_on": lambda: self._with_deploy(lambda name: c.set_maintenance(name, True)),
            "maintenance_off": lambda: self._with_deploy(lambda name: c.set_maintenance(name, False)),
            "register": self.register_resource,
            "attach": self.attach,
            "detach": self.detach,
            "keep_until": self.keep_until,
            "swap": self.swap_resource,
            "deprovision": self.deprovision,
            "upgrade": self.upgrade_database,
            "health": self.check_health,
            "servers": self.show_servers,
            "credentials": self.show_credentials,
            "log": self.show_locations,
            "shortcuts": self.show_shortcuts,
            "about": self.show_about,
            "preferences": self.show_preferences,
        }
        for key, handler in handlers.items():
            self.action(key).triggered.connect(lambda _checked=False, h=handler: h())

    # -- settings -------------------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("main_window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 760)
        state = self.settings.value("main_window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        else:
            self.resizeDocks([self.detail_dock], [460], Qt.Orientation.Horizontal)
        splitters = (("main_window/main_splitter", self.main_splitter), ("main_window/top", self.top_splitter))
        for key, splitter in splitters:
            state = self.settings.value(key)
            if isinstance(state, QByteArray):
                splitter.restoreState(state)

    def save_geometry(self) -> None:
        self.settings.setValue("main_window/geometry", self.saveGeometry())
        self.settings.setValue("main_window/state", self.saveState())
        self.settings.setValue("main_window/main_splitter", self.main_splitter.saveState())
        self.settings.setValue("main_window/top", self.top_splitter.saveState())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_geometry()
        self.controller.runner.drop_delayed()  # a read that waits for the selection to rest is not wanted now
        for dialog in (self.credentials_dialog, self.servers_dialog):
            if dialog is not None:
                dialog.close()
        super().closeEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        # A narrower window gives the tables their room back: the dock keeps at most DOCK_SHARE of the width.
        dock = self.detail_dock
        if not dock.isHidden() and not dock.isFloating() and dock.width() > DOCK_SHARE * self.width():
            self.resizeDocks([dock], [int(DOCK_SHARE * 0.85 * self.width())], Qt.Orientation.Horizontal)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._recolor_icons()
        super().changeEvent(event)

    def _recolor_icons(self) -> None:
        palette = self.palette()
        for action in self.actions_by_key.values():
            name = action.data()
            if name:
                action.setIcon(get_colored_icon(str(name), palette))
        self.demo_button.setIcon(get_colored_icon("demo", palette))

    # -- showing --------------------------------------------------------------------------------

    def show_snapshot(self, snapshot: Snapshot) -> None:
        # The reads this redraw asks for (the deploy's config, who uses the resource, the detail) start once
        # it is done: a worker's Python would take the GIL from it every few milliseconds meanwhile.
        held = self.controller.runner.hold()
        self._restoring = True
        try:
            self._show_snapshot(snapshot)
            self._restoring = False
            self._reload_detail()
        finally:
            self._restoring = False
            if held:
                self.controller.runner.release()
        self.refreshed.emit()

    def _show_snapshot(self, snapshot: Snapshot) -> None:
        previous = self.selected_deploy()
        previous_resource = self._resource_choice
        self.snapshot = snapshot
        self.resources_by_name = {r.name: r for r in snapshot.resources}
        if self.deploy_model.set_deploys(snapshot.deploys, snapshot.deploys_read):
            self.deploy_view.expandAll()
        self.controller.deploys_shown = self.deploy_model.shown()
        self.attachments_model.set_context(self.resources_by_name)
        self.health = dict(snapshot.health)
        self.attachments_model.set_health(self.health, replace=True)
        self.resources_model.set_records(
            snapshot.resources, snapshot.resource_texts, presorted=snapshot.resource_sort, keys=snapshot.resource_keys
        )
        self._show_events(snapshot.events, snapshot.event_texts)
        size_columns(self.resources_view)
        empty = not snapshot.deploys and not snapshot.resources
        self.welcome.setVisible(empty)
        self.action("demo").setEnabled(empty)
        self.status_bar.show_keyring(snapshot.keyring)
        self.status_bar.show_inventory(snapshot.location)
        self.controller.set_health_interval(snapshot.health_minutes)
        servers = {s.name for s in snapshot.servers}
        names = sorted({d.name for d in snapshot.deploys} | set(self.resources_by_name) | servers)
        if names != self._object_names:  # a reset of 12,000 completions only when they changed
            self._object_names = names
            self.object_names.setStringList(names)
        if previous is not None:
            self.select_deploy(previous.name)
        elif snapshot.deploys and not self.deploy_view.selectionModel().hasSelection():
            self.select_deploy(sorted(snapshot.deploys, key=lambda d: (d.app, d.environment, d.name))[0].name)
        self._show_deploy(self.selected_deploy())
        asked = self.resources_pane.requests
        if previous_resource:
            self.select_resource(previous_resource)
        if self.resources_pane.requests == asked:
            self.resources_pane.ask_again()  # a deploy's config may have changed with the inventory
        self._show_resource_health()
        if self.credentials_dialog is not None:
            self.credentials_dialog.set_credentials(
                credentials_from(snapshot.resources, snapshot.servers), warn_days=self._secret_warn_days()
            )
        if self.servers_dialog is not None:
            self.servers_dialog.set_servers(snapshot.servers, self.resources_by_name)
        self._update_actions()

    def _show_events(self, events: list[EventInfo], texts: list[tuple[str, ...]] | None = None) -> None:
        self.activity_pane.show_events(events, texts)

    def show_config(self, deploy: str, variables: list[ConfigVar]) -> None:
        current = self.selected_deploy()
        if current is not None and current.name == deploy:
            self.deploy_pane.show_config(current, variables)
            self.config_shown.emit(deploy)

    def show_health(self, results: dict[str, ResourceCheck]) -> None:
        """Results just kept by a check: the health column and the selected resource's detail line."""
        self.health.update(results)
        self.attachments_model.set_health(results)
        self.deploy_pane.fit_health()
        self._show_resource_health()

    def _show_resource_health(self) -> None:
        name = self.resources_pane.selected_name()
        self.resources_pane.show_health(name, self.health.get(name) if name else None)

    def _show_deploy(self, deploy: DeployInfo | None) -> None:
        self.deploy_pane.show_deploy(deploy)
        if deploy is not None:
            self.controller.load_config(deploy.name)

    def show_error(self, error: BaseException) -> None:
        if isinstance(error, ChangeoverError):
            box = error_box(
                self, error.title, error.message, str(errors.log_file()),
                unexpected=False, fix=fix_for(error.message), on_fix=self.apply_fix,
            )  # fmt: skip
            box.open()
        else:
            box = errors.report(type(error), error, error.__traceback__, self)  # type: ignore[assignment]
        self.message_box = box

    # -- help and preferences -------------------------------------------------------------------

    def show_locations(self) -> LocationsDialog:
        """Help ▸ Where Changeover keeps things: the log, the inventory and the backups, each with Open."""
        if self.controller.is_open:
            location = self.controller.workspace.inventory.location
        else:  # asked in the moment before the inventory is open: where it is being opened from
            from changeover.core.inventory.db import inventory_url

            location = inventory_url().render_as_string(hide_password=True)
        readable = readable_location(location)
        inventory = Path(readable).expanduser() if location.startswith("sqlite:///") else None
        places = [
            ("Log", str(errors.log_file()), errors.log_file()),
            ("Inventory", readable, inventory),
            ("Backups", str(paths.backups_dir()), paths.backups_dir()),
        ]
        dialog = LocationsDialog(places, self, opener=self.opener)
        self._open(dialog)
        return dialog

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(list(self.actions_by_key.values()), self)
        self._open(dialog)
        return dialog

    def show_about(self) -> QMessageBox:
        keyring = self.snapshot.keyring if self.snapshot else ""
        box = QMessageBox(QMessageBox.Icon.NoIcon, "About Changeover", about_text(__version__, keyring))
        box.setParent(self, box.windowFlags())
        box.setIconPixmap(get_colored_icon("app").pixmap(64, 64))
        self.message_box = box
        box.open()
        return box

    def show_preferences(self) -> None:
        """File ▸ Preferences…: read the settings off the GUI thread, then open the dialog on them."""
        self.controller.read_settings(self._open_preferences)

    def _open_preferences(self, current: dict[str, str]) -> None:
        dialog = PreferencesDialog(current, paths.backups_dir(), self, opener=self.opener)
        dialog.accepted.connect(lambda: self.controller.save_settings(dialog.values()) if dialog.values() else None)
        self._open(dialog)
        self.preferences_opened.emit()

    def apply_fix(self, fix: Fix) -> None:
        """An error dialog's fix button: open the dialog that does what its message says to run."""
        if fix.action in ("replace_secret", "credentials"):
            if fix.subject and fix.subject in self.resources_by_name:
                self._resource_choice = fix.subject
            dialog = self.show_credentials()
            if fix.action == "replace_secret":
                dialog.replace_selected()
        elif fix.action == "edit_deploy":
            if fix.subject:
                self.select_deploy(fix.subject)
            self.edit_deploy()
        elif fix.action == "servers":
            self.show_servers()

    # -- selection ------------------------------------------------------------------------------

    def selected_deploy(self) -> DeployInfo | None:
        """The selected deploy as the last read of the inventory has it."""
        value = self.deploys_pane.selected()
        if value is None or self.snapshot is None:
            return None
        return next((d for d in self.snapshot.deploys if d.name == value.name), value)

    def select_deploy(self, name: str) -> bool:
        return self.deploys_pane.select(name)

    def selected_resource(self) -> ResourceInfo | None:
        return self.resources_by_name.get(self._resource_choice)

    def select_resource(self, name: str) -> bool:
        """Make ``name`` the resource the actions work on, and select its row if the filter shows it."""
        self.resources_pane.select(name)
        if name in self.resources_by_name:
            self._resource_choice = name
            self._update_actions()
            return True
        return False

    def _filter_deploys(self, text: str) -> None:
        previous = self.selected_deploy()
        self.deploy_model.set_filter(text)
        self.deploy_view.expandAll()
        if previous is not None:
            self.select_deploy(previous.name)

    def _deploy_selected(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        deploy = self.selected_deploy()
        self._show_deploy(deploy)
        if deploy is not None:
            self.follow("deploy", deploy.name)
        self._update_actions()

    def _resource_selected(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.resources_view.selectionModel().selectedRows()
        if rows:
            self._resource_choice = str(rows[0].data())
            self.follow("resource", self._resource_choice)
        self._show_resource_health()
        self._update_actions()

    # -- the detail dock ------------------------------------------------------------------------

    def follow(self, kind: str, name: str) -> None:
        """Show ``name``'s story in the detail dock (a re-selection while a snapshot is drawn is not a choice)."""
        if self._restoring:
            return
        self.detail_subject = (kind, name)
        self._load_detail()

    def _load_detail(self) -> None:
        if self.detail_subject is None:
            self.detail_dock.show_prompt()
            return
        kind, name = self.detail_subject
        if kind == "resource":
            self.controller.load_resource_detail(name)
        else:
            self.controller.load_deploy_detail(name)

    def _reload_detail(self) -> None:
        """After a fresh read: the same subject again if it still exists, else the selected deploy."""
        subject = self.detail_subject
        known = (
            self.snapshot is not None
            and subject is not None
            and (
                subject[1] in self.resources_by_name
                if subject[0] == "resource"
                else any(d.name == subject[1] for d in self.snapshot.deploys)
            )
        )
        if not known:
            deploy = self.selected_deploy()
            self.detail_subject = ("deploy", deploy.name) if deploy is not None else None
        self._load_detail()

    def _show_resource_detail(self, detail: ResourceDetail) -> None:
        if self.detail_subject == ("resource", detail.resource.name):  # an answer for an older choice is dropped
            self.detail_dock.show_resource(detail)

    def _show_deploy_detail(self, detail: DeployDetail) -> None:
        if self.detail_subject == ("deploy", detail.deploy.name):
            self.detail_dock.show_deploy(detail)

    def _load_uses(self, resource: str) -> None:
        """Who uses the selected resource, once the selection has stayed USES_AFTER_MS.

        That read takes seconds (every deploy's config, in Python) and keeps the GIL busy meanwhile: started
        at once, the selection's detail (milliseconds) would wait behind it at every step, and moving through
        the rows would start one such read per row."""
        pane = self.resources_pane

        def show(uses: list[Use]) -> None:
            if shiboken6.isValid(pane):  # the answer may come after the window has closed
                pane.show_uses(resource, uses)

        self.controller.uses(resource, show, follows_selection=True, delay_ms=USES_AFTER_MS)

    def _attachment_selected(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.attachments_view.selectionModel().selectedRows()
        if rows:
            self._resource_choice = str(rows[0].data(PAYLOAD_ROLE).resource)
            self.follow("resource", self._resource_choice)
        self._update_actions()

    def _activity_filter_changed(self, text: str) -> None:
        self.controller.load_events(text.strip())

    def _update_actions(self) -> None:
        deploy = self.selected_deploy()
        resource = self.selected_resource()
        for key in ("edit_deploy", "remove_deploy", "restart", "maintenance_on", "maintenance_off"):
            self.action(key).setEnabled(deploy is not None)
        checkable = bool(deploy and deploy.attachments) or self.resources_pane.selected_name() is not None
        self.action("health").setEnabled(checkable)
        gone = (ResourceState.DEPROVISIONED, ResourceState.FAILED)
        live = resource is not None and resource.state not in gone
        attachable = bool(self.snapshot and any(r.state not in gone for r in self.snapshot.resources))
        attach = self.action("attach")
        if resource is not None and not live:
            # A failed upgrade target (or a deprovisioned resource) is attached nowhere: the action would open on
            # another resource than the one selected.
            attach.setEnabled(False)
            attach.setToolTip(f"'{resource.name}' is {resource.state}: it cannot be attached. Select another resource.")
        else:
            attach.setEnabled(bool(self.snapshot and self.snapshot.deploys and attachable))
            attach.setToolTip(f"Attach a resource to a deploy ({attach.shortcut().toString()})")
        self.action("detach").setEnabled(bool(resource and resource.attachments))
        self.action("keep_until").setEnabled(bool(resource and resource.state == ResourceState.DETACHED))
        # A failed database (what a rolled-back upgrade leaves) is what the wizard says to deprovision.
        self.action("deprovision").setEnabled(resource is not None and resource.state != ResourceState.DEPROVISIONED)
        self.action("swap").setEnabled(live)
        is_database = live and resource is not None and resource.kind in handles.DATABASE_KINDS
        upgrade = self.action("upgrade")
        upgrade.setEnabled(is_database)
        upgrade.setToolTip(
            "Move this database to a newer server (Ctrl+U)"
            if is_database
            else "Upgrade database… works on a database resource (PostgreSQL, MySQL/MariaDB, SQLite): select one."
        )

    def _with_deploy(self, run: Any) -> None:
        deploy = self.selected_deploy()
        if deploy is not None:
            run(deploy.name)

    # -- actions --------------------------------------------------------------------------------

    def _open(self, dialog: QDialog) -> QDialog:
        self.dialog = dialog
        dialog.open()
        return dialog

    def add_deploy(self) -> DeployDialog:
        return self._new_deploy_dialog("add", self.controller.add_deploy)

    def import_deploy(self) -> DeployDialog:
        """Import deploy from .env…: what was recognised is shown first; the import runs on confirmation."""
        dialog = self._new_deploy_dialog("import", self.controller.import_deploy)
        dialog.preview_requested.connect(
            lambda values: self.controller.preview_import(values, dialog.show_preview, dialog.show_preview_failed)
        )
        return dialog

    def _new_deploy_dialog(self, mode: str, submit: Any) -> DeployDialog:
        dialog = DeployDialog(mode, parent=self)
        dialog.accepted.connect(lambda: submit(dialog.values()))
        self._open(dialog)
        return dialog

    def edit_deploy(self) -> DeployDialog | None:
        deploy = self.selected_deploy()
        if deploy is None:
            return None
        dialog = DeployDialog("edit", deploy, parent=self)
        dialog.accepted.connect(lambda: self.controller.edit_deploy(deploy.name, dialog.changes()))
        self._open(dialog)
        return dialog

    def remove_deploy(self) -> ConfirmDialog | None:
        deploy = self.selected_deploy()
        if deploy is None:
            return None
        dialog = ConfirmDialog(
            f"Remove {deploy.name}",
            f"Forget the deploy {deploy.name}? Its .env file is left as it is. A deploy with attached resources "
            "cannot be removed: detach them first.",
            "&Remove",
            self,
            destructive=True,
        )
        dialog.accepted.connect(lambda: self.controller.remove_deploy(deploy.name))
        self._open(dialog)
        return dialog

    def register_resource(self) -> RegisterDialog:
        dialog = RegisterDialog(self)
        dialog.test_requested.connect(lambda text: self.controller.test_connection(text, dialog.show_test_result))
        dialog.accepted.connect(lambda: self.controller.register_resource(*dialog.values()))
        self._open(dialog)
        return dialog

    def attach(self) -> AttachDialog | None:
        if self.snapshot is None:
            return None
        deploy = self.selected_deploy()
        dialog = AttachDialog(
            self.snapshot.resources,
            self.snapshot.deploys,
            resource=self._resource_choice or None,
            deploy=deploy.name if deploy else None,
            parent=self,
            health=self.health,
        )
        dialog.accepted.connect(lambda: self.controller.attach(*dialog.values()))
        self._open(dialog)
        return dialog

    def detach(self) -> DetachDialog | None:
        resource = self.selected_resource()
        if resource is None or not resource.attachments:
            return None
        dialog = DetachDialog(resource, parent=self)
        deploy = self.selected_deploy()
        if deploy is not None and dialog.deploy.findData(deploy.name) >= 0:
            dialog.deploy.setCurrentIndex(dialog.deploy.findData(deploy.name))
        self.controller.retention_days(lambda days: dialog.keep_days.setValue(int(days)))
        dialog.accepted.connect(lambda: self.controller.detach(*dialog.values()))
        self._open(dialog)
        return dialog

    def keep_until(self) -> KeepUntilDialog | None:
        resource = self.selected_resource()
        if resource is None or resource.state != "detached":
            return None
        dialog = KeepUntilDialog(resource, self)
        dialog.accepted.connect(lambda: self.controller.set_keep_until(*dialog.values()))
        self._open(dialog)
        return dialog

    def swap_resource(self) -> SwapDialog | None:
        """Swap for another…: the dialog for the selected resource; a database is pointed to the wizard."""
        resource = self.selected_resource()
        if resource is None or self.snapshot is None:
            return None
        dialog = SwapDialog(resource, self.snapshot.resources, parent=self)
        if not dialog.database:
            self.controller.retention_days(lambda days: dialog.keep_days.setValue(int(days)))
            self.controller.uses(resource.name, dialog.show_uses)  # hand-written uses are not swapped: say so
        dialog.accepted.connect(lambda: self._swap_accepted(dialog))
        self._open(dialog)
        return dialog

    def _swap_accepted(self, dialog: SwapDialog) -> None:
        if dialog.wants_upgrade:
            self.controller.request_upgrade(dialog.old.name)
        else:
            self.controller.swap(*dialog.values())

    def deprovision(self) -> None:
        """Ask the core whether the selected resource may be deprovisioned, then open the dialog."""
        resource = self.selected_resource()
        if resource is not None:
            self.controller.deprovision_refusal(resource.name, lambda reason: self._open_deprovision(resource, reason))

    def _open_deprovision(self, resource: ResourceInfo, refusal: str | None) -> None:
        servers = {s.name: s.kind for s in self.snapshot.servers} if self.snapshot else {}
        dialog = DeprovisionDialog(resource, refusal, self, server_kind=servers.get(resource.server or ""))
        dialog.accepted.connect(lambda: self._deprovision(dialog))
        self._open(dialog)
        self.deprovision_dialog_opened.emit()

    def _deprovision(self, dialog: DeprovisionDialog) -> WorkDialog:
        """The final backup, its test-restore and the drop take a while: a progress dialog with Cancel."""
        work = WorkDialog(f"Deprovision {dialog.resource.name}", self)
        work.follow(self.controller.deprovision(*dialog.values(), on_progress=work.show_progress))
        self.work_dialog = work
        return work

    def provision(self, server: str, name: str, plan: str | None, instance: Any) -> WorkDialog | None:
        """Provision on a server; an RDS instance takes minutes: its status changes in a progress dialog with Cancel."""
        if instance is None:
            self.controller.provision(server, name, plan)
            return None
        work = WorkDialog(f"Provision {name} on {server}", self.servers_dialog or self)
        work.follow(self.controller.provision(server, name, plan, instance, on_progress=work.show_progress))
        self.work_dialog = work
        return work

    def upgrade_database(self) -> None:
        """The "Upgrade database…" hook: hands the resource to whoever listens to upgrade_requested."""
        resource = self.selected_resource()
        if resource is not None and resource.kind in handles.DATABASE_KINDS:
            self.controller.request_upgrade(resource.name)

    def health_targets(self) -> list[str]:
        """What Check health works on: the resource selected in the Resources table when that table has
        the focus, else the selected deploy's attached resources (else the resource selected there)."""
        chosen = self.resources_pane.selected_name()
        if chosen and self.resources_view.hasFocus():
            return [chosen]
        deploy = self.selected_deploy()
        if deploy is not None and deploy.attachments:
            return [a.resource for a in deploy.attachments]
        return [chosen] if chosen else []

    def check_health(self) -> None:
        """Check health (Ctrl+H): the selected resources now, off the GUI thread."""
        names = self.health_targets()
        if names:
            self.controller.check_health(names)

    def _secret_warn_days(self) -> int:
        """The age past which the credentials manager marks a secret old (the ``secret_warn_days`` setting)."""
        if not self.controller.is_open:  # asked in the moment before the inventory is open
            from changeover.core.context import DEFAULT_SECRET_WARN_DAYS

            return DEFAULT_SECRET_WARN_DAYS
        return int(self.controller.workspace.setting("secret_warn_days"))

    def show_credentials(self) -> CredentialsDialog:
        if self.credentials_dialog is None:
            dialog = CredentialsDialog(self)
            dialog.reveal_requested.connect(
                lambda name: self.controller.reveal(name, lambda full: dialog.show_revealed(name, full))
            )
            dialog.replace_requested.connect(self.controller.replace_secret)
            dialog.rotate_requested.connect(self.controller.rotate)
            self.credentials_dialog = dialog
        dialog = self.credentials_dialog
        snapshot = self.snapshot
        dialog.set_credentials(
            credentials_from(snapshot.resources, snapshot.servers) if snapshot else [],
            warn_days=self._secret_warn_days(),
        )
        if self._resource_choice:
            dialog.select(self._resource_choice)
        dialog.show()
        dialog.raise_()
        return dialog

    def show_servers(self) -> ServersDialog:
        """Tools ▸ Servers…: register and remove database servers, provision databases on them."""
        if self.servers_dialog is None:
            dialog = ServersDialog(self)
            dialog.register_requested.connect(self.controller.register_server)
            dialog.remove_requested.connect(self.controller.remove_server)
            dialog.provision_requested.connect(self.provision)
            self.servers_dialog = dialog
        dialog = self.servers_dialog
        snapshot = self.snapshot
        dialog.set_servers(list(snapshot.servers) if snapshot else [], self.resources_by_name)
        dialog.show()
        dialog.raise_()
        return dialog
