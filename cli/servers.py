"""``changeover server ...`` and ``changeover provision``: where Changeover may create databases."""

from __future__ import annotations

import argparse
from typing import TextIO

from changeover.core import servers
from changeover.core.workspace import Workspace

from .options import Commands, command, group, read_handle
from .output import emit_json, listing


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


def cmd_server_remove(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    servers.remove_server(ws, args.name)
    out.write(f"Removed server {args.name} (nothing was dropped on it).\n")


def cmd_provision(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = servers.provision(ws, args.server, args.name, plan=args.plan)
    out.write(f"Provisioned {info.name} on {info.server}: {info.handle}\n")


def register(commands: Commands) -> None:
    server = group(commands, "server", "database servers Changeover may provision on")
    p = command(
        server, "add", cmd_server_add, "register a server by its admin handle ('-' reads stdin) or a SQLite folder"
    )
    p.add_argument("name")
    p.add_argument("handle", help="postgresql://admin:pw@host/postgres, mysql://root:pw@host/, a folder, or -")
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
    p.add_argument("--plan", help="size or plan, where the server has them")
