"""Import deploy from .env…: what was recognised is shown first, and nothing is saved until it is confirmed."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from changeover.core.workspace import Workspace
from changeover.gui.dialogs import DeployDialog
from changeover.gui.main_window import MainWindow

from ..helpers import settle

ENV = (
    "DATABASE_URL=postgresql://shop:db-pw-123@db.internal:5432/shop\n"
    "REDIS_URL=redis://:cache-pw-456@cache.internal:6379/0\n"
    "STRIPE_API_KEY=sk_live_key-789\n"
    "DEBUG=1\n"
)
SECRETS = ("db-pw-123", "cache-pw-456", "sk_live_key-789")


def _ok(dialog: DeployDialog) -> QDialogButtonBox:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def _cells(dialog: DeployDialog) -> list[tuple[str, ...]]:
    model = dialog.preview_model
    return [tuple(str(model.index(r, c).data()) for c in range(model.columnCount())) for r in range(model.rowCount())]


def _preview(qtbot: QtBot, window: MainWindow, env: Path, name: str = "legacy") -> DeployDialog:
    dialog = window.import_deploy()
    dialog.name.setText(name)
    dialog.env_file.setText(str(env))
    assert _ok(dialog).text() == "&Preview import"
    with qtbot.waitSignal(dialog.preview_shown, timeout=10000):
        _ok(dialog).click()
    return dialog


def test_the_preview_shows_what_was_recognised_and_saves_nothing(
    qtbot: QtBot, qtmodeltester: ModelTester, window: MainWindow, workspace: Workspace, tmp_path: Path
) -> None:
    env = tmp_path / "legacy.env"
    env.write_text(ENV, encoding="utf-8")
    dialog = _preview(qtbot, window, env)
    assert dialog.isVisible() and dialog.preview_view.isVisibleTo(dialog)
    qtmodeltester.check(dialog.preview_model, force_py=True)
    rows = {row[0]: row for row in _cells(dialog)}
    assert set(rows) == {"DATABASE_URL", "REDIS_URL", "STRIPE_API_KEY"}
    assert rows["DATABASE_URL"][1:5] == (
        "postgresql", "legacy-database-url", "register and attach", "postgresql://shop:•••@db.internal:5432/shop",
    )  # fmt: skip
    assert rows["REDIS_URL"][4] == "redis://:•••@cache.internal:6379/0"
    assert rows["STRIPE_API_KEY"][1] == "apikey" and rows["STRIPE_API_KEY"][4] == "•••"
    assert all(row[5] for row in rows.values())  # each says why it was recognised
    status = dialog.preview_status.text()
    assert "Recognised 3: 3 to register, 3 to attach to legacy" in status
    shown = "\n".join("\t".join(row) for row in _cells(dialog)) + status
    for secret in SECRETS:
        assert secret not in shown
    # Nothing is saved by the preview: no deploy, no resource, no audit row.
    assert workspace.list_deploys() == [] and workspace.list_resources("all") == []
    assert workspace.events("legacy") == []
    assert _ok(dialog).text() == "&Import" and _ok(dialog).isEnabled()

    with qtbot.waitSignal(window.controller.changed, timeout=10000):
        _ok(dialog).click()
    settle(qtbot, window)
    assert not dialog.isVisible()
    assert {a.env_var: a.resource for a in workspace.show_deploy("legacy").attachments} == {
        "DATABASE_URL": "legacy-database-url",
        "REDIS_URL": "legacy-redis-url",
        "STRIPE_API_KEY": "legacy-stripe-api-key",
    }


def test_a_changed_field_drops_the_preview(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path
) -> None:
    env = tmp_path / "legacy.env"
    env.write_text(ENV, encoding="utf-8")
    dialog = _preview(qtbot, window, env)
    assert dialog.preview_model.rowCount() == 3
    dialog.name.setText("renamed")
    assert dialog.discovery is None and dialog.preview_model.rowCount() == 0
    assert not dialog.preview_view.isVisibleTo(dialog) and _ok(dialog).text() == "&Preview import"
    with qtbot.waitSignal(dialog.preview_shown, timeout=10000):
        dialog.accept()  # a new preview, not an import
    assert workspace.list_deploys() == []
    assert {row[2] for row in _cells(dialog)} == {"renamed-database-url", "renamed-redis-url", "renamed-stripe-api-key"}
    dialog.reject()
    settle(qtbot, window)
    assert workspace.list_deploys() == [] and workspace.list_resources("all") == []


def test_a_registered_resource_is_recognised_as_the_same_one(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path
) -> None:
    workspace.register_resource("shop-db", "postgresql://shop:db-pw-123@db.internal:5432/shop")
    env = tmp_path / "legacy.env"
    env.write_text("DATABASE_URL=postgresql://shop:db-pw-123@db.internal:5432/shop\n", encoding="utf-8")
    dialog = _preview(qtbot, window, env)
    [row] = _cells(dialog)
    assert row[2:4] == ("shop-db", "attach the registered one")
    assert "0 to register, 1 to attach" in dialog.preview_status.text()
    dialog.reject()
    settle(qtbot, window)


def test_a_preview_that_fails_says_why_in_the_dialog(
    qtbot: QtBot, window: MainWindow, workspace: Workspace, tmp_path: Path
) -> None:
    dialog = _preview(qtbot, window, tmp_path / "missing.env")
    assert "missing.env" in dialog.preview_status.text()
    assert dialog.isVisible() and dialog.discovery is None
    assert _ok(dialog).isEnabled() and _ok(dialog).text() == "&Preview import"
    assert not isinstance(window.message_box, QMessageBox)  # no error dialog over the form
    (tmp_path / "missing.env").write_text("REDIS_URL=redis://cache.internal:6379/0\n", encoding="utf-8")
    with qtbot.waitSignal(dialog.preview_shown, timeout=10000):
        dialog.accept()
    assert [row[0] for row in _cells(dialog)] == ["REDIS_URL"]
    assert dialog.preview_model.index(0, 5).data(Qt.ItemDataRole.ToolTipRole)
    dialog.reject()
    settle(qtbot, window)
    assert workspace.list_deploys() == []
