"""The screenshot script renders every picture, and refuses one in which a secret is readable."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from changeover.gui import screenshots


def test_render_writes_every_picture(qtbot: QtBot, tmp_path: Path) -> None:
    written = screenshots.render(tmp_path / "shots")
    names = {p.stem for p in written}
    assert {
        "main-window",
        "main-window-dark",
        "dialog-register-resource",
        "dialog-credentials",
        "dialog-servers",
    } <= names
    for path in written:
        assert path.stat().st_size > 2000, path


def test_a_visible_secret_is_refused(qtbot: QtBot) -> None:
    widget = QWidget()
    qtbot.addWidget(widget)
    QLabel("redis://:•••@cache:6379/0", widget)
    hidden = QLineEdit(widget)
    hidden.setEchoMode(QLineEdit.EchoMode.Password)
    hidden.setText("pa55word")
    screenshots.check_no_secret(widget, ("pa55word",))  # a masked field shows dots only
    hidden.setEchoMode(QLineEdit.EchoMode.Normal)
    with pytest.raises(RuntimeError, match="secret is readable"):
        screenshots.check_no_secret(widget, ("pa55word",))
