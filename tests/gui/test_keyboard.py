"""The window and the wizard by keyboard alone: Tab leaves every table, each mnemonic names one control."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QAbstractItemView, QApplication, QHeaderView, QLabel, QWidget, QWizard
from pytestqt.qtbot import QtBot

from changeover.core import demo as demo_module
from changeover.core.workspace import Workspace
from changeover.gui.main_window import MainWindow
from changeover.gui.upgrade import PAGE_PLAN, PAGE_TARGET, UpgradeWizard

from .helpers import settle


def activate(qtbot: QtBot, widget: QWidget) -> None:
    """Keys and shortcuts go to the active window, as on a desktop."""
    widget.activateWindow()
    qtbot.waitUntil(widget.isActiveWindow)


def mnemonics(root: QWidget) -> Counter[str]:
    """The Alt+letter keys of the visible buttons and buddied labels under ``root``."""
    found: Counter[str] = Counter()
    widgets = [w for w in root.findChildren(QWidget) if w.isVisible()]
    for widget in widgets:
        buddied = isinstance(widget, QLabel) and widget.buddy() is not None
        if not (isinstance(widget, QAbstractButton) or buddied):
            continue
        match = re.search(r"&([^&\s])", widget.text())  # type: ignore[attr-defined]
        if match:
            found[match.group(1).lower()] += 1
    return found


def test_tab_leaves_every_table_of_the_window(
    qtbot: QtBot, make_window: Callable[[], MainWindow], workspace: Workspace
) -> None:
    demo_module.create_demo(workspace)
    window = make_window()
    settle(qtbot, window)
    activate(qtbot, window)
    views = [
        v
        for v in window.findChildren(QAbstractItemView)
        if not isinstance(v, QHeaderView) and v.isVisible() and v.model().rowCount() > 0
    ]
    assert {window.resources_view, window.deploy_view, window.attachments_view} <= set(views)
    for view in views:
        view.setFocus(Qt.FocusReason.TabFocusReason)
        qtbot.waitUntil(view.hasFocus)
        view.setCurrentIndex(view.model().index(0, 0))
        qtbot.keyClick(view, Qt.Key.Key_Tab)
        assert not view.hasFocus(), f"Tab stayed in {view.accessibleName()}"
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Backtab)
        assert view.hasFocus(), f"Shift+Tab did not come back to {view.accessibleName()}"


def test_each_wizard_page_gives_each_mnemonic_to_one_control(qtbot: QtBot, workspace: Workspace) -> None:
    demo_module.create_demo(workspace)
    wizard = UpgradeWizard(workspace, resource=demo_module.DATABASE)
    qtbot.addWidget(wizard)
    wizard.show()
    activate(qtbot, wizard)
    qtbot.waitUntil(wizard.database_page.isComplete, timeout=20000)
    assert [k for k, n in mnemonics(wizard).items() if n > 1] == []
    wizard.button(QWizard.WizardButton.NextButton).click()
    qtbot.waitUntil(lambda: wizard.target_page.loaded, timeout=20000)
    assert wizard.currentId() == PAGE_TARGET
    assert [k for k, n in mnemonics(wizard).items() if n > 1] == []
    # Alt+N is Next, and only Next: it goes on to the plan instead of moving the focus about.
    wizard.target_page.target_name.setFocus()
    qtbot.keyClick(wizard.target_page.target_name, Qt.Key.Key_N, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: wizard.currentId() == PAGE_PLAN, timeout=5000)
    qtbot.waitUntil(lambda: wizard.plan_page.plan is not None, timeout=20000)
    assert [k for k, n in mnemonics(wizard).items() if n > 1] == []
    qtbot.waitUntil(lambda: not wizard.busy, timeout=20000)
