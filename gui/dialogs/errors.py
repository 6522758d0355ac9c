"""The message box an error is shown in (a ChangeoverError's title and message carry no secret)."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QMessageBox,
    QWidget,
)

logger = logging.getLogger(__name__)


def error_box(parent: QWidget | None, title: str, message: str, log_path: str | None = None) -> QMessageBox:
    """A non-blocking message box for an error (a ChangeoverError's title and message carry no secret)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning if log_path is None else QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    box.setText(title)
    text = message if log_path is None else f"{message}\n\nDetails were written to the log: {log_path}"
    box.setInformativeText(text)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setAccessibleName("Error")
    # Room for the message (the text labels only; no colours, so any palette works).
    box.setStyleSheet("QLabel#qt_msgbox_label, QLabel#qt_msgbox_informativelabel { min-width: 360px; }")
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    return box
