"""The ``changeover`` command line: the parser, assembled from each command group, and the run of one command.

Exit codes: 0 success, 1 a user error (one line on stderr naming the problem and the fix), 2 bad usage.
A handle argument may be ``-`` to read it from standard input (hidden when typed at a terminal), so a
password need not appear in the process list or shell history.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from changeover.core import __version__
from changeover.core.errors import ChangeoverError
from changeover.core.logs import setup_logging
from changeover.core.workspace import Workspace

from . import attachments, backups, deploys, offsite, resources, secretstore, servers, status, upgrade, uses
from .options import Handler

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Version(argparse.Action):
    """``--version``: the version, and which keyring holds the secrets (asked only when this is given)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from changeover.core import secrets

        sys.stdout.write(f"changeover {__version__}\nkeyring: {secrets.status().message}\n")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    """Every command and option of ``changeover``, in the order ``--help`` lists them."""
    parser = argparse.ArgumentParser(
        prog="changeover",
        description="Administer twelve-factor deploys and their attached resources. With no command, opens the window.",
    )
    parser.add_argument("--version", action=_Version, help="show the version and where secrets are kept, then exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in (
        deploys.register,
        resources.register,
        attachments.register,
        servers.register,
        backups.register,
        deploys.register_import,
        status.register_events,
        upgrade.register,
        status.register,
        uses.register,
        secretstore.register,
        offsite.register,
    ):
        register(commands)
    return parser


def _error(err: TextIO, message: str) -> None:
    err.write(f"changeover: {message}\n")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one command; its output goes to ``out``, a problem to ``err`` in one line. Returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(out)
        return EXIT_USAGE
    log_path = setup_logging()
    try:
        workspace = Workspace.open()
    except ChangeoverError as exc:
        _error(err, exc.message)
        return EXIT_PROBLEM
    try:
        for outcome in workspace.recover():
            _error(err, f"recovered an interrupted change: {outcome}.")
        handler(workspace, args, out)
    except ChangeoverError as exc:
        _error(err, exc.message)
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        _error(err, "interrupted.")
        return EXIT_INTERRUPTED
    except Exception:
        logger.exception("unexpected error in %s", args.command)
        _error(err, f"unexpected error; details are in {log_path}.")
        return EXIT_PROBLEM
    finally:
        workspace.close()
    return EXIT_OK
