"""``changeover resource ...``: the backing services a deploy can be attached to."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TextIO

from changeover.core import handles, resources
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
    if info.state == ResourceState.DEPROVISIONED and info.note:  # where its final snapshot is, if any
        return f"{info.state}; {info.note[0].lower()}{info.note[1:]}"
    return str(info.state)


def _print_resource(info: ResourceInfo, out: TextIO) -> None:
    out.write(f"resource     {info.name}\n")
    out.write(f"kind         {info.kind}\n")
    out.write(f"handle       {info.handle}\n")
    out.write(f"origin       {info.origin}" + (f" (server {info.server})" if info.server else "") + "\n")
    out.write(f"state        {info.state}\n")
    if info.note:
        out.write(f"note         {info.note}\n")
    if info.keep_until:
        overdue = "  (past: deprovision it or keep it longer)" if info.overdue else ""
        out.write(f"kept until   {when(info.keep_until)}{overdue}\n")
    out.write(f"secret       {'in the keyring' if info.has_secret else 'none'}\n")
    if info.has_secret:
        out.write(f"secret set   {when(info.secret_set_at)}\n")
        out.write(f"changed      {when(info.secret_rotated_at)}  ({_age(info)})\n")
    out.write("attached:\n")
    print_attachments(info.attachments, out)


def _age(info: ResourceInfo) -> str:
    days = info.secret_age_days()
    return "age unknown" if days is None else f"{days} day{'' if days == 1 else 's'} old"


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
    if args.show:
        _reveal(ws, args, out)
        return
    if args.handle is None:
        raise InvalidInput(
            f"Give the new handle (or - to read it from stdin), or --show to print the secret: "
            f"changeover resource secret {args.name} -",
        )
    if args.force:
        raise InvalidInput("--force goes with --show (print the secret even when stdout is not a terminal).")
    info = ws.set_resource_secret(args.name, read_handle(args.handle), keep_deploys=args.keep_deploys)
    out.write(f"Replaced the secret of {info.name} in the keyring.\n")
    deploys = sorted({a.deploy for a in info.attachments})
    if not deploys:
        return
    if args.keep_deploys:
        out.write(
            f"{', '.join(deploys)} still hold the old secret (--keep-deploys): replace again without it, or "
            "detach and attach again, to rewrite them.\n"
        )
    else:
        out.write(f"Rewrote and restarted, one at a time: {', '.join(deploys)}.\n")


def _reveal(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    """Print the complete handle, only to a terminal unless --force; every reveal is in the audit trail."""
    if args.handle is not None or args.keep_deploys:
        raise InvalidInput("--show prints the secret: give it only the resource name (and --force if needed).")
    terminal = out.isatty()
    if not terminal and not args.force:
        raise InvalidInput(
            "Standard output is not a terminal, so the secret is not printed (it would land in a file, a pipe "
            "or a log): run it in a terminal, or add --force if that is what you want.",
        )
    full = resources.reveal_secret(ws, args.name, shown_on="a terminal" if terminal else "standard output, forced")
    out.write(f"{full}\n")


def cmd_resource_rotate(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    result = ws.rotate(args.name)
    if args.json:
        emit_json(result, out)
        return
    out.write(
        f"Rotated the secret of {args.name} ({result.how}); rewrote and restarted: "
        f"{', '.join(result.deploys) or 'no deploy'}; revoked: {result.revoked}.\n"
    )
    if result.note:
        out.write(f"{result.note}\n")


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
        resource,
        "secret",
        cmd_resource_secret,
        "replace a resource's secret everywhere from a new handle ('-' reads stdin), or --show it",
    )
    p.add_argument("name")
    p.add_argument("handle", nargs="?", help="the new handle with its new secret, or - to read it from stdin")
    p.add_argument(
        "--keep-deploys",
        action="store_true",
        help="change only the keyring: attached deploys keep the old secret in their config",
    )
    p.add_argument("--show", action="store_true", help="print the complete handle, secret included, to a terminal")
    p.add_argument("--force", action="store_true", help="with --show: print even when stdout is not a terminal")
    p = command(
        resource,
        "rotate",
        cmd_resource_rotate,
        "a new credential beside the old one, given to every attached deploy, then the old one revoked",
    )
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p = command(resource, "keep", cmd_resource_keep, "change how long a detached resource is kept")
    p.add_argument("name")
    p.add_argument("--until", required=True, metavar="YYYY-MM-DD")
