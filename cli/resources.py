"""``changeover resource ...``: the backing services a deploy can be attached to."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TextIO

from changeover.core import handles, servers
from changeover.core.errors import InvalidInput
from changeover.core.inventory.models import ResourceState
from changeover.core.records import ResourceInfo
from changeover.core.workspace import Workspace

from .deploys import print_attachments
from .options import Commands, command, group, read_handle
from .output import emit_json, listing, when


def state_label(info: ResourceInfo) -> str:
    """The resource's state, with its keep-until date when it has one (and whether that date is past)."""
    if info.keep_until:
        return f"{info.state}, kept until {when(info.keep_until)}" + (" (past)" if info.overdue else "")
    return str(info.state)


def _print_resource(info: ResourceInfo, out: TextIO) -> None:
    out.write(f"resource     {info.name}\n")
    out.write(f"kind         {info.kind}\n")
    out.write(f"handle       {info.handle}\n")
    out.write(f"origin       {info.origin}" + (f" (server {info.server})" if info.server else "") + "\n")
    out.write(f"state        {info.state}\n")
    if info.keep_until:
        overdue = "  (past: deprovision it or keep it longer)" if info.overdue else ""
        out.write(f"kept until   {when(info.keep_until)}{overdue}\n")
    out.write(f"secret       {'in the keyring' if info.has_secret else 'none'}\n")
    out.write("attached:\n")
    print_attachments(info.attachments, out)


def cmd_resource_add(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.register_resource(args.name, read_handle(args.handle), kind=args.kind)
    out.write(f"Registered {info.kind} resource {info.name}: {info.handle}\n")


def cmd_resource_list(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    listing(ws.list_resources(args.state), args.json, ("NAME", "KIND", "STATE", "ATTACHED TO", "HANDLE"), _row, out)


def _row(r: ResourceInfo) -> tuple[str, ...]:
    attached = ", ".join(f"{a.deploy}:{a.env_var}" for a in r.attachments) or "-"
    return (r.name, r.kind, state_label(r), attached, r.handle)


def cmd_resource_show(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.show_resource(args.name)
    if args.json:
        emit_json(info, out)
    else:
        _print_resource(info, out)


def cmd_resource_secret(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.set_resource_secret(args.name, read_handle(args.handle))
    out.write(f"Replaced the secret of {info.name} in the keyring.\n")
    if info.attachments:
        out.write("Attached deploys still hold the old handle: detach and attach again to rewrite them.\n")


def cmd_resource_rotate(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    result = servers.rotate(ws, args.name)
    out.write(
        f"Rotated the password of {args.name}; rewrote and restarted: {', '.join(result.deploys) or 'no deploy'}.\n"
    )


def cmd_resource_keep(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    try:
        until = datetime.fromisoformat(args.until)
    except ValueError:
        raise InvalidInput(f"'{args.until}' is not a date: use YYYY-MM-DD.") from None
    if until.tzinfo is None:
        until = until.astimezone()
    info = ws.set_keep_until(args.name, until.astimezone(UTC))
    out.write(f"{info.name} is kept until {when(info.keep_until)}.\n")


def register(commands: Commands) -> None:
    resource = group(commands, "resource", "register, list, show resources")
    p = command(resource, "add", cmd_resource_add, "register a resource from its handle (URL); '-' reads it from stdin")
    p.add_argument("name")
    p.add_argument("handle", help="the URL, e.g. postgresql://user:pass@host/db, or - to read it from stdin")
    p.add_argument("--kind", choices=sorted(handles.KINDS))
    p = command(resource, "list", cmd_resource_list, "list resources (detached ones included)")
    p.add_argument(
        "--state",
        choices=[*(s.value for s in ResourceState), "all"],
        help="attached, detached, available, failed, deprovisioned or all",
    )
    p.add_argument("--json", action="store_true")
    p = command(resource, "show", cmd_resource_show, "show one resource, its handle masked")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p = command(
        resource, "secret", cmd_resource_secret, "replace a resource's secret from a new handle ('-' reads stdin)"
    )
    p.add_argument("name")
    p.add_argument("handle")
    p = command(
        resource, "rotate", cmd_resource_rotate, "a new password for a provider-made database user, everywhere at once"
    )
    p.add_argument("name")
    p = command(resource, "keep", cmd_resource_keep, "change how long a detached resource is kept")
    p.add_argument("name")
    p.add_argument("--until", required=True, metavar="YYYY-MM-DD")
