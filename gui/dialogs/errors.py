"""The message box an error is shown in (a ChangeoverError's title and message carry no secret): it names
the log, and offers the fix as a button where the window has one (Replace secret…, Edit deploy…)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QMessageBox,
    QWidget,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fix:
    """A button an error dialog offers: its text, and what it does (the window opens the dialog)."""

    text: str
    action: str  # the window's action: "replace_secret", "edit_deploy", "credentials", "servers"
    subject: str | None = None  # the resource or deploy it works on, when the message names it


#: a command a message tells the user to run, and the button that does the same in the window
_FIXES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"`changeover resource secret (?P<subject>[A-Za-z0-9._-]+)"), "Replace &secret…", "replace_secret"),
    (re.compile(r"`changeover resource secret`"), "Open &Credentials…", "credentials"),
    (re.compile(r"`changeover deploy edit(?: (?P<subject>[A-Za-z0-9._-]+))?"), "&Edit deploy…", "edit_deploy"),
    (re.compile(r"`changeover server (?:add|list)"), "Open &Servers…", "servers"),
)


def fix_for(message: str) -> Fix | None:
    """The window's way to do what ``message`` tells the user to run on the command line, if it has one."""
    for pattern, text, action in _FIXES:
        found = pattern.search(message)
        if found:
            return Fix(text, action, found.groupdict().get("subject"))
    return None


def error_box(
    parent: QWidget | None,
    title: str,
    message: str,
    log_path: str | None = None,
    *,
    unexpected: bool | None = None,
    fix: Fix | None = None,
    on_fix: Callable[[Fix], None] | None = None,
) -> QMessageBox:
    """A non-blocking message box for an error; ``log_path`` is named, ``fix`` offered as a button."""
    box = QMessageBox(parent)
    critical = unexpected if unexpected is not None else log_path is not None
    box.setIcon(QMessageBox.Icon.Critical if critical else QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(title)
    if log_path is None:
        text = message
    elif critical:
        text = f"{message}\n\nDetails were written to the log: {log_path}"
    else:
        text = f"{message}\n\nThe log has what happened before: {log_path}"
    box.setInformativeText(text)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAccessibleName("Error")
    # Room for the message (the text labels only; no colours, so any palette works).
    box.setStyleSheet("QLabel#qt_msgbox_label, QLabel#qt_msgbox_informativelabel { min-width: 360px; }")
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    if fix is not None and on_fix is not None:
        button = box.addButton(fix.text, QMessageBox.ButtonRole.AcceptRole)
        button.setObjectName("fix_button")
        button.clicked.connect(lambda: on_fix(fix))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    return box
