"""What every command group shares: the handler's shape, number arguments, and handles read from stdin."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import TextIO, TypeAlias

from changeover.core.context import check_range
from changeover.core.errors import InvalidInput
from changeover.core.workspace import Workspace

# What ``add_subparsers`` returns: the commands (or a group's actions) a module registers its parsers on.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

Handler = Callable[[Workspace, argparse.Namespace, TextIO], None]


def number(bounds: tuple[float, float], what: str, kind: type[int] | type[float] = int) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` within ``bounds``, or a usage error (exit 2) naming the range."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"'{text}' is not a {'whole ' if kind is int else ''}number; use {bounds[0]:g} to {bounds[1]:g}"
            ) from None
        try:
            check_range(value, bounds, what)
        except InvalidInput as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
        return value

    parse.__name__ = kind.__name__
    return parse


def read_handle(value: str) -> str:
    """The handle argument, or a line from stdin when it is ``-`` (not echoed on a terminal)."""
    if value != "-":
        return value
    text = getpass.getpass("Handle (input hidden): ") if sys.stdin.isatty() else sys.stdin.readline()
    if not text.strip():
        raise InvalidInput("No handle was given on standard input.")
    return text.strip()


def command(commands: Commands, name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
    """A subcommand whose parsed arguments go to ``handler``."""
    parser = commands.add_parser(name, help=help)
    parser.set_defaults(handler=handler)
    return parser


def group(commands: Commands, name: str, help: str) -> Commands:
    """A command with actions of its own (``deploy add``, ``server list``...)."""
    return commands.add_parser(name, help=help).add_subparsers(dest="action", metavar="ACTION", required=True)
