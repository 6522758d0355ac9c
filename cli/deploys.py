"""``changeover deploy ...`` and ``changeover import``: the apps whose config Changeover writes."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any, TextIO

from changeover.core.context import HOOK_SECONDS
from changeover.core.errors import InvalidInput
from changeover.core.records import AttachmentInfo, DeployInfo
from changeover.core.workspace import Workspace

from .options import Commands, command, group, number
from .output import emit_json, listing, table, when


def hook_options(parser: argparse.ArgumentParser) -> None:
    """The labels and hooks a deploy has, as options of ``deploy add``, ``deploy edit`` and ``import``."""
    parser.add_argument("--app", help="app label (deploys are grouped by app and environment)")
    parser.add_argument("--environment", help="environment label, e.g. production or staging")
    parser.add_argument("--restart-cmd", help="command run after every config change")
    parser.add_argument("--maintenance-on-cmd", help="command that puts the app in maintenance mode")
    parser.add_argument("--maintenance-off-cmd", help="command that takes the app out of maintenance mode")
    parser.add_argument(
        "--maintenance-var", help="a config flag set to 1 for maintenance (then a restart), e.g. MAINTENANCE_MODE"
    )
    parser.add_argument(
        "--hook-timeout", type=number(HOOK_SECONDS, "--hook-timeout"), help="seconds a hook may run (default 60)"
    )


def deploy_options(args: argparse.Namespace) -> dict[str, Any]:
    """The hook options that were given, as keyword arguments of the workspace."""
    options = {
        "app": args.app,
        "environment": args.environment,
        "restart_cmd": args.restart_cmd,
        "maintenance_on_cmd": args.maintenance_on_cmd,
        "maintenance_off_cmd": args.maintenance_off_cmd,
        "maintenance_var": args.maintenance_var,
        "hook_timeout": args.hook_timeout,
    }
    return {k: v for k, v in options.items() if v is not None}


def print_attachments(attachments: Sequence[AttachmentInfo], out: TextIO) -> None:
    table(
        [(a.env_var, a.resource, a.deploy, a.kind, a.handle, when(a.attached_at)) for a in attachments],
        ("VAR", "RESOURCE", "DEPLOY", "KIND", "HANDLE", "SINCE"),
        out,
    )


def _print_deploy(info: DeployInfo, out: TextIO) -> None:
    out.write(f"deploy       {info.name}\n")
    out.write(f"app/env      {info.app or '-'} / {info.environment or '-'}\n")
    out.write(f"config       {info.config_kind} {info.config_location}\n")
    out.write(f"restart      {info.restart_cmd or '-'}\n")
    maintenance = info.maintenance_on_cmd or (f"{info.maintenance_var}=1" if info.maintenance_var else "-")
    out.write(f"maintenance  {maintenance}\n")
    out.write(f"hook timeout {info.hook_timeout}s\n")
    out.write("attached:\n")
    print_attachments(info.attachments, out)


def config_options(parser: argparse.ArgumentParser) -> None:
    """Where a new deploy's config lives: ``--env-file``, or ``--ssm-path`` with ``--region`` (and ``--profile``)."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--env-file", help="the deploy's .env file")
    where.add_argument("--ssm-path", help="the AWS SSM path holding the config, e.g. /app/prod")
    parser.add_argument("--region", help="the AWS region of --ssm-path, e.g. eu-west-1")
    parser.add_argument("--profile", help="the AWS profile to use for --ssm-path (default: the standard AWS chain)")


def config_where(args: argparse.Namespace) -> dict[str, Any]:
    """The config location options given, as keyword arguments of the workspace."""
    if args.ssm_path and not args.region:
        raise InvalidInput("Give the AWS region of the SSM path: --region REGION (for example eu-west-1).")
    return {"ssm_path": args.ssm_path, "region": args.region, "profile": args.profile}


