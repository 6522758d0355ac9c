"""The .env chooser offers the dotfiles a deploy is made of."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QLineEdit
from pytestqt.qtbot import QtBot

from changeover.gui.main_window import MainWindow


def _names_shown(view: QAbstractItemView) -> list[str]:
    model = view.model()
    root = view.rootIndex()
    return [str(model.index(row, 0, root).data()) for row in range(model.rowCount(root))]


# Typing a name opens the chooser's completer popup, which the offscreen plugin cannot give the keyboard to.
@pytest.mark.qt_log_ignore(r"This plugin does not support (grabbing the keyboard|propagateSizeHints|raise)")
def test_the_env_chooser_offers_dotfiles_and_picks_one(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    for name in (".env", ".env.production", "settings.env", "README.md"):
        (folder / name).write_text("A=1\n", encoding="utf-8")
    dialog = window.add_deploy()
    dialog.env_file.setText(str(folder))
    dialog.pick_env_file()
    chooser = dialog.file_dialog
    assert chooser is not None and chooser.isVisible()
    views = [v for v in chooser.findChildren(QAbstractItemView) if v.model() is not None and v.isVisible()]
    assert views
    view = views[0]
    qtbot.waitUntil(lambda: "settings.env" in _names_shown(view), timeout=10000)
    shown = _names_shown(view)
    assert ".env" in shown and ".env.production" in shown
    assert "README.md" not in shown  # the Env files filter still applies
    name = chooser.findChild(QLineEdit, "fileNameEdit")  # where one types the name in Qt's chooser
    assert name is not None
    name.clear()
    qtbot.keyClicks(name, ".env")
    with qtbot.waitSignal(chooser.fileSelected, timeout=5000):
        qtbot.keyClick(name, Qt.Key.Key_Return)
    assert dialog.env_file.text() == str(folder / ".env")
    dialog.reject()
