"""The window's actions (text, icon, shortcut, tip) and where they appear: the menus and the toolbar."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from ..icons import get_colored_icon

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
    ("swap", "S&wap for another…", "swap", None, "Replace the resource by another of its kind on every deploy"),
    ("deprovision", "De&provision…", "deprovision", "Ctrl+Del", "Forget (and drop) a detached resource"),
    ("upgrade", "&Upgrade database…", "upgrade", "Ctrl+U", "Move the database to a newer server"),
    ("health", "Check &health", "health", "Ctrl+H", "Check the selected resources now, each with its own protocol"),
    ("servers", "&Servers…", "server", "Ctrl+Shift+S", "Database servers Changeover provisions databases on"),
    ("credentials", "&Credentials…", "key", "Ctrl+Shift+K", "Secrets Changeover keeps in the keyring"),
    ("preferences", "&Preferences…", "", "Ctrl+,", "Retention, backups kept, health refresh"),
    ("shortcuts", "&Keyboard shortcuts", "", "F1", "Every shortcut of the window"),
    ("log", "&Where Changeover keeps things…", "", None, "The log, the inventory and the backups, with Open"),
    ("about", "&About Changeover", "app", None, "Version and keyring"),
)


def build_actions(window: QMainWindow) -> dict[str, QAction]:
    """Every action of the window, by key, added to it (so shortcuts work without a menu)."""
    found: dict[str, QAction] = {}
    for key, text, icon, shortcut, tip in ACTIONS:
        action = QAction(text, window)
        action.setObjectName(f"action_{key}")
        if icon:
            action.setIcon(get_colored_icon(icon))
            action.setData(icon)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.setToolTip(f"{text.replace('&', '').rstrip('…')} ({action.shortcut().toString()})")
        found[key] = action
        window.addAction(action)
    found["quit"].setMenuRole(QAction.MenuRole.QuitRole)
    found["preferences"].setMenuRole(QAction.MenuRole.PreferencesRole)
    found["about"].setMenuRole(QAction.MenuRole.AboutRole)
    return found


def build_menus(window: QMainWindow, action: Callable[[str], QAction]) -> None:
    """The menus and the toolbar, from the actions."""
    bar = window.menuBar()
    menus: dict[str, list[str | None]] = {
        "&File": ["demo", "refresh", None, "preferences", None, "quit"],
        "&Deploy": ["add_deploy", "import_deploy", "edit_deploy", "remove_deploy", None, "restart"]
        + ["maintenance_on", "maintenance_off"],
        "&Resource": ["register", "attach", "detach", "keep_until", "swap", "deprovision", None, "upgrade"]
        + ["health"],
        "&Tools": ["servers", "credentials"],
        "&View": [],  # the window adds its dock's toggle
        "&Help": ["shortcuts", "log", None, "about"],
    }
    for title, keys in menus.items():
        menu = bar.addMenu(title)
        menu.setObjectName(f"menu_{title.replace('&', '').lower()}")
        for key in keys:
            if key is None:
                menu.addSeparator()
            else:
                menu.addAction(action(key))
    toolbar = window.addToolBar("Actions")
    toolbar.setObjectName("main_toolbar")
    toolbar.setAccessibleName("Actions")
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for key in ("add_deploy", "import_deploy", None, "register", "attach", "detach", "deprovision", None):
        if key is None:
            toolbar.addSeparator()
        else:
            toolbar.addAction(action(key))
    for key in ("upgrade", "credentials", "refresh"):
        toolbar.addAction(action(key))
