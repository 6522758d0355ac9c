"""The README's main-window screenshots from the real window: ``python -m changeover.gui.real_screenshots OUTDIR``.

Starts a private X server (Xvfb) and a window manager (openbox), then, once per theme, runs the window on
the xcb platform with the GTK platform theme (Adwaita, Adwaita:dark: the desktop's palette, never one set
by hand) inside its own D-Bus session, over the demo workspace after one upgrade run and two health
checks, in temporary user folders with the demo's in-memory secret store. Each picture is the window's
frame as the X server shows it (window manager decorations included), refused if a demo secret is
readable. The dialogs are rendered offscreen first (:mod:`.screenshots`); the real window's pictures
replace the offscreen main-window ones. Needs Debian's ``xvfb openbox gnome-themes-extra``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .screenshots import check_no_secret, demo_secrets, isolated_folders

THEMES = {"light": ("Adwaita", ""), "dark": ("Adwaita:dark", "-dark")}
SIZE = (1600, 1000)
#: the X screen: room for the window and its window manager frame
SCREEN = (SIZE[0] + 40, SIZE[1] + 80)


def _child(theme: str, outdir: Path) -> int:
    """One theme's pictures, in a process whose DISPLAY is the private X server."""
    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtGui import QGuiApplication

    from changeover.core import checks
    from changeover.core import demo as demo_module
    from changeover.core.upgrade import procedure
    from changeover.core.workspace import Workspace

    from .app import application, open_window

    suffix = THEMES[theme][1]
    with demo_secrets(), isolated_folders() as root:
        app = application([])
        workspace = Workspace.open()
        demo = demo_module.create_demo(workspace)
        plan = procedure.plan_upgrade(workspace, demo_module.DATABASE, to_handle=f"sqlite:///{root / 'shop-new.db'}")
        procedure.execute(workspace, procedure.start_upgrade(workspace, plan).id)
        for _ in range(2):
            checks.check_resources(workspace, [demo_module.DATABASE, demo_module.CACHE])

        def wait_until(predicate: object, timeout_ms: int = 20000) -> None:
            loop = QEventLoop()
            poll = QTimer()
            poll.timeout.connect(lambda: loop.quit() if predicate() else None)  # type: ignore[operator]
            poll.start(20)
            QTimer.singleShot(timeout_ms, loop.quit)
            if not predicate():  # type: ignore[operator]
                loop.exec()
            poll.stop()
            if not predicate():  # type: ignore[operator]
                raise TimeoutError("the window did not get there in time")

        def pause(ms: int) -> None:
            loop = QEventLoop()
            QTimer.singleShot(ms, loop.quit)
            loop.exec()

        window = open_window(workspace, QSettings(str(root / "settings.ini"), QSettings.Format.IniFormat))
        window.resize(*SIZE)
        window.move(0, 0)
        window.resizeDocks([window.detail_dock], [600], Qt.Orientation.Horizontal)  # room for a run's record
        window.activateWindow()
        wait_until(lambda: window.snapshot is not None and window.config_model.rowCount() > 0)

        def save(name: str) -> None:
            wait_until(lambda: window.controller.runner.running == 0)
            pause(400)  # let the window manager and the compositor draw the last change
            check_no_secret(window, demo.secrets)
            frame = window.frameGeometry()
            screen = QGuiApplication.primaryScreen()
            shot = screen.grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
            shot.save(str(outdir / f"{name}{suffix}.png"))
            print(outdir / f"{name}{suffix}.png", flush=True)

        window.check_health()
        save("main-window")  # the deploy selected, its story in the dock
        dock = window.detail_dock
        window.resources_pane.select(demo_module.DATABASE)
        wait_until(lambda: dock.showing() == "resource" and dock.resource_view.backups_model.rowCount() > 0)
        dock.resource_view.tabs.setCurrentIndex(2)
        save("main-window-detail")
        dock.resource_view.tabs.setCurrentIndex(3)
        save("main-window-detail-runs")
        if theme == "light":
            window.tabs.setCurrentIndex(1)
            save("main-window-activity")
        window.close()
        wait_until(lambda: window.controller.runner.running == 0)
        workspace.close()
        del app
    return 0


def _display(xvfb: subprocess.Popen[bytes], read_fd: int) -> str:
    with os.fdopen(read_fd, "rb") as pipe:
        number = pipe.readline().decode().strip()
    if not number:
        raise RuntimeError(f"Xvfb did not start (exit {xvfb.poll()})")
    return f":{number}"


def render_real(outdir: Path) -> int:
    missing = [tool for tool in ("Xvfb", "openbox", "dbus-run-session") if shutil.which(tool) is None]
    if missing:
        print(
            f"missing: {', '.join(missing)} (Debian: apt install xvfb openbox dbus gnome-themes-extra)", file=sys.stderr
        )
        return 1
    outdir.mkdir(parents=True, exist_ok=True)
    offscreen = dict(os.environ, QT_QPA_PLATFORM="offscreen")  # the dialogs first; the real window's replace
    subprocess.run([sys.executable, "-m", "changeover.gui.screenshots", str(outdir)], env=offscreen, check=True)
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
    )
    os.close(write_fd)
    processes: list[subprocess.Popen[bytes]] = [xvfb]
    try:
        display = _display(xvfb, read_fd)
        with tempfile.TemporaryDirectory(prefix="changeover-wm-") as home:
            env = dict(os.environ, DISPLAY=display, HOME=home)
            env.pop("QT_QPA_PLATFORM", None)
            processes.append(subprocess.Popen(["openbox"], env=env, stderr=subprocess.DEVNULL))
            for theme, (gtk_theme, _suffix) in THEMES.items():
                child = dict(env, QT_QPA_PLATFORM="xcb", QT_QPA_PLATFORMTHEME="gtk3", GTK_THEME=gtk_theme)
                command = [sys.executable, "-m", "changeover.gui.real_screenshots", "--child", theme, str(outdir)]
                subprocess.run(["dbus-run-session", "--", *command], env=child, check=True, timeout=300)
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 3 and args[0] == "--child" and args[1] in THEMES:
        return _child(args[1], Path(args[2]))
    if len(args) != 1:
        print("usage: python -m changeover.gui.real_screenshots OUTDIR", file=sys.stderr)
        return 2
    return render_real(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