def cmd_deploy_add(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.add_deploy(
        args.name, args.env_file, create_env_file=args.create, **config_where(args), **deploy_options(args)
    )
    out.write(f"Added deploy {info.name} ({info.config_location}).\n")


def cmd_deploy_edit(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    changes = deploy_options(args)
    if args.env_file:
        changes["env_file"] = args.env_file
    if args.rename:
        changes["new_name"] = args.rename
    if not changes:
        raise InvalidInput("Nothing to change: give at least one option (see `changeover deploy edit --help`).")
    info = ws.edit_deploy(args.name, **changes)
    out.write(f"Updated deploy {info.name}.\n")


def cmd_deploy_list(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    listing(
        ws.list_deploys(),
        args.json,
        ("NAME", "APP", "ENV", "ATTACHED", "CONFIG"),
        lambda d: (d.name, d.app or "-", d.environment or "-", str(len(d.attachments)), d.config_location),
        out,
    )


def cmd_deploy_show(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.show_deploy(args.name)
    config = ws.deploy_config(args.name)
    if args.json:
        emit_json({**dataclasses.asdict(info), "config": [dataclasses.asdict(v) for v in config]}, out)
        return
    _print_deploy(info, out)
    out.write("config:\n")
    table([(v.name, v.value, v.resource or "") for v in config], ("VAR", "VALUE", "RESOURCE"), out)


def cmd_deploy_remove(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    ws.remove_deploy(args.name)
    out.write(f"Removed deploy {args.name} (its config file was not touched).\n")


def cmd_deploy_restart(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    ws.restart(args.name)
    out.write(f"Restarted {args.name}.\n")


def cmd_deploy_maintenance(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    ws.set_maintenance(args.name, args.state == "on")
    out.write(f"Maintenance {args.state} for {args.name}.\n")


def cmd_import(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    result = ws.import_deploy(
        args.deploy, args.env_file, dry_run=args.dry_run, **config_where(args), **deploy_options(args)
    )
    if args.json:
        emit_json(result, out)
        return
    if result.dry_run:
        out.write(
            f"Dry run: nothing was saved. Importing {result.deploy.name} ({result.deploy.config_location}) would:\n"
        )
        table(
            [
                (
                    r.variable,
                    r.kind,
                    r.resource,
                    r.handle,
                    ("attach" if r.attach else "register only") + (" (already registered)" if r.existing else ""),
                    r.why,
                )
                for r in result.recognised
            ],
            ("VAR", "KIND", "RESOURCE", "HANDLE", "ACTION", "RECOGNISED BY"),
            out,
        )
    else:
        out.write(f"Imported deploy {result.deploy.name} with {len(result.attached)} attached resource(s):\n")
        for var, resource in result.attached:
            out.write(f"  {var} -> {resource}\n")
        for var, resource in result.registered:
            out.write(f"  {var} -> {resource} (registered, not attached: the app reads it in its own form)\n")
    for var, reason in result.skipped:
        out.write(f"skipped {var}: {reason}\n")


def register(commands: Commands) -> None:
    deploy = group(commands, "deploy", "add, edit, list, show, remove deploys")
    p = command(deploy, "add", cmd_deploy_add, "add a deploy whose config is a .env file or an SSM path")
    p.add_argument("name")
    config_options(p)
    p.add_argument("--create", action="store_true", help="create the .env file (mode 0600) if it does not exist")
    hook_options(p)
    p = command(deploy, "edit", cmd_deploy_edit, "change a deploy's labels, config file or hooks")
    p.add_argument("name")
    p.add_argument("--env-file")
    p.add_argument("--rename", metavar="NEW_NAME")
    hook_options(p)
    p = command(deploy, "list", cmd_deploy_list, "list deploys")
    p.add_argument("--json", action="store_true")
    p = command(deploy, "show", cmd_deploy_show, "show a deploy, its attachments and its config (masked)")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p = command(deploy, "remove", cmd_deploy_remove, "forget a deploy (refused while resources are attached)")
    p.add_argument("name")
    p = command(deploy, "restart", cmd_deploy_restart, "run a deploy's restart hook")
    p.add_argument("name")
    p = command(deploy, "maintenance", cmd_deploy_maintenance, "turn a deploy's maintenance mode on or off")
    p.add_argument("name")
    p.add_argument("state", choices=("on", "off"))


def register_import(commands: Commands) -> None:
    p = command(commands, "import", cmd_import, "add a deploy from a .env or SSM path and attach the resources it uses")
    p.add_argument("deploy")
    config_options(p)
    hook_options(p)
    p.add_argument("--dry-run", action="store_true", help="show what would be registered and attached; save nothing")
    p.add_argument("--json", action="store_true")
