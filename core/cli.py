"""The headless face of Changeover: one subcommand per use case.

Exit codes: 0 success, 1 a user error (one line on stderr naming the problem and the fix), 2 bad usage.
A handle argument may be ``-`` to read it from standard input (hidden when typed at a terminal), so a
password need not appear in the process list or shell history.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy.engine import URL

from . import __version__, handles
from .errors import ChangeoverError, InvalidInput
from .inventory.models import ResourceState
from .jobs import RateMeter, human_rate, human_seconds
from .logs import setup_logging
from .upgrade.procedure import TITLES, RunEvent, RunInfo, UpgradePlan
from .workspace import (
    DAYS,
    EVENT_LIMIT,
    HOOK_SECONDS,
    QUIET_SECONDS,
    AttachmentInfo,
    DeployInfo,
    EventInfo,
    ResourceInfo,
    Workspace,
    check_range,
)

logger = logging.getLogger(__name__)

Handler = Callable[[Workspace, argparse.Namespace, TextIO], None]


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def emit_json(data: object, out: TextIO) -> None:
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = dataclasses.asdict(data)
    elif isinstance(data, list):
        data = [dataclasses.asdict(d) if dataclasses.is_dataclass(d) and not isinstance(d, type) else d for d in data]
    json.dump(data, out, default=_json_default, indent=2, ensure_ascii=False)
    out.write("\n")


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "-"


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO) -> None:
    if not rows:
        out.write("(none)\n")
        return
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
    for row in [headers, *rows]:
        out.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() + "\n")


def _number(bounds: tuple[float, float], what: str, kind: type[int] | type[float] = int) -> Callable[[str], float]:
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


# -- deploys ----------------------------------------------------------------------------------------


def _hook_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app", help="app label (deploys are grouped by app and environment)")
    parser.add_argument("--environment", help="environment label, e.g. production or staging")
    parser.add_argument("--restart-cmd", help="command run after every config change")
    parser.add_argument("--maintenance-on-cmd", help="command that puts the app in maintenance mode")
    parser.add_argument("--maintenance-off-cmd", help="command that takes the app out of maintenance mode")
    parser.add_argument(
        "--maintenance-var", help="a config flag set to 1 for maintenance (then a restart), e.g. MAINTENANCE_MODE"
    )
    parser.add_argument(
        "--hook-timeout", type=_number(HOOK_SECONDS, "--hook-timeout"), help="seconds a hook may run (default 60)"
    )


def _deploy_options(args: argparse.Namespace) -> dict[str, Any]:
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


def _print_deploy(info: DeployInfo, out: TextIO) -> None:
    out.write(f"deploy       {info.name}\n")
    out.write(f"app/env      {info.app or '-'} / {info.environment or '-'}\n")
    out.write(f"config       {info.config_kind} {info.config_location}\n")
    out.write(f"restart      {info.restart_cmd or '-'}\n")
    maintenance = info.maintenance_on_cmd or (f"{info.maintenance_var}=1" if info.maintenance_var else "-")
    out.write(f"maintenance  {maintenance}\n")
    out.write(f"hook timeout {info.hook_timeout}s\n")
    out.write("attached:\n")
    _print_attachments(info.attachments, out)


def _print_attachments(attachments: Sequence[AttachmentInfo], out: TextIO) -> None:
    _table(
        [(a.env_var, a.resource, a.deploy, a.kind, a.handle, _when(a.attached_at)) for a in attachments],
        ("VAR", "RESOURCE", "DEPLOY", "KIND", "HANDLE", "SINCE"),
        out,
    )


def cmd_deploy_add(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.add_deploy(args.name, args.env_file, create_env_file=args.create, **_deploy_options(args))
    out.write(f"Added deploy {info.name} ({info.config_location}).\n")


def cmd_deploy_edit(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    changes = _deploy_options(args)
    if args.env_file:
        changes["env_file"] = args.env_file
    if args.rename:
        changes["new_name"] = args.rename
    if not changes:
        raise InvalidInput("Nothing to change: give at least one option (see `changeover deploy edit --help`).")
    info = ws.edit_deploy(args.name, **changes)
    out.write(f"Updated deploy {info.name}.\n")


def cmd_deploy_list(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    deploys = ws.list_deploys()
    if args.json:
        emit_json(deploys, out)
        return
    _table(
        [(d.name, d.app or "-", d.environment or "-", str(len(d.attachments)), d.config_location) for d in deploys],
        ("NAME", "APP", "ENV", "ATTACHED", "CONFIG"),
        out,
    )


def cmd_deploy_show(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.show_deploy(args.name)
    if args.json:
        data = dataclasses.asdict(info)
        data["config"] = [dataclasses.asdict(v) for v in ws.deploy_config(args.name)]
        emit_json(data, out)
        return
    _print_deploy(info, out)
    out.write("config:\n")
    _table(
        [(v.name, v.value, v.resource or "") for v in ws.deploy_config(args.name)], ("VAR", "VALUE", "RESOURCE"), out
    )


def cmd_deploy_remove(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    ws.remove_deploy(args.name)
    out.write(f"Removed deploy {args.name} (its config file was not touched).\n")


def cmd_deploy_restart(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    ws.restart(args.name)
    out.write(f"Restarted {args.name}.\n")


def cmd_deploy_maintenance(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    ws.set_maintenance(args.name, args.state == "on")
    out.write(f"Maintenance {args.state} for {args.name}.\n")


# -- resources --------------------------------------------------------------------------------------


def _print_resource(info: ResourceInfo, out: TextIO) -> None:
    out.write(f"resource     {info.name}\n")
    out.write(f"kind         {info.kind}\n")
    out.write(f"handle       {info.handle}\n")
    out.write(f"origin       {info.origin}" + (f" (server {info.server})" if info.server else "") + "\n")
    out.write(f"state        {info.state}\n")
    if info.keep_until:
        overdue = "  (past: deprovision it or keep it longer)" if info.overdue else ""
        out.write(f"kept until   {_when(info.keep_until)}{overdue}\n")
    out.write(f"secret       {'in the keyring' if info.has_secret else 'none'}\n")
    out.write("attached:\n")
    _print_attachments(info.attachments, out)


def _state_label(info: ResourceInfo) -> str:
    if info.keep_until:
        return f"{info.state}, kept until {_when(info.keep_until)}" + (" (past)" if info.overdue else "")
    return info.state


def cmd_resource_add(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.register_resource(args.name, read_handle(args.handle), kind=args.kind)
    out.write(f"Registered {info.kind} resource {info.name}: {info.handle}\n")


def cmd_resource_list(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    resources = ws.list_resources(args.state)
    if args.json:
        emit_json(resources, out)
        return
    _table(
        [
            (
                r.name,
                r.kind,
                _state_label(r),
                ", ".join(f"{a.deploy}:{a.env_var}" for a in r.attachments) or "-",
                r.handle,
            )
            for r in resources
        ],
        ("NAME", "KIND", "STATE", "ATTACHED TO", "HANDLE"),
        out,
    )


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
    from . import provisioning

    result = provisioning.rotate(ws, args.name)
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
    out.write(f"{info.name} is kept until {_when(info.keep_until)}.\n")


def cmd_attach(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.attach(args.resource, args.deploy, args.env_var, replace=args.replace)
    out.write(f"Attached {info.resource} to {info.deploy} as {info.env_var}.\n")


def cmd_detach(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.detach(args.resource, args.deploy, keep_days=args.keep_days)
    out.write(f"Detached {info.name} from {args.deploy}; it is {_state_label(info)}.\n")


def cmd_deprovision(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from . import provisioning

    bar = _Bar(out, False)
    info = provisioning.deprovision(
        ws, args.resource, args.confirm, final_backup=not args.no_final_backup, progress=bar.progress
    )
    bar.clear()
    out.write(f"Deprovisioned {info.name}.\n")


# -- servers, provisioning, backups, copies ---------------------------------------------------------


def cmd_server_add(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from . import provisioning

    info = provisioning.register_server(ws, args.name, read_handle(args.handle))
    out.write(f"Registered {info.kind} server {info.name} ({info.version}): {info.handle}\n")


def cmd_server_list(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from . import provisioning

    servers = provisioning.list_servers(ws)
    if args.json:
        emit_json(servers, out)
        return
    _table(
        [(s.name, s.kind, s.version, str(len(s.resources)), s.handle) for s in servers],
        ("NAME", "KIND", "VERSION", "DATABASES", "HANDLE"),
        out,
    )


def cmd_server_show(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from . import provisioning

    info = provisioning.show_server(ws, args.name)
    if args.json:
        emit_json(info, out)
        return
    out.write(f"server     {info.name}\nkind       {info.kind} {info.version}\nhandle     {info.handle}\n")
    out.write(f"plans      {'yes' if info.has_plans else 'no'}\ndatabases  {', '.join(info.resources) or '-'}\n")


def cmd_server_remove(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from . import provisioning

    provisioning.remove_server(ws, args.name)
    out.write(f"Removed server {args.name} (nothing was dropped on it).\n")


def cmd_provision(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from . import provisioning

    info = provisioning.provision(ws, args.server, args.name, plan=args.plan)
    out.write(f"Provisioned {info.name} on {info.server}: {info.handle}\n")


def cmd_describe(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from . import provisioning

    info = provisioning.describe_resource(ws, args.resource)
    if args.json:
        emit_json(info, out)
        return
    out.write(f"{info.engine} {info.server_version}, {info.size_bytes:,} bytes, ~{info.estimated_rows:,} rows\n")
    _table([(t.name, f"{t.rows:,}", f"{t.size_bytes:,}") for t in info.tables], ("TABLE", "ROWS (EST.)", "BYTES"), out)


def cmd_backup(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from . import provisioning

    bar = _Bar(out, False)
    result = provisioning.backup_resource(ws, args.resource, bar.progress)
    bar.clear()
    manifest = result.manifest
    out.write(
        f"Backed up {args.resource}: {manifest.format}, {manifest.size_bytes:,} bytes, {manifest.total_rows:,} rows\n"
    )
    out.write(f"in {result.folder}\n")


def cmd_backups(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from . import provisioning

    found = provisioning.list_backups(args.resource)
    if args.json:
        emit_json([{"folder": str(folder), **dataclasses.asdict(m)} for folder, m in found], out)
        return
    _table(
        [(m.resource or "-", m.created_at[:19], m.format, f"{m.size_bytes:,}", str(folder)) for folder, m in found],
        ("RESOURCE", "CREATED (UTC)", "FORMAT", "BYTES", "FOLDER"),
        out,
    )


def cmd_load(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from pathlib import Path

    from . import provisioning

    bar = _Bar(out, False)
    result = provisioning.load_into_resource(ws, Path(args.backup), args.resource, bar.progress)
    bar.clear()
    out.write(
        f"Loaded {result.tables} tables, {result.rows:,} rows into {args.resource}"
        + (" (verified against the backup)\n" if result.verified else "\n")
    )


def _database_urls(ws: Workspace, *names: str) -> list[URL]:
    from .provisioning import _database_url

    return [_database_url(ws, name)[1] for name in names]


def cmd_copy(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from .transfer import crossengine

    source, target = _database_urls(ws, args.source, args.target)
    report = crossengine.plan(source, target)
    out.write(
        f"{report.source_engine} -> {report.target_engine}, {len(report.tables)} tables, "
        f"~{report.estimated_rows:,} rows, by {report.bulk_path or 'bulk insert'}\n"
    )
    for adaptation in report.adaptations:
        out.write(f"  adapted: {adaptation}\n")
    for item in report.not_carried:
        out.write(f"  NOT carried: {item}\n")
    for blocker in report.blockers:
        out.write(f"  blocked: {blocker}\n")
    if args.report_only:
        return
    if report.blockers:
        raise InvalidInput("The copy cannot start (see above); nothing was changed.")
    bar = _Bar(out, False)
    with ws._audited("copy", "resource", args.source) as details:
        result = crossengine.copy(source, target, progress=bar.progress)
        details.append(f"to {args.target}: {result.total_rows} rows")
    bar.clear()
    out.write(f"Copied {result.total_rows:,} rows in {result.seconds:.1f} s.\n")


def cmd_verify(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from .transfer.verify import verify

    source, target = _database_urls(ws, args.source, args.target)
    bar = _Bar(out, False)
    report = verify(source, target, progress=bar.progress)
    bar.clear()
    out.write(report.summary() + "\n")


def cmd_import(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    result = ws.import_deploy(args.deploy, args.env_file, **_deploy_options(args))
    if args.json:
        emit_json(result, out)
        return
    out.write(f"Imported deploy {result.deploy.name} with {len(result.attached)} attached resource(s):\n")
    for var, resource in result.attached:
        out.write(f"  {var} -> {resource}\n")


def cmd_events(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    events: list[EventInfo] = ws.events(args.object, limit=args.limit)
    if args.json:
        emit_json(events, out)
        return
    _table(
        [
            (_when(e.at), e.actor, e.action, f"{e.object_type} {e.object_name}", e.result, e.detail[:120])
            for e in events
        ],
        ("WHEN", "WHO", "ACTION", "OBJECT", "RESULT", "DETAIL"),
        out,
    )


def cmd_settings(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    if args.key and args.value is not None:
        ws.set_setting(args.key, args.value)
        out.write(f"{args.key} = {args.value}\n")
    elif args.key:
        out.write(f"{ws.setting(args.key)}\n")
    else:
        from .workspace import SETTINGS

        for key in sorted(SETTINGS):
            out.write(f"{key} = {ws.setting(key)}\n")


# -- upgrade ----------------------------------------------------------------------------------------


class _Bar:
    """One line per step on a terminal: a bar with percent, rate and ETA; or one JSON object per event."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.tty = out.isatty()
        self.meter = RateMeter()
        self.last = 0.0

    def progress(self, done: int, total: int | None, unit: str, message: str) -> None:
        """A job's progress callback: redraw the bar at most five times a second (terminals only)."""
        if self.as_json:
            record = {"done": done, "total": total, "unit": unit, "message": message}
            self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        self.meter.update(done, total, unit)
        now = time.monotonic()
        if not self.tty or now - self.last < 0.2:
            return
        self.last = now
        percent = self.meter.percent
        bar = "#" * int((percent or 0) / 5)
        shown = f"{percent:5.1f}%" if percent is not None else "  ... "
        rate, eta = human_rate(self.meter.rate, unit), human_seconds(self.meter.eta)
        line = f"    [{bar:<20}] {shown} {rate:>12} {('ETA ' + eta) if eta else '':>10}  {message[:50]}"
        self.out.write("\r" + line[:150].ljust(150))
        self.out.flush()

    def clear(self) -> None:
        if self.tty and not self.as_json:
            self.out.write("\r" + " " * 150 + "\r")

    def __call__(self, event: RunEvent) -> None:
        if self.as_json:
            self.out.write(json.dumps(dataclasses.asdict(event), ensure_ascii=False) + "\n")
            self.out.flush()
            return
        if event.state == "running":
            self.meter.reset()
            self.out.write(f"==> {TITLES[event.step]}\n")
        elif event.state == "progress":
            self.progress(event.done, event.total, event.unit, event.message)
        else:
            self.clear()
            marker = {
                "done": "ok",
                "failed": "FAILED",
                "retrying": "retry",
                "switched": "!!",
                "rolled_back": "rolled back",
            }
            self.out.write(f"    {marker.get(event.state, event.state)}: {event.message}\n")
            self.out.flush()


