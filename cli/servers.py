"""``changeover server ...`` and ``changeover provision``: where Changeover may create databases."""

from __future__ import annotations

import argparse
from typing import TextIO

from changeover.core import servers
from changeover.core.errors import InvalidInput
from changeover.core.jobs import Progress
from changeover.core.providers.base import InstanceOptions
from changeover.core.providers.rds import ENGINES, STORAGE_GB
from changeover.core.workspace import Workspace

from .options import Commands, command, group, number, read_handle
from .output import Bar, emit_json, listing


def cmd_server_add(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = servers.register_server(ws, args.name, read_handle(args.handle))
    out.write(f"Registered {info.kind} server {info.name} ({info.version}): {info.handle}\n")


def cmd_server_list(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    listing(
        servers.list_servers(ws),
        args.json,
        ("NAME", "KIND", "VERSION", "DATABASES", "HANDLE"),
        lambda s: (s.name, s.kind, s.version, str(len(s.resources)), s.handle),
        out,
    )


def cmd_server_show(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = servers.show_server(ws, args.name)
    if args.json:
        emit_json(info, out)
        return
    out.write(f"server     {info.name}\nkind       {info.kind} {info.version}\nhandle     {info.handle}\n")
    out.write(f"plans      {'yes' if info.has_plans else 'no'}\ndatabases  {', '.join(info.resources) or '-'}\n")
    for plan in info.plans:
        out.write(f"  {plan}\n")


def cmd_server_remove(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    servers.remove_server(ws, args.name)
    out.write(f"Removed server {args.name} (nothing was dropped on it).\n")


def _instance(args: argparse.Namespace) -> InstanceOptions | None:
    """The per-database choices of an RDS provision, or None when none was given."""
    if args.engine is None:
        if args.version or args.storage or args.public:
            raise InvalidInput("--version, --storage and --public go with --engine (an Amazon RDS instance).")
        return None
    return InstanceOptions(args.engine, args.version, int(args.storage) if args.storage else None, args.public)


def cmd_provision(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    bar = Bar(out)
    info = servers.provision(
        ws, args.server, args.name, plan=args.plan, instance=_instance(args), progress=_statuses(bar, out)
    )
    bar.clear()
    out.write(f"Provisioned {info.name} on {info.server}: {info.handle}\n")


def _statuses(bar: Bar, out: TextIO) -> Progress:
    """Progress of a long provision: each new message on its own line (an instance's status changes)."""
    seen: list[str] = []

    def progress(done: int, total: int | None, unit: str, message: str) -> None:
        if message and message not in seen[-1:]:
            seen.append(message)
            bar.clear()
            out.write(f"  {message}\n")
            out.flush()
        bar.progress(done, total, unit, message)

    return progress


def register(commands: Commands) -> None:
    server = group(commands, "server", "database servers Changeover may provision on")
    p = command(
        server, "add", cmd_server_add, "register a server: an admin handle ('-': stdin), a SQLite folder, an AWS region"
    )
    p.add_argument("name")
    p.add_argument(
        "handle",
        help="postgresql://admin:pw@host/postgres, mysql://root:pw@host/, a folder, rds://REGION[?profile=NAME], or -",
    )
    p = command(server, "list", cmd_server_list, "list servers")
    p.add_argument("--json", action="store_true")
    p = command(server, "show", cmd_server_show, "show a server")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p = command(server, "remove", cmd_server_remove, "forget a server (refused while it has live databases)")
    p.add_argument("name")
    p = command(commands, "provision", cmd_provision, "create a database and its own user on a registered server")
    p.add_argument("server")
    p.add_argument("name", help="the new resource's name")
    p.add_argument("--plan", help="size or plan, where the server has them (RDS: an instance class, db.t4g.large)")
    p.add_argument("--engine", choices=sorted(ENGINES), help="the engine of a new RDS instance")
    p.add_argument("--version", help="the engine version of a new RDS instance (default: RDS's default)")
    p.add_argument(
        "--storage",
        type=number(STORAGE_GB, "--storage"),
        metavar="GB",
        help=f"storage of a new RDS instance in GB (default {STORAGE_GB[0]})",
    )
    p.add_argument("--public", action="store_true", help="make a new RDS instance publicly accessible")
