"""Render the documentation screenshots: ``python -m changeover.gui.screenshots OUTDIR``.

Runs offscreen over the demo workspace in temporary user folders, with an in-memory secret store set
explicitly by :func:`demo_secrets` (the user's files and keyring are never touched), and saves the main
window (light and dark palettes) and each dialog with ``widget.grab()``. Before saving, every text a
widget shows is checked for the demo's secret values: a screenshot that would show one is refused.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from changeover.core import secrets as keyring_secrets

DEMO_STORE_NAME = "the demo's in-memory store"


@contextmanager
def demo_secrets() -> Iterator[keyring_secrets.MemoryStore]:
    """Keep the demo's secrets in memory for the run (set explicitly: the user's keyring is never touched)."""
    store = keyring_secrets.MemoryStore(DEMO_STORE_NAME)
    previous = keyring_secrets.use_store(store)
    try:
        yield store
    finally:
        keyring_secrets.use_store(previous)


@contextmanager
def isolated_folders() -> Iterator[Path]:
    """Temp HOME and XDG folders for the run, so the demo lands nowhere near the user's data."""
    saved = {k: os.environ.get(k) for k in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
                                             "XDG_STATE_HOME", "CHANGEOVER_DATABASE_URL")}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="changeover-shots-") as base:
        root = Path(base)
        for var, sub in (("HOME", "home"), ("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                         ("XDG_CACHE_HOME", "cache"), ("XDG_STATE_HOME", "state")):  # fmt: skip
            (root / sub).mkdir()
            os.environ[var] = str(root / sub)
        os.environ.pop("CHANGEOVER_DATABASE_URL", None)
        try:
            yield root
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def visible_texts(widget: object) -> list[str]:
    """Every text a widget tree shows: labels, fields, buttons, window titles, and table cells."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QAbstractButton, QAbstractItemView, QComboBox, QLabel, QLineEdit, QWidget

    assert isinstance(widget, QWidget)
    texts = [widget.windowTitle()]
    for label in widget.findChildren(QLabel):
        texts.append(label.text())
    for edit in widget.findChildren(QLineEdit):
        if edit.echoMode() == QLineEdit.EchoMode.Normal:
            texts.append(edit.text())
    for button in widget.findChildren(QAbstractButton):
        texts.append(button.text())
    for combo in widget.findChildren(QComboBox):
        texts.extend(combo.itemText(i) for i in range(combo.count()))
    for view in widget.findChildren(QAbstractItemView):
        model = view.model()
        if model is None:
            continue
        pending = [view.rootIndex()]
        while pending:
            parent = pending.pop()
            for row in range(model.rowCount(parent)):
                for column in range(model.columnCount(parent)):
                    index = model.index(row, column, parent)
                    texts.append(str(index.data()))
                    texts.append(str(index.data(Qt.ItemDataRole.ToolTipRole) or ""))
                if model.rowCount(model.index(row, 0, parent)) > 0:  # hasChildren is private on table models
                    pending.append(model.index(row, 0, parent))
    return texts


def check_no_secret(widget: object, secrets: tuple[str, ...]) -> None:
    shown = "\n".join(visible_texts(widget))
    for secret in secrets:
        if secret and secret in shown:
            raise RuntimeError("A secret is readable in a screenshot; refusing to save it.")


def render(outdir: Path) -> list[Path]:
    """Render every screenshot into ``outdir``; return the files written."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    outdir.mkdir(parents=True, exist_ok=True)
    with demo_secrets(), isolated_folders() as root:
        return _render(outdir, root)


def _render(outdir: Path, root: Path) -> list[Path]:
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QWidget

    from changeover.core import demo as demo_module
    from changeover.core.errors import Conflict
    from changeover.core.workspace import Workspace

    from .app import application, open_window
    from .dialogs import DeprovisionDialog, error_box

    app = application([])
    app.setStyle("Fusion")
    written: list[Path] = []
    workspace = Workspace.open()
    demo = demo_module.create_demo(workspace)
    secrets = demo.secrets

    def wait_until(predicate: Callable[[], bool], timeout_ms: int = 15000) -> None:
        """Run the event loop until ``predicate`` holds (a QEventLoop, not processEvents)."""
        loop = QEventLoop()
        poll = QTimer()
        poll.setInterval(20)
        poll.timeout.connect(lambda: loop.quit() if predicate() else None)
        deadline = QTimer()
        deadline.setSingleShot(True)
        deadline.timeout.connect(loop.quit)
        poll.start()
        deadline.start(timeout_ms)
        if not predicate():
            loop.exec()
        poll.stop()
        if not predicate():
            raise TimeoutError("the window did not get there in time")

    def pause(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def settle(window: object) -> None:
        wait_until(lambda: window.controller.runner.running == 0)  # type: ignore[attr-defined]

    def save(widget: QWidget, name: str) -> None:
        check_no_secret(widget, secrets)
        if widget is not window:
            widget.adjustSize()
        path = outdir / f"{name}.png"
        widget.grab().save(str(path))
        written.append(path)

    settings = QSettings(str(root / "settings.ini"), QSettings.Format.IniFormat)
    window = open_window(workspace, settings)
    window.resize(1280, 800)
    wait_until(lambda: window.snapshot is not None and window.config_model.rowCount() > 0)
    window.check_health()
    attached = {a.resource for a in window.attachments_model.records()}
    wait_until(lambda: bool(attached) and attached <= set(window.attachments_model.health))
    window.select_resource(demo_module.DATABASE)
    settle(window)
    save(window, "main-window")

    window.tabs.setCurrentIndex(1)
    save(window, "main-window-activity")
    window.tabs.setCurrentIndex(0)

    dark = QPalette()
    for role, color in (
        (QPalette.ColorRole.Window, "#2b2b2b"), (QPalette.ColorRole.WindowText, "#e8e8e8"),
        (QPalette.ColorRole.Base, "#1e1e1e"), (QPalette.ColorRole.AlternateBase, "#262626"),
        (QPalette.ColorRole.Text, "#e8e8e8"), (QPalette.ColorRole.Button, "#353535"),
        (QPalette.ColorRole.ButtonText, "#e8e8e8"), (QPalette.ColorRole.Highlight, "#2f65ca"),
        (QPalette.ColorRole.HighlightedText, "#ffffff"), (QPalette.ColorRole.ToolTipBase, "#2b2b2b"),
        (QPalette.ColorRole.ToolTipText, "#e8e8e8"), (QPalette.ColorRole.PlaceholderText, "#9a9a9a"),
    ):  # fmt: skip
        dark.setColor(role, QColor(color))
    light = app.palette()
    app.setPalette(dark)
    pause(200)  # let the palette change reach every widget
    save(window, "main-window-dark")
    app.setPalette(light)
    pause(200)

    add = window.add_deploy()
    add.name.setText("shop-staging")
    add.env_file.setText("/srv/shop/staging/.env")
    add.app.setText("shop")
    add.environment.setText("staging")
    add.restart_cmd.setText("systemctl --user restart shop-staging")
    save(add, "dialog-add-deploy")
    add.reject()

    imported = window.import_deploy()
    imported.name.setText("billing-prod")
    imported.env_file.setText("/srv/billing/.env")
    save(imported, "dialog-import-deploy")
    imported.reject()

    register = window.register_resource()
    register.name.setText("shop-queue")
    register.handle.setText("amqp://shop@127.0.0.1:5672/shop")
    register.password.setText("never-shown-pa55")
    register.test_button.click()
    wait_until(lambda: register.test_result.text() not in ("", " ", "Testing…"))
    save(register, "dialog-register-resource")
    register.reject()

    window.select_resource(demo_module.OLD_DATABASE)
    attach = window.attach()
    assert attach is not None
    save(attach, "dialog-attach")
    attach.reject()

    window.select_resource(demo_module.CACHE)
    detach = window.detach()
    assert detach is not None
    settle(window)
    save(detach, "dialog-detach")
    detach.reject()

    def open_deprovision() -> DeprovisionDialog:
        before = window.dialog
        window.deprovision()  # the core says first whether it may be deprovisioned
        wait_until(lambda: window.dialog is not before and isinstance(window.dialog, DeprovisionDialog))
        assert isinstance(window.dialog, DeprovisionDialog)
        return window.dialog

    refused = open_deprovision()
    save(refused, "dialog-deprovision-refused")
    refused.reject()

    window.select_resource(demo_module.OLD_DATABASE)
    deprovision = open_deprovision()
    deprovision.confirm.setText(demo_module.OLD_DATABASE)
    save(deprovision, "dialog-deprovision")
    deprovision.reject()

    credentials = window.show_credentials()
    credentials.select(demo_module.CACHE)
    credentials.resize(820, 340)
    save(credentials, "dialog-credentials")
    credentials.close()

    servers = window.show_servers()
    servers.select(demo_module.SERVER)
    servers.setMinimumWidth(900)  # room for the demo folder's long temporary path
    save(servers, "dialog-servers")
    servers.close()

    reason = "'demo-shop-db' is attached to demo-shop as DATABASE_URL: detach it first."
    error = error_box(window, Conflict.title, reason)
    save(error, "dialog-error")

    window.close()
    settle(window)
    workspace.close()
    del app
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m changeover.gui.screenshots OUTDIR", file=sys.stderr)
        return 2
    for path in render(Path(args[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
