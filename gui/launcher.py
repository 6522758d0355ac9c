"""The ``changeover`` command: the GUI with no arguments, the headless CLI with a subcommand."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        from changeover.cli import main as cli_main

        code: int = cli_main(args)
        return code
    from changeover.gui.app import run

    status: int = run()
    return status


if __name__ == "__main__":
    sys.exit(main())