def _print_plan(plan: UpgradePlan, out: TextIO) -> None:
    out.write(
        f"Upgrade {plan.source} ({plan.source_kind} {plan.source_version}, {plan.source_size:,} bytes, "
        f"{plan.source_tables} tables, ~{plan.source_rows:,} rows)\n"
    )
    where = f"provisioned on {plan.target_server}" if plan.target_server else plan.target_handle
    out.write(f"to      {plan.target_name} ({plan.target_kind}, {where})\n")
    for deploy, var in plan.deploys:
        out.write(f"deploy  {deploy}: {var} switches to the new database\n")
    out.write("steps:\n")
    for i, (_, title) in enumerate(plan.steps, 1):
        out.write(f"  {i}. {title}\n")
    out.write("pre-flight:\n")
    for check in plan.checks:
        out.write(f"  [{'ok' if check.ok else 'FAIL'}] {check.name}: {check.message}\n")
    out.write(f"estimated maintenance window: about {human_seconds(plan.estimate_seconds)}\n")
    out.write(f"the old database is kept, detached, for {plan.keep_days} days after the switch\n")
    for line in plan.adaptations:
        out.write(f"  adapted: {line}\n")
    for line in plan.not_carried:
        out.write(f"  NOT carried: {line}\n")
    for warning in plan.warnings:
        out.write(f"warning: {warning}\n")


