"""The main window: deploys by app and environment, the selected deploy's resources and config, every
resource with its state, the audit trail, and a status bar saying where secrets and inventory live.

Views only: every action opens a dialog or calls the :class:`~changeover.gui.controller.MainController`,
which runs the use case on a worker thread; the window redraws from what comes back.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QItemSelection, QSettings, QStringListModel, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from changeover.core import handles
from changeover.core.errors import ChangeoverError
from changeover.core.secrets import KEPT_IN
from changeover.core.workspace import DeployInfo, ResourceInfo

from . import errors
from .controller import MainController, Snapshot
from .dialogs import (
    AttachDialog,
    ConfirmDialog,
    CredentialsDialog,
    DeployDialog,
    DeprovisionDialog,
    DetachDialog,
    KeepUntilDialog,
    RegisterDialog,
    ServersDialog,
    error_box,
)
from .icons import get_colored_icon
from .models import (
    PAYLOAD_ROLE,
    AttachmentsModel,
    ConfigModel,
    DeployTreeModel,
    EventsModel,
    ResourceFilterProxy,
    ResourcesModel,
    credentials_from,
    record_proxy,
    tree_proxy,
)

logger = logging.getLogger(__name__)
#: the status bar's colour for "no usable keyring" (the failed-state red of the tables)
KEYRING_WARNING_COLOR = "#c62828"


def _table(name: str, description: str) -> QTableView:
    view = QTableView()
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setSortingEnabled(True)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.setWordWrap(False)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    view.horizontalHeader().setResizeContentsPrecision(100)  # size columns from 100 rows, not 10,000
    view.setAccessibleName(name)
    view.setAccessibleDescription(description)
    view.setObjectName(name.replace(" ", "_").lower())
    return view


class MainWindow(QMainWindow):
    #: emitted each time the window has redrawn from a fresh read of the inventory
    refreshed = Signal()
    #: emitted when the selected deploy's config has been shown
    config_shown = Signal(str)

    ACTIONS: tuple[tuple[str, str, str, str | QKeySequence.StandardKey | None, str], ...] = (
        # key, text (with mnemonic), icon, shortcut, status tip
        ("demo", "Open the &demo workspace", "demo", "Ctrl+Shift+D", "Create a sample deploy to try Changeover on"),
        ("refresh", "&Refresh", "refresh", QKeySequence.StandardKey.Refresh, "Read the inventory again"),
        ("quit", "&Quit", "", QKeySequence.StandardKey.Quit, "Close Changeover"),
        ("add_deploy", "&Add deploy…", "add", QKeySequence.StandardKey.New, "Add a deploy by its .env file"),
        ("import_deploy", "&Import deploy from .env…", "import", "Ctrl+I", "Add a deploy and the resources it uses"),
        ("edit_deploy", "&Edit deploy…", "edit", "Ctrl+E", "Change the selected deploy"),
        ("remove_deploy", "Re&move deploy…", "remove", "Ctrl+Shift+Del", "Forget the selected deploy"),
        ("restart", "Res&tart deploy", "restart", "Ctrl+Shift+R", "Run the selected deploy's restart hook"),
        ("maintenance_on", "Maintenance o&n", "maintenance", "Ctrl+Shift+M", "Put the deploy in maintenance"),
        ("maintenance_off", "Maintenance o&ff", "maintenance", "Ctrl+Alt+M", "Take the deploy out of maintenance"),
        ("register", "&Register resource…", "register", "Ctrl+Shift+N", "Register a resource by its handle"),
        ("attach", "&Attach…", "attach", "Ctrl+T", "Attach a resource to a deploy"),
        ("detach", "&Detach…", "detach", "Ctrl+D", "Detach the selected resource from a deploy"),
        ("keep_until", "&Keep until…", "keep", "Ctrl+K", "Keep a detached resource longer"),
        ("deprovision", "De&provision…", "deprovision", "Ctrl+Del", "Forget (and drop) a detached resource"),
        ("upgrade", "&Upgrade database…", "upgrade", "Ctrl+U", "Move the database to a newer server"),
        ("health", "Check &health", "health", "Ctrl+H", "Test the connection to each attached resource"),
        ("servers", "&Servers…", "server", "Ctrl+Shift+S", "Database servers Changeover provisions databases on"),
        ("credentials", "&Credentials…", "key", "Ctrl+Shift+K", "Secrets Changeover keeps in the keyring"),
        ("log", "Show the &log file's location", "", None, "Where Changeover writes its log"),
    )

    def __init__(self, controller: MainController, settings: QSettings | None = None) -> None:
        super().__init__()
        self.controller = controller
        self.settings = settings or QSettings()
        self.setWindowTitle("Changeover")
        self.setObjectName("changeover_main_window")
        self.snapshot: Snapshot | None = None
        self.resources_by_name: dict[str, ResourceInfo] = {}
        self.dialog: QDialog | None = None  # the dialog an action opened last (tests drive it)
        self.message_box: QMessageBox | None = None
        self.credentials_dialog: CredentialsDialog | None = None
        self.servers_dialog: ServersDialog | None = None
        self._resource_choice = ""
        self.actions_by_key: dict[str, QAction] = {}
        self._build_actions()
        self._build_menus()
        self._build_body()
        self._build_status_bar()
        self._connect()
        self._restore_geometry()
        self._update_actions()

    # -- building -------------------------------------------------------------------------------

    def _build_actions(self) -> None:
        for key, text, icon, shortcut, tip in self.ACTIONS:
            action = QAction(text, self)
            action.setObjectName(f"action_{key}")
            if icon:
                action.setIcon(get_colored_icon(icon))
                action.setData(icon)
            if shortcut is not None:
                action.setShortcut(QKeySequence(shortcut))
            action.setStatusTip(tip)
            action.setToolTip(f"{text.replace('&', '').rstrip('…')} ({action.shortcut().toString()})")
            self.actions_by_key[key] = action
            self.addAction(action)
        self.actions_by_key["quit"].setMenuRole(QAction.MenuRole.QuitRole)

    def action(self, key: str) -> QAction:
        return self.actions_by_key[key]

    def _build_menus(self) -> None:
        bar = self.menuBar()
        menus: dict[str, list[str | None]] = {
            "&File": ["demo", "refresh", None, "log", None, "quit"],
            "&Deploy": ["add_deploy", "import_deploy", "edit_deploy", "remove_deploy", None, "restart"]
            + ["maintenance_on", "maintenance_off"],
            "&Resource": ["register", "attach", "detach", "keep_until", "deprovision", None, "upgrade", "health"],
            "&Tools": ["servers", "credentials"],
        }
        for title, keys in menus.items():
            menu = bar.addMenu(title)
            for key in keys:
                if key is None:
                    menu.addSeparator()
                else:
                    menu.addAction(self.action(key))
        toolbar = self.addToolBar("Actions")
        toolbar.setObjectName("main_toolbar")
        toolbar.setAccessibleName("Actions")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for key in ("add_deploy", "import_deploy", None, "register", "attach", "detach", "deprovision", None):
            if key is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(self.action(key))
        for key in ("upgrade", "credentials", "refresh"):
            toolbar.addAction(self.action(key))

    def _build_body(self) -> None:
        # Deploys, grouped by app and environment, with a filter box (applied by the model).
        self.deploy_filter = QLineEdit()
        self.deploy_filter.setPlaceholderText("Filter deploys (Ctrl+F)")
        self.deploy_filter.setClearButtonEnabled(True)
        self.deploy_filter.setAccessibleName("Filter deploys")
        filter_action = QAction(self)
        filter_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Find))
        filter_action.triggered.connect(lambda: self.deploy_filter.setFocus(Qt.FocusReason.ShortcutFocusReason))
        self.addAction(filter_action)
        self.deploy_model = DeployTreeModel(self)
        self.deploy_proxy = tree_proxy(self.deploy_model, self)
        self.deploy_view = QTreeView()
        self.deploy_view.setModel(self.deploy_proxy)
        self.deploy_view.setSortingEnabled(True)
        self.deploy_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.deploy_view.setUniformRowHeights(True)
        self.deploy_view.setAccessibleName("Deploys")
        self.deploy_view.setAccessibleDescription("Deploys grouped by app and environment")
        self.deploy_view.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.deploy_view.header().setStretchLastSection(False)
        self.welcome = QFrame()
        self.welcome.setFrameShape(QFrame.Shape.StyledPanel)
        welcome_text = QLabel(
            "<b>Your inventory is empty.</b><br>Add a deploy by its .env file, import one, or try Changeover on "
            "a sample deploy with a SQLite database."
        )
        welcome_text.setWordWrap(True)
        self.demo_button = QPushButton(get_colored_icon("demo"), "Open the &demo workspace")
        self.demo_button.setAccessibleName("Open the demo workspace")
        self.demo_button.clicked.connect(self.action("demo").trigger)
        welcome_layout = QVBoxLayout(self.welcome)
        welcome_layout.addWidget(welcome_text)
        welcome_layout.addWidget(self.demo_button)
        self.welcome.hide()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.deploy_filter)
        left_layout.addWidget(self.welcome)
        left_layout.addWidget(self.deploy_view)

        # The selected deploy: attached resources and other config variables.
        self.deploy_title = QLabel("Select a deploy")
        self.deploy_title.setAccessibleName("Selected deploy")
        self.deploy_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.attachments_model = AttachmentsModel(self)
        self.attachments_proxy = record_proxy(self.attachments_model, self)
        self.attachments_view = _table("Attached resources", "Resources attached to the selected deploy")
        self.attachments_view.setModel(self.attachments_proxy)
        self.config_model = ConfigModel(self)
        self.config_proxy = record_proxy(self.config_model, self)
        self.config_view = _table("Config variables", "The selected deploy's other config variables, masked")
        self.config_view.setModel(self.config_proxy)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.deploy_title)
        right_layout.addWidget(QLabel("Attached resources"))
        right_layout.addWidget(self.attachments_view, 1)
        right_layout.addWidget(QLabel("Other config variables"))
        right_layout.addWidget(self.config_view, 1)

        self.top_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.top_splitter.setObjectName("top_splitter")
        self.top_splitter.addWidget(left)
        self.top_splitter.addWidget(right)
        self.top_splitter.setStretchFactor(0, 1)
        self.top_splitter.setStretchFactor(1, 3)

        # All resources with a state filter.
        self.state_filter = QComboBox()
        for text, state in (("All", "all"), ("Attached", "attached"), ("Detached", "detached")):
            self.state_filter.addItem(text, state)
        self.state_filter.setAccessibleName("Resource state filter")
        state_label = QLabel("&State:")
        state_label.setBuddy(self.state_filter)
        self.resource_filter = QLineEdit()
        self.resource_filter.setPlaceholderText("Filter resources")
        self.resource_filter.setClearButtonEnabled(True)
        self.resource_filter.setAccessibleName("Filter resources")
        self.resources_model = ResourcesModel(self)
        self.resources_proxy = ResourceFilterProxy(self)
        self.resources_proxy.setSourceModel(self.resources_model)
        self.resources_view = _table("Resources", "Every resource in the inventory")
        self.resources_view.setModel(self.resources_proxy)
        self.resources_view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for key in ("attach", "detach", "keep_until", "deprovision", "upgrade", "credentials"):
            self.resources_view.addAction(self.action(key))
        resources_tab = QWidget()
        bar = QHBoxLayout()
        bar.addWidget(state_label)
        bar.addWidget(self.state_filter)
        bar.addWidget(self.resource_filter, 1)
        resources_layout = QVBoxLayout(resources_tab)
        resources_layout.addLayout(bar)
        resources_layout.addWidget(self.resources_view)

        # The activity pane: the audit trail, newest first, by object.
        self.activity_filter = QLineEdit()
        self.activity_filter.setPlaceholderText("All objects (type a deploy, resource or server name)")
        self.activity_filter.setClearButtonEnabled(True)
        self.activity_filter.setAccessibleName("Activity object filter")
        self.object_names = QStringListModel(self)
        completer = QCompleter(self.object_names, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.activity_filter.setCompleter(completer)
        activity_label = QLabel("&Object:")
        activity_label.setBuddy(self.activity_filter)
        self.events_model = EventsModel(self)
        self.events_proxy = record_proxy(self.events_model, self)
        self.events_view = _table("Activity", "The audit trail, newest first")
        self.events_view.setModel(self.events_proxy)
        self.events_view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        activity_tab = QWidget()
        activity_bar = QHBoxLayout()
        activity_bar.addWidget(activity_label)
        activity_bar.addWidget(self.activity_filter, 1)
        activity_layout = QVBoxLayout(activity_tab)
        activity_layout.addLayout(activity_bar)
        activity_layout.addWidget(self.events_view)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Resources and activity")
        self.tabs.addTab(resources_tab, "Reso&urces")
        self.tabs.addTab(activity_tab, "Acti&vity")

        self.main_splitter = QSplitter(Qt.Orientation.Vertical)
        self.main_splitter.setObjectName("main_splitter")
        self.main_splitter.addWidget(self.top_splitter)
        self.main_splitter.addWidget(self.tabs)
        self.main_splitter.setStretchFactor(0, 1)
        self.main_splitter.setStretchFactor(1, 1)
        self.setCentralWidget(self.main_splitter)

    def _build_status_bar(self) -> None:
        self.keyring_label = QLabel("Keyring: …")
        self.keyring_label.setAccessibleName("Keyring status")
        self.inventory_label = QLabel("Inventory: …")
        self.inventory_label.setAccessibleName("Inventory location")
        self.inventory_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.busy_label = QLabel("")
        self.busy_label.setAccessibleName("Work in progress")
        self.keyring_icon = QLabel()
        status = self.statusBar()
        status.addWidget(self.keyring_icon)
        status.addWidget(self.keyring_label)
        status.addWidget(self.inventory_label, 1)
        status.addPermanentWidget(self.busy_label)

    def _connect(self) -> None:
        c = self.controller
        c.snapshot_loaded.connect(self.show_snapshot)
        c.config_loaded.connect(self.show_config)
        c.events_loaded.connect(self._show_events)
        c.health_checked.connect(self.attachments_model.set_health)
        c.health_checked.connect(lambda _health: self.attachments_view.resizeColumnToContents(4))
        c.changed.connect(lambda text: self.statusBar().showMessage(text, 8000))
        c.failed.connect(self.show_error)
        c.busy_changed.connect(lambda busy: self.busy_label.setText("Working…" if busy else ""))
        self.deploy_filter.textChanged.connect(self._filter_deploys)
        self.deploy_view.selectionModel().selectionChanged.connect(self._deploy_selected)
        self.state_filter.currentIndexChanged.connect(
            lambda _i: self.resources_proxy.set_state(str(self.state_filter.currentData()))
        )
        self.resource_filter.textChanged.connect(self.resources_proxy.set_text)
        self.resources_view.selectionModel().selectionChanged.connect(self._resource_selected)
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
            "deprovision": self.deprovision,
            "upgrade": self.upgrade_database,
            "health": self.check_health,
            "servers": self.show_servers,
            "credentials": self.show_credentials,
            "log": self.show_log_location,
        }
        for key, handler in handlers.items():
            self.action(key).triggered.connect(lambda _checked=False, h=handler: h())

    # -- settings -------------------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("main_window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 760)
        splitters = (("main_window/main_splitter", self.main_splitter), ("main_window/top", self.top_splitter))
        for key, splitter in splitters:
            state = self.settings.value(key)
            if isinstance(state, QByteArray):
                splitter.restoreState(state)

    def save_geometry(self) -> None:
        self.settings.setValue("main_window/geometry", self.saveGeometry())
        self.settings.setValue("main_window/main_splitter", self.main_splitter.saveState())
        self.settings.setValue("main_window/top", self.top_splitter.saveState())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.save_geometry()
        for dialog in (self.credentials_dialog, self.servers_dialog):
            if dialog is not None:
                dialog.close()
        super().closeEvent(event)

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

    def _show_keyring(self, line: str) -> None:
        """The keyring's line from core: where secrets are kept, or a warning (icon, bold, red) saying what to do."""
        usable = line.startswith(KEPT_IN)
        self.keyring_icon.setPixmap(get_colored_icon("key" if usable else "warning").pixmap(16, 16))
        self.keyring_icon.setToolTip("" if usable else "No secret can be stored or read until this is fixed")
        self.keyring_label.setText(line if usable else f"Warning: {line}")
        font = self.keyring_label.font()
        font.setBold(not usable)
        self.keyring_label.setFont(font)
        self.keyring_label.setStyleSheet("" if usable else f"color: {KEYRING_WARNING_COLOR};")

    def show_snapshot(self, snapshot: Snapshot) -> None:
        previous = self.selected_deploy()
        previous_resource = self._resource_choice
        self.snapshot = snapshot
        self.resources_by_name = {r.name: r for r in snapshot.resources}
        if self.deploy_model.set_deploys(snapshot.deploys):
            self.deploy_view.expandAll()
        self.attachments_model.set_context(self.resources_by_name)
        self.resources_model.set_records(snapshot.resources, snapshot.resource_texts)
        self._show_events(snapshot.events, snapshot.event_texts)
        self._size_columns(self.resources_view)
        empty = not snapshot.deploys and not snapshot.resources
        self.welcome.setVisible(empty)
        self.action("demo").setEnabled(empty)
        self._show_keyring(snapshot.keyring)
        self.inventory_label.setText(f"Inventory: {snapshot.location}")
        servers = {s.name for s in snapshot.servers}
        self.object_names.setStringList(
            sorted({d.name for d in snapshot.deploys} | set(self.resources_by_name) | servers)
        )
        if previous is not None:
            self.select_deploy(previous.name)
        elif snapshot.deploys and not self.deploy_view.selectionModel().hasSelection():
            self.select_deploy(sorted(snapshot.deploys, key=lambda d: (d.app, d.environment, d.name))[0].name)
        self._show_deploy(self.selected_deploy())
        if previous_resource:
            self.select_resource(previous_resource)
        if self.credentials_dialog is not None:
            self.credentials_dialog.set_credentials(credentials_from(snapshot.resources, snapshot.servers))
        if self.servers_dialog is not None:
            self.servers_dialog.set_servers(snapshot.servers, self.resources_by_name)
        self._update_actions()
        self.refreshed.emit()

    def _show_events(self, events: list[Any], texts: list[tuple[str, ...]] | None = None) -> None:
        self.events_model.set_records(events, texts)
        self._size_columns(self.events_view)

    def _size_columns(self, view: QTableView, *, again: bool = False) -> None:
        """Fit the columns to their contents the first time rows arrive (or every time for small tables)."""
        model = view.model()
        if model is None or model.rowCount() == 0 or (view.property("sized") and not again):
            return
        view.setProperty("sized", True)
        for column in range(model.columnCount() - 1):  # the last one stretches
            view.resizeColumnToContents(column)

    def show_config(self, deploy: str, variables: list[Any]) -> None:
        current = self.selected_deploy()
        if current is not None and current.name == deploy:
            attached = {a.env_var for a in current.attachments}
            self.config_model.set_records([v for v in variables if v.name not in attached])
            self._size_columns(self.config_view, again=True)
            self.config_shown.emit(deploy)

    def _show_deploy(self, deploy: DeployInfo | None) -> None:
        if deploy is None:
            self.deploy_title.setText("Select a deploy")
            self.attachments_model.set_records([])
            self.config_model.set_records([])
            return
        group = " / ".join(x for x in (deploy.app, deploy.environment) if x)
        self.deploy_title.setText(
            f"<b>{deploy.name}</b> {('— ' + group) if group else ''}<br><small>{deploy.config_location}</small>"
        )
        self.attachments_model.set_records(list(deploy.attachments))
        self._size_columns(self.attachments_view, again=True)
        self.controller.load_config(deploy.name)

    def show_error(self, error: BaseException) -> None:
        if isinstance(error, ChangeoverError):
            box = error_box(self, error.title, error.message)
            box.open()
        else:
            box = errors.report(type(error), error, error.__traceback__, self)  # type: ignore[assignment]
        self.message_box = box

    def show_log_location(self) -> None:
        path = errors.log_file()
        box = QMessageBox(QMessageBox.Icon.Information, "Log file", f"Changeover writes its log to:\n{path}")
        box.setParent(self, box.windowFlags())
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_box = box
        box.open()

    # -- selection ------------------------------------------------------------------------------

    def selected_deploy(self) -> DeployInfo | None:
        rows = self.deploy_view.selectionModel().selectedRows()
        if not rows:
            return None
        value = rows[0].data(PAYLOAD_ROLE)
        if not isinstance(value, DeployInfo) or self.snapshot is None:
            return None
        return next((d for d in self.snapshot.deploys if d.name == value.name), value)

    def select_deploy(self, name: str) -> bool:
        matches = self.deploy_proxy.match(
            self.deploy_proxy.index(0, 0), Qt.ItemDataRole.DisplayRole, name, 1,
            Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive,
        )  # fmt: skip
        for index in matches:
            if isinstance(index.data(PAYLOAD_ROLE), DeployInfo):
                self.deploy_view.setCurrentIndex(index)
                return True
        return False

    def selected_resource(self) -> ResourceInfo | None:
        return self.resources_by_name.get(self._resource_choice)

    def select_resource(self, name: str) -> bool:
        """Make ``name`` the resource the actions work on, and select its row if the filter shows it."""
        row = self.resources_model.row_of(name)
        if row is not None:
            index = self.resources_proxy.mapFromSource(self.resources_model.index(row, 0))
            if index.isValid():
                self.resources_view.selectRow(index.row())
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
        self.attachments_model.health.clear()
        self._show_deploy(self.selected_deploy())
        self._update_actions()

    def _resource_selected(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.resources_view.selectionModel().selectedRows()
        if rows:
            self._resource_choice = str(rows[0].data())
        self._update_actions()

    def _attachment_selected(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.attachments_view.selectionModel().selectedRows()
        if rows:
            self._resource_choice = str(rows[0].data(PAYLOAD_ROLE).resource)
        self._update_actions()

    def _activity_filter_changed(self, text: str) -> None:
        self.controller.load_events(text.strip())

    def _update_actions(self) -> None:
        deploy = self.selected_deploy()
        resource = self.selected_resource()
        for key in ("edit_deploy", "remove_deploy", "restart", "maintenance_on", "maintenance_off", "health"):
            self.action(key).setEnabled(deploy is not None)
        live = resource is not None and resource.state not in ("deprovisioned", "failed")
        self.action("attach").setEnabled(bool(self.snapshot and self.snapshot.deploys and self.snapshot.resources))
        self.action("detach").setEnabled(bool(resource and resource.attachments))
        self.action("keep_until").setEnabled(bool(resource and resource.state == "detached"))
        self.action("deprovision").setEnabled(live)
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
        return self._new_deploy_dialog("import", self.controller.import_deploy)

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

    def deprovision(self) -> DeprovisionDialog | None:
        resource = self.selected_resource()
        if resource is None:
            return None
        dialog = DeprovisionDialog(resource, self)
        dialog.accepted.connect(lambda: self.controller.deprovision(*dialog.values()))
        self._open(dialog)
        return dialog

    def upgrade_database(self) -> None:
        """The "Upgrade database…" hook: hands the resource to whoever listens to upgrade_requested."""
        resource = self.selected_resource()
        if resource is not None and resource.kind in handles.DATABASE_KINDS:
            self.controller.request_upgrade(resource.name)

    def check_health(self) -> None:
        deploy = self.selected_deploy()
        if deploy is not None:
            self.controller.check_health([a.resource for a in deploy.attachments])

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
        dialog.set_credentials(credentials_from(snapshot.resources, snapshot.servers) if snapshot else [])
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
            dialog.provision_requested.connect(self.controller.provision)
            self.servers_dialog = dialog
        dialog = self.servers_dialog
        snapshot = self.snapshot
        dialog.set_servers(list(snapshot.servers) if snapshot else [], self.resources_by_name)
        dialog.show()
        dialog.raise_()
        return dialog
