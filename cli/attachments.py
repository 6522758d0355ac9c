"""``changeover attach``, ``detach``, ``swap`` and ``deprovision``: a resource's life with its deploys."""

from __future__ import annotations

import argparse
from typing import TextIO

from changeover.core import servers
from changeover.core.context import DAYS
from changeover.core.workspace import Workspace

from .options import Commands, command, number
from .output import Bar, emit_json
from .resources import state_label


def cmd_attach(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.attach(args.resource, args.deploy, args.env_var, replace=args.replace)
    out.write(f"Attached {info.resource} to {info.deploy} as {info.env_var}.\n")


def cmd_detach(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.detach(args.resource, args.deploy, keep_days=args.keep_days)
    out.write(f"Detached {info.name} from {args.deploy}; it is {state_label(info)}.\n")


def cmd_swap(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    result = ws.swap(args.old, args.new, keep_days=args.keep_days)
    if args.json:
        emit_json(result, out)
        return
    out.write(f"Checked {result.new.name}: {result.check}\n")
    for deploy, var in result.switched:
        out.write(f"  {deploy}: {var} -> {result.new.name}, restarted\n")
    out.write(f"Swapped {result.old.name} for {result.new.name}; {result.old.name} is {state_label(result.old)}.\n")


def cmd_deprovision(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    bar = Bar(out)
    try:
        info = servers.deprovision(
            ws,
            args.resource,
            args.confirm,
            final_backup=not args.no_final_backup,
            test_restore=not args.no_test_restore,
            delete_contents=args.delete_contents,
            progress=bar.progress,
        )
    finally:
        bar.clear()
    out.write(f"Deprovisioned {info.name}" + (f"; {info.note}" if info.note else "") + ".\n")


def register(commands: Commands) -> None:
    p = command(commands, "attach", cmd_attach, "set the resource's handle in the deploy's config and restart it")
    p.add_argument("resource")
    p.add_argument("deploy")
    p.add_argument("--as", dest="env_var", metavar="VAR", help="the env var (default by kind, e.g. DATABASE_URL)")
    p.add_argument("--replace", action="store_true", help="replace the variable if it is already in use")
    p = command(commands, "detach", cmd_detach, "clear the variable from the deploy's config and restart it")
    p.add_argument("resource")
    p.add_argument("deploy")
    p.add_argument(
        "--keep-days",
        type=number(DAYS, "--keep-days"),
        help="days to keep the detached resource (default: retention_days)",
    )
    p = command(
        commands, "swap", cmd_swap, "replace a resource by another of its kind on every deploy it is attached to"
    )
    p.add_argument("old", help="the resource the deploys use now")
    p.add_argument("new", help="the resource of the same kind that replaces it (checked first)")
    p.add_argument(
        "--keep-days",
        type=number(DAYS, "--keep-days"),
        help="days to keep the replaced resource (default: retention_days)",
    )
    p.add_argument("--json", action="store_true")
    p = command(commands, "deprovision", cmd_deprovision, "forget (or drop, if provider-made) a detached resource")
    p.add_argument("resource")
    p.add_argument("--confirm", required=True, metavar="NAME", help="the resource's name, typed again")
    p.add_argument(
        "--no-final-backup",
        "--no-final-snapshot",
        dest="no_final_backup",
        action="store_true",
        help="drop a provider-made database without a final backup (RDS: without a final snapshot)",
    )
    p.add_argument(
        "--delete-contents", action="store_true", help="remove a provider-made S3 bucket even if it holds objects"
    )
    p.add_argument(
        "--no-test-restore",
        action="store_true",
        help="drop it after the final backup without proving the backup first (a test-restore)",
    )