def _print_run(run: RunInfo, out: TextIO) -> None:
    out.write(f"run {run.id}: {run.source} -> {run.target}  state {run.state}, at {run.step}\n")
    if run.switched:
        out.write("  the deploys were switched to the new database (past the point of no return)\n")
    if run.maintenance_seconds is not None:
        out.write(f"  maintenance window {run.maintenance_seconds:.1f} s\n")
    if run.backup_path:
        out.write(f"  backup {run.backup_path}\n")
    if run.error:
        out.write(f"  error: {run.error}\n")
    for step in run.steps:
        out.write(f"  {step.state:<12} {step.title}" + (f": {step.message}" if step.message else "") + "\n")


def cmd_upgrade(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from .upgrade import procedure

    if args.list:
        runs = procedure.list_runs(ws)
        if args.json:
            emit_json(runs, out)
            return
        _table(
            [
                (
                    str(r.id),
                    r.source,
                    r.target,
                    r.state,
                    r.step,
                    _when(r.created_at),
                    f"{r.maintenance_seconds:.1f}s" if r.maintenance_seconds is not None else "-",
                )
                for r in runs
            ],
            ("RUN", "SOURCE", "TARGET", "STATE", "STEP", "STARTED", "MAINTENANCE"),
            out,
        )
        return
    bar = _Bar(out, args.json)
    if args.rollback is not None:
        run = procedure.rollback(ws, args.rollback, on_event=bar)
        _print_run(run, out) if not args.json else emit_json(run, out)
        return
    if args.resume is not None:
        run_id = args.resume
    else:
        if not args.resource:
            raise InvalidInput("Name the database to upgrade, or use --list, --resume RUN or --rollback RUN.")
        to = read_handle(args.to) if args.to else None
        plan = procedure.plan_upgrade(
            ws,
            args.resource,
            to_handle=to,
            provision_on=args.provision,
            plan=args.plan,
            target_name=args.name,
            keep_days=args.keep_days,
            quiet_timeout=args.quiet_timeout,
        )
        if args.json:
            emit_json({**dataclasses.asdict(plan), "target_text": None, "ok": plan.ok}, out)
        else:
            _print_plan(plan, out)
        if not plan.ok:
            raise procedure.UpgradeFailed("Pre-flight checks failed (see above); nothing was changed.")
        if not args.yes:
            if not sys.stdin.isatty():
                raise InvalidInput("Not starting without confirmation: run it at a terminal or pass --yes.")
            answer = input("Start the upgrade? This puts the deploys in maintenance. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                out.write("Nothing was changed.\n")
                return
        run_id = procedure.start_upgrade(ws, plan, quiet_timeout=args.quiet_timeout).id
        if not args.json:
            out.write(f"Started upgrade run {run_id}.\n")
    try:
        run = procedure.execute(ws, run_id, on_event=bar)
    finally:
        final = procedure.show_run(ws, run_id)
        if args.json:
            emit_json(final, out)
        else:
            _print_run(final, out)
    del run


# -- status -----------------------------------------------------------------------------------------


class _Version(argparse.Action):
    """``--version``: the version, and which keyring holds the secrets (asked only when this is given)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from . import secrets

        sys.stdout.write(f"changeover {__version__}\nkeyring: {secrets.status().message}\n")
        parser.exit(0)


def cmd_status(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    from . import secrets
    from .inventory.db import inventory_url
    from .upgrade import procedure

    keyring = secrets.status()
    unfinished = procedure.list_runs(ws, unfinished=True)
    report = {
        "version": __version__,
        "inventory": inventory_url().render_as_string(hide_password=True),
        "keyring": dataclasses.asdict(keyring),
        "unfinished_upgrades": [r.id for r in unfinished],
    }
    if args.json:
        emit_json(report, out)
        return
    out.write(f"changeover   {__version__}\n")
    out.write(f"inventory    {report['inventory']}\n")
    out.write(f"keyring      {keyring.name}: {'usable, unlocked' if keyring.usable else 'NOT usable'}\n")
    out.write(f"             {keyring.message}\n")
    for run in unfinished:
        out.write(f"unfinished   upgrade run {run.id}: {run.source} -> {run.target} at {run.step} ({run.state})\n")


# -- the parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="changeover",
        description="Administer twelve-factor deploys and their attached resources. With no command, opens the window.",
    )
    parser.add_argument("--version", action=_Version, help="show the version and where secrets are kept, then exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    deploy = commands.add_parser("deploy", help="add, edit, list, show, remove deploys").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    p = deploy.add_parser("add", help="add a deploy whose config is a .env file")
    p.add_argument("name")
    p.add_argument("--env-file", required=True, help="the deploy's .env file")
    p.add_argument("--create", action="store_true", help="create the .env file (mode 0600) if it does not exist")
    _hook_options(p)
    p.set_defaults(handler=cmd_deploy_add)
    p = deploy.add_parser("edit", help="change a deploy's labels, config file or hooks")
    p.add_argument("name")
    p.add_argument("--env-file")
    p.add_argument("--rename", metavar="NEW_NAME")
    _hook_options(p)
    p.set_defaults(handler=cmd_deploy_edit)
    p = deploy.add_parser("list", help="list deploys")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_deploy_list)
    p = deploy.add_parser("show", help="show a deploy, its attachments and its config (masked)")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_deploy_show)
    p = deploy.add_parser("remove", help="forget a deploy (refused while resources are attached)")
    p.add_argument("name")
    p.set_defaults(handler=cmd_deploy_remove)
    p = deploy.add_parser("restart", help="run a deploy's restart hook")
    p.add_argument("name")
    p.set_defaults(handler=cmd_deploy_restart)
    p = deploy.add_parser("maintenance", help="turn a deploy's maintenance mode on or off")
    p.add_argument("name")
    p.add_argument("state", choices=("on", "off"))
    p.set_defaults(handler=cmd_deploy_maintenance)

    resource = commands.add_parser("resource", help="register, list, show resources").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    p = resource.add_parser("add", help="register a resource from its handle (URL); '-' reads it from stdin")
    p.add_argument("name")
    p.add_argument("handle", help="the URL, e.g. postgresql://user:pass@host/db, or - to read it from stdin")
    p.add_argument("--kind", choices=sorted(handles.KINDS))
    p.set_defaults(handler=cmd_resource_add)
    p = resource.add_parser("list", help="list resources (detached ones included)")
    p.add_argument(
        "--state",
        choices=[*(s.value for s in ResourceState), "all"],
        help="attached, detached, available, failed, deprovisioned or all",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_resource_list)
    p = resource.add_parser("show", help="show one resource, its handle masked")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_resource_show)
    p = resource.add_parser("secret", help="replace a resource's secret from a new handle ('-' reads stdin)")
    p.add_argument("name")
    p.add_argument("handle")
    p.set_defaults(handler=cmd_resource_secret)
    p = resource.add_parser("rotate", help="a new password for a provider-made database user, everywhere at once")
    p.add_argument("name")
    p.set_defaults(handler=cmd_resource_rotate)
    p = resource.add_parser("keep", help="change how long a detached resource is kept")
    p.add_argument("name")
    p.add_argument("--until", required=True, metavar="YYYY-MM-DD")
    p.set_defaults(handler=cmd_resource_keep)

    p = commands.add_parser("attach", help="set the resource's handle in the deploy's config and restart it")
    p.add_argument("resource")
    p.add_argument("deploy")
    p.add_argument("--as", dest="env_var", metavar="VAR", help="the env var (default by kind, e.g. DATABASE_URL)")
    p.add_argument("--replace", action="store_true", help="replace the variable if it is already in use")
    p.set_defaults(handler=cmd_attach)
    p = commands.add_parser("detach", help="clear the variable from the deploy's config and restart it")
    p.add_argument("resource")
    p.add_argument("deploy")
    p.add_argument(
        "--keep-days",
        type=_number(DAYS, "--keep-days"),
        help="days to keep the detached resource (default: retention_days)",
    )
    p.set_defaults(handler=cmd_detach)
    p = commands.add_parser("deprovision", help="forget (or drop, if provider-made) a detached resource")
    p.add_argument("resource")
    p.add_argument("--confirm", required=True, metavar="NAME", help="the resource's name, typed again")
    p.add_argument("--no-final-backup", action="store_true", help="drop a provider-made database without a backup")
    p.set_defaults(handler=cmd_deprovision)

    server = commands.add_parser("server", help="database servers Changeover may provision on").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    p = server.add_parser("add", help="register a server by its admin handle ('-' reads stdin) or a SQLite folder")
    p.add_argument("name")
    p.add_argument("handle", help="postgresql://admin:pw@host/postgres, mysql://root:pw@host/, a folder, or -")
    p.set_defaults(handler=cmd_server_add)
    p = server.add_parser("list", help="list servers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_server_list)
    p = server.add_parser("show", help="show a server")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_server_show)
    p = server.add_parser("remove", help="forget a server (refused while it has live databases)")
    p.add_argument("name")
    p.set_defaults(handler=cmd_server_remove)
    p = commands.add_parser("provision", help="create a database and its own user on a registered server")
    p.add_argument("server")
    p.add_argument("name", help="the new resource's name")
    p.add_argument("--plan", help="size or plan, where the server has them")
    p.set_defaults(handler=cmd_provision)
    p = commands.add_parser("describe", help="a database resource's version, size and tables")
    p.add_argument("resource")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_describe)
    p = commands.add_parser("backup", help="back up a database resource into the backups folder")
    p.add_argument("resource")
    p.set_defaults(handler=cmd_backup)
    p = commands.add_parser("backups", help="list backups, newest first")
    p.add_argument("resource", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_backups)
    p = commands.add_parser("load", help="load a backup into an empty database resource of the same engine")
    p.add_argument("backup", help="the backup folder (holding manifest.json)")
    p.add_argument("resource")
    p.set_defaults(handler=cmd_load)
    p = commands.add_parser("copy", help="copy a database resource into an empty one on another engine")
    p.add_argument("source")
    p.add_argument("target")
    p.add_argument("--report-only", action="store_true", help="show the adaptations and what cannot carry, then stop")
    p.set_defaults(handler=cmd_copy)
    p = commands.add_parser("verify", help="compare two database resources: counts, checksums, sequences")
    p.add_argument("source")
    p.add_argument("target")
    p.set_defaults(handler=cmd_verify)
    p = commands.add_parser("import", help="add a deploy from an existing .env and attach the resources it uses")
    p.add_argument("deploy")
    p.add_argument("--env-file", required=True)
    _hook_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_import)
    p = commands.add_parser("events", help="show the audit trail, newest first")
    p.add_argument("--object", help="only events about this deploy or resource")
    p.add_argument("--limit", type=_number(EVENT_LIMIT, "--limit"), default=50, help="at most this many events")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_events)
    p = commands.add_parser("upgrade", help="move a database's deploys to a new, bigger database, verified")
    p.add_argument("resource", nargs="?", help="the attached database to upgrade")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--to", metavar="HANDLE", help="an existing, empty database ('-' reads the handle from stdin)")
    target.add_argument("--provision", metavar="SERVER", help="provision the new database on this registered server")
    p.add_argument("--plan", help="size or plan for the new database, where the server has them")
    p.add_argument("--name", help="the new database's resource name (default: RESOURCE-YYYYMMDD)")
    p.add_argument(
        "--keep-days",
        type=_number(DAYS, "--keep-days"),
        help="days to keep the old database, detached (default: retention_days)",
    )
    p.add_argument(
        "--quiet-timeout",
        type=_number(QUIET_SECONDS, "--quiet-timeout", float),
        default=60.0,
        help="seconds to wait for the database to be quiet",
    )
    p.add_argument("--yes", action="store_true", help="start without asking")
    p.add_argument("--json", action="store_true", help="one JSON object per progress event")
    p.add_argument("--list", action="store_true", help="list upgrade runs")
    p.add_argument("--resume", type=int, metavar="RUN", help="resume an interrupted run")
    p.add_argument("--rollback", type=int, metavar="RUN", help="roll back a run that has not switched")
    p.set_defaults(handler=cmd_upgrade)
    p = commands.add_parser("status", help="version, inventory, keyring and unfinished upgrades")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)
    p = commands.add_parser("settings", help="show or change settings (retention_days, env_backups)")
    p.add_argument("key", nargs="?")
    p.add_argument("value", nargs="?")
    p.set_defaults(handler=cmd_settings)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not getattr(args, "handler", None):
        parser.print_help(out)
        return 2
    log_path = setup_logging()
    try:
        workspace = Workspace.open()
    except ChangeoverError as exc:
        err.write(f"changeover: {exc.message}\n")
        return 1
    try:
        for outcome in workspace.recover():
            err.write(f"changeover: recovered an interrupted change: {outcome}.\n")
        args.handler(workspace, args, out)
    except ChangeoverError as exc:
        err.write(f"changeover: {exc.message}\n")
        return 1
    except KeyboardInterrupt:
        err.write("changeover: interrupted.\n")
        return 130
    except Exception:
        logger.exception("unexpected error in %s", args.command)
        err.write(f"changeover: unexpected error; details are in {log_path}.\n")
        return 1
    finally:
        workspace.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
