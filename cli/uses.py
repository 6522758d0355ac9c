"""``changeover uses``: which deploys point at a host, a resource or a user, read from their configs now."""

from __future__ import annotations

import argparse
from typing import TextIO

from changeover.core.workspace import Workspace

from .options import Commands, command
from .output import emit_json, table


def cmd_uses(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    found = ws.uses(args.what)
    if args.json:
        emit_json(found, out)
        return
    rows = [u for u in found if not u.problem]
    table(
        [(u.deploy, u.variable, u.kind, u.handle, u.matched, _attached(u.resource, u.known)) for u in rows],
        ("DEPLOY", "VAR", "KIND", "HANDLE", "MATCHED", "ATTACHMENT"),
        out,
    )
    for use in found:
        if use.problem:
            out.write(f"warning: {use.deploy}: {use.problem}\n")


def _attached(resource: str | None, known: bool) -> str:
    if resource is None:
        return "not known to Changeover"
    return resource if known else f"{resource} (the config no longer holds its handle)"


def register(commands: Commands) -> None:
    p = command(commands, "uses", cmd_uses, "list the deploys whose config points at a host, a resource or a user now")
    p.add_argument("what", metavar="HOST|RESOURCE|USER", help="host or host:port, a resource name, or a user name")
    p.add_argument("--json", action="store_true")
