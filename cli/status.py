"""``changeover status``, ``settings`` and ``events``: how this Changeover is set up, and what it did."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TextIO

from changeover.core import __version__, audit, secrets
from changeover.core.context import EVENT_LIMIT, SETTINGS
from changeover.core.errors import InvalidInput
from changeover.core.inventory.db import inventory_url
from changeover.core.records import EventInfo
from changeover.core.upgrade import procedure
from changeover.core.workspace import Workspace

from . import checks
from .options import Commands, command, number
from .output import emit_json, listing, when


def cmd_status(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    keyring = secrets.status()
    unfinished = procedure.list_runs(ws, unfinished=True)
    inventory = inventory_url().render_as_string(hide_password=True)
    if args.json:
        report = {
            "version": __version__,
            "inventory": inventory,
            "keyring": dataclasses.asdict(keyring),
            "unfinished_upgrades": [r.id for r in unfinished],
        }
        emit_json(report, out)
        return
    out.write(f"changeover   {__version__}\n")
    out.write(f"inventory    {inventory}\n")
    out.write(f"keyring      {keyring.name}: {'usable, unlocked' if keyring.usable else 'NOT usable'}\n")
    out.write(f"             {keyring.message}\n")
    for run in unfinished:
        out.write(f"unfinished   upgrade run {run.id}: {run.source} -> {run.target} at {run.step} ({run.state})\n")


def cmd_settings(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    if args.key and args.value is not None:
        ws.set_setting(args.key, args.value)
        out.write(f"{args.key} = {args.value}\n")
    elif args.key:
        out.write(f"{ws.setting(args.key)}\n")
    else:
        for key in sorted(SETTINGS):
            out.write(f"{key} = {ws.setting(key)}\n")


def cmd_events(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    since = audit.parse_since(args.since) if args.since else None
    if args.format:
        if args.json:
            raise InvalidInput("Give --json or --format, not both: --format json is the export's JSON.")
        limit = args.limit if args.limit is not None else EVENT_LIMIT[1]
        out.write(ws.export_events(args.format, since=since, object_name=args.object, limit=limit))
        return
    events: list[EventInfo] = ws.events(args.object, limit=args.limit or 50, since=since)
    listing(
        events,
        args.json,
        ("WHEN", "WHO", "ACTION", "OBJECT", "RESULT", "DETAIL"),
        lambda e: (when(e.at), e.actor, e.action, f"{e.object_type} {e.object_name}", e.result, e.detail[:120]),
        out,
    )


def register_events(commands: Commands) -> None:
    p = command(commands, "events", cmd_events, "show the audit trail, newest first, or export it")
    p.add_argument("--object", help="only events about this deploy or resource")
    p.add_argument(
        "--limit",
        type=number(EVENT_LIMIT, "--limit"),
        help="at most this many events (default 50; an export: all)",
    )
    p.add_argument("--since", metavar="DATE", help="only events from this date or time on (UTC unless it has a zone)")
    p.add_argument(
        "--format",
        choices=audit.EXPORT_FORMATS,
        help="export, oldest first, times in UTC with seconds: csv, json or md (a Markdown table)",
    )
    p.add_argument("--json", action="store_true")


def register(commands: Commands) -> None:
    checks.register(commands)
    p = command(commands, "status", cmd_status, "version, inventory, keyring and unfinished upgrades")
    p.add_argument("--json", action="store_true")
    p = command(
        commands, "settings", cmd_settings, "show or change settings (retention_days, env_backups, secret_warn_days)"
    )
    p.add_argument("key", nargs="?")
    p.add_argument("value", nargs="?")
