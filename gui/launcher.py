"""The ``changeover`` command: the GUI with no arguments, the headless CLI with a subcommand.

With ``CHANGEOVER_CLOSE_WHEN_SHOWN=1`` the window is closed as soon as it is shown, and the time that took
is printed to stderr: how CI checks that a built bundle starts (packaging/bundle.py).
"""

from __future__ import annotations

import os
import sys
import time

STARTED = time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        from changeover.cli import main as cli_main

        code: int = cli_main(args)
        return code
    from changeover.gui.app import run

    if os.environ.get("CHANGEOVER_CLOSE_WHEN_SHOWN") == "1":
        _close_when_shown()
    status: int = run()
    return status


def _close_when_shown() -> None:
    """Close the main window, as a user would, once it is shown (polled from the event loop)."""
    from PySide6.QtCore import QTimer

    from changeover.gui.app import application
    from changeover.gui.main_window import MainWindow

    app = application()
    timer = QTimer(app)

    def check() -> None:
        shown = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if shown:
            timer.stop()
            print(f"changeover: main window shown {time.perf_counter() - STARTED:.3f} s after start", file=sys.stderr)
            shown[0].close()

    timer.timeout.connect(check)
    timer.start(20)


if __name__ == "__main__":
    sys.exit(main())
