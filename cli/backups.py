"""``changeover describe``, ``backup``, ``backups``, ``load``, ``copy`` and ``verify``: a database's contents."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TextIO

from changeover.core import backups
from changeover.core.errors import InvalidInput
from changeover.core.workspace import Workspace

from .options import Commands, command
from .output import Bar, emit_json, labelled, table

PRUNE = "prune"


def cmd_describe(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = backups.describe_resource(ws, args.resource)
    if args.json:
        emit_json(info, out)
        return
    out.write(f"{info.engine} {info.server_version}, {info.size_bytes:,} bytes, ~{info.estimated_rows:,} rows\n")
    table([(t.name, f"{t.rows:,}", f"{t.size_bytes:,}") for t in info.tables], ("TABLE", "ROWS (EST.)", "BYTES"), out)


def cmd_backup(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    bar = Bar(out)
    result = backups.backup_resource(ws, args.resource, bar.progress)
    bar.clear()
    manifest = result.manifest
    out.write(
        f"Backed up {args.resource}: {manifest.format}, {manifest.size_bytes:,} bytes, {manifest.total_rows:,} rows\n"
    )
    out.write(f"in {result.folder}\n")


def cmd_backups(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    if args.resource == PRUNE:
        cmd_prune(ws, args, out)
        return
    if args.prune_resource is not None or args.dry_run:
        raise InvalidInput("Only `changeover backups prune [RESOURCE] [--dry-run]` takes a second word or --dry-run.")
    found = backups.list_backups(args.resource)
    if args.json:
        emit_json([{"folder": str(folder), **dataclasses.asdict(m)} for folder, m in found], out)
        return
    table(
        [(m.resource or "-", m.created_at[:19], m.format, f"{m.size_bytes:,}", str(folder)) for folder, m in found],
        ("RESOURCE", "CREATED (UTC)", "FORMAT", "BYTES", "FOLDER"),
        out,
    )


def cmd_prune(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    pruned = backups.prune_backups(ws, args.prune_resource, dry_run=args.dry_run)
    if args.json:
        emit_json([{**dataclasses.asdict(p), "folder": str(p.folder)} for p in pruned], out)
        return
    verb = "Would remove" if args.dry_run else "Removed"
    if not pruned:
        out.write("Nothing to remove: every backup is kept by the retention rules.\n")
        return
    table(
        [(p.resource, p.created_at[:19], f"{p.size_bytes:,}", str(p.folder)) for p in pruned],
        ("RESOURCE", "CREATED (UTC)", "BYTES", "FOLDER"),
        out,
    )
    out.write(f"{verb} {len(pruned)} backups, {sum(p.size_bytes for p in pruned):,} bytes.\n")


def cmd_load(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    bar = Bar(out)
    result = backups.load_into_resource(ws, Path(args.backup), args.resource, bar.progress)
    bar.clear()
    out.write(
        f"Loaded {result.tables} tables, {result.rows:,} rows into {args.resource}"
        + (" (verified against the backup)\n" if result.verified else "\n")
    )


def cmd_copy(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    report = backups.plan_copy(ws, args.source, args.target)
    out.write(
        f"{report.source_engine} -> {report.target_engine}, {len(report.tables)} tables, "
        f"~{report.estimated_rows:,} rows, by {report.bulk_path or 'bulk insert'}\n"
    )
    labelled("  adapted", report.adaptations, out)
    labelled("  NOT carried", report.not_carried, out)
    labelled("  blocked", report.blockers, out)
    if args.report_only:
        return
    bar = Bar(out)
    result = backups.copy_resources(ws, args.source, args.target, bar.progress)
    bar.clear()
    out.write(f"Copied {result.total_rows:,} rows in {result.seconds:.1f} s.\n")


def cmd_verify(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    bar = Bar(out)
    report = backups.verify_resources(ws, args.source, args.target, bar.progress)
    bar.clear()
    out.write(report.summary() + "\n")


def register(commands: Commands) -> None:
    p = command(commands, "describe", cmd_describe, "a database resource's version, size and tables")
    p.add_argument("resource")
    p.add_argument("--json", action="store_true")
    p = command(commands, "backup", cmd_backup, "back up a database resource into the backups folder")
    p.add_argument("resource")
    p = command(
        commands, "backups", cmd_backups, "list backups, newest first; `backups prune` removes what retention drops"
    )
    # `backups [RESOURCE]` stays as scripts call it; the word `prune` in its place is the prune action
    p.add_argument("resource", nargs="?", help="list this resource's backups only; or `prune`")
    p.add_argument("prune_resource", nargs="?", metavar="RESOURCE", help="with prune: this resource's backups only")
    p.add_argument("--dry-run", action="store_true", help="with prune: list what would be removed, remove nothing")
    p.add_argument("--json", action="store_true")
    p = command(commands, "load", cmd_load, "load a backup into an empty database resource of the same engine")
    p.add_argument("backup", help="the backup folder (holding manifest.json)")
    p.add_argument("resource")
    p = command(commands, "copy", cmd_copy, "copy a database resource into an empty one on another engine")
    p.add_argument("source")
    p.add_argument("target")
    p.add_argument("--report-only", action="store_true", help="show the adaptations and what cannot carry, then stop")
    p = command(commands, "verify", cmd_verify, "compare two database resources: counts, checksums, sequences")
    p.add_argument("source")
    p.add_argument("target")
