"""``changeover upgrade``: move a database's deploys to a new database, verified, resumable."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from typing import TextIO

from changeover.core.context import DAYS, QUIET_SECONDS
from changeover.core.errors import InvalidInput
from changeover.core.jobs import human_seconds
from changeover.core.upgrade import procedure
from changeover.core.upgrade.procedure import ROUTES, RunInfo, UpgradePlan
from changeover.core.workspace import Workspace

from .options import Commands, command, number, read_handle
from .output import Bar, emit_json, labelled, listing, when


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
    for route in plan.routes:
        mark = " (shorter)" if route.shortest else ""
        mark += " (this plan)" if route.name == plan.route else ""
        why = "" if route.available else f"; not available: {route.reason}"
        out.write(f"  route {route.name}: {route.text}, about {human_seconds(route.estimate_seconds)}{mark}{why}\n")
    out.write(f"the old database is kept, detached, for {plan.keep_days} days after the switch\n")
    labelled("  adapted", plan.adaptations, out)
    labelled("  NOT carried", plan.not_carried, out)
    labelled("warning", plan.warnings, out)


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


def _list_runs(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    headers = ("RUN", "SOURCE", "TARGET", "STATE", "STEP", "STARTED", "MAINTENANCE")
    listing(procedure.list_runs(ws), args.json, headers, _run_row, out)


def _run_row(r: RunInfo) -> tuple[str, ...]:
    window = f"{r.maintenance_seconds:.1f}s" if r.maintenance_seconds is not None else "-"
    return (str(r.id), r.source, r.target, r.state, r.step, when(r.created_at), window)


def _start(ws: Workspace, args: argparse.Namespace, out: TextIO) -> int | None:
    """Plan, show the plan, ask, and start a run: its id, or None when the admin said no."""
    if not args.resource:
        raise InvalidInput("Name the database to upgrade, or use --list, --resume RUN or --rollback RUN.")
    if args.online:
        if args.route not in ("copy", "online"):
            raise InvalidInput(f"--online is --route online; it cannot go with --route {args.route}.")
        args.route = "online"
    plan = procedure.plan_upgrade(
        ws,
        args.resource,
        to_handle=read_handle(args.to) if args.to else None,
        provision_on=args.provision,
        plan=args.plan,
        target_name=args.name,
        keep_days=args.keep_days,
        quiet_timeout=args.quiet_timeout,
        route=args.route,
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
            return None
    options = {
        key: value
        for key, value in (("max_lag_seconds", args.max_lag), ("drain_timeout", args.drain_timeout))
        if value is not None
    }
    if options and plan.route != "online":
        raise InvalidInput("--max-lag and --drain-timeout are for the online route: add --online.")
    run_id = procedure.start_upgrade(ws, plan, quiet_timeout=args.quiet_timeout, options=options).id
    if not args.json:
        out.write(f"Started upgrade run {run_id}.\n")
    return run_id


def cmd_upgrade(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    if args.record is not None:
        if args.resource or args.list or args.resume is not None or args.rollback is not None:
            raise InvalidInput("--record RUN writes a run's change record; give it alone (with --format).")
        out.write(ws.change_record_text(args.record, "json" if args.json else args.format or "md"))
        return
    if args.format:
        raise InvalidInput("--format is for --record RUN: `changeover upgrade --record RUN --format md|json`.")
    if args.list:
        _list_runs(ws, args, out)
        return
    bar = _LagLines(out, args.json)
    show: Callable[[RunInfo, TextIO], None] = emit_json if args.json else _print_run
    if args.rollback is not None:
        show(procedure.rollback(ws, args.rollback, on_event=bar), out)
        return
    run_id = args.resume if args.resume is not None else _start(ws, args, out)
    if run_id is None:
        return
    try:
        procedure.execute(ws, run_id, on_event=bar)
    finally:
        show(procedure.show_run(ws, run_id), out)


class _LagLines(Bar):
    """The bar, and where it is not drawn (output not a terminal) the online route's lag as a line every few
    seconds while the new database catches up ("    behind: 12.4 MB, 0.8 s behind")."""

    EVERY = 5.0

    def __init__(self, out: TextIO, as_json: bool = False) -> None:
        super().__init__(out, as_json)
        self.shown = 0.0

    def __call__(self, event: procedure.RunEvent) -> None:
        super().__call__(event)
        if self.as_json or self.tty or event.state != "progress" or event.step != "catch_up":
            return
        now = time.monotonic()
        if now - self.shown >= self.EVERY:
            self.shown = now
            self.out.write(f"    lag: {event.message}\n")
            self.out.flush()


def register(commands: Commands) -> None:
    p = command(commands, "upgrade", cmd_upgrade, "move a database's deploys to a new, bigger database, verified")
    p.add_argument("resource", nargs="?", help="the attached database to upgrade")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--to", metavar="HANDLE", help="an existing, empty database ('-' reads the handle from stdin)")
    target.add_argument("--provision", metavar="SERVER", help="provision the new database on this registered server")
    p.add_argument("--plan", help="size or plan for the new database, where the server has them (RDS: db.r6g.xlarge)")
    p.add_argument("--name", help="the new database's resource name (default: RESOURCE-YYYYMMDD)")
    p.add_argument(
        "--keep-days",
        type=number(DAYS, "--keep-days"),
        help="days to keep the old database, detached (default: retention_days)",
    )
    p.add_argument(
        "--quiet-timeout",
        type=number(QUIET_SECONDS, "--quiet-timeout", float),
        default=60.0,
        help="seconds to wait for the database to be quiet",
    )
    p.add_argument(
        "--route",
        choices=[str(route) for route in ROUTES],
        default="copy",
        help="how to carry the database over: copy (backup, load, verify during maintenance; the default), "
        "snapshot (RDS to RDS: the provider's snapshot restored as the larger instance), online (replicate while "
        "the app runs; maintenance only to drain and switch). The plan lists the routes this upgrade allows",
    )
    p.add_argument(
        "--online",
        action="store_true",
        help="the same as --route online: copy the base and replicate while the app runs, then a window of "
        "seconds to drain, verify and switch (PostgreSQL to PostgreSQL; the plan says what is missing)",
    )
    p.add_argument(
        "--max-lag",
        type=number((0.0, 3600.0), "--max-lag", float),
        metavar="SECONDS",
        help="online: maintenance starts once the new database is at most this far behind (default 5)",
    )
    p.add_argument(
        "--drain-timeout",
        type=number((1.0, 3600.0), "--drain-timeout", float),
        metavar="SECONDS",
        help="online: in maintenance, how long to wait for the last changes to be applied before rolling "
        "back (default 60)",
    )
    p.add_argument("--yes", action="store_true", help="start without asking")
    p.add_argument("--json", action="store_true", help="one JSON object per progress event")
    p.add_argument("--list", action="store_true", help="list upgrade runs")
    p.add_argument("--resume", type=int, metavar="RUN", help="resume an interrupted run")
    p.add_argument("--rollback", type=int, metavar="RUN", help="roll back a run that has not switched")
    p.add_argument("--record", type=int, metavar="RUN", help="write the change record of a run (see --format)")
    p.add_argument("--format", choices=("md", "json"), help="with --record: Markdown (the default) or JSON")
