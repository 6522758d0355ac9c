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

PRUNE, VERIFY, DELETE = "prune", "verify", "delete"


def cmd_describe(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = backups.describe_resource(ws, args.resource)
    if args.json:
        emit_json(info, out)
        return
    out.write(f"{info.engine} {info.server_version}, {info.size_bytes:,} bytes, ~{info.estimated_rows:,} rows\n")
    table([(t.name, f"{t.rows:,}", f"{t.size_bytes:,}") for t in info.tables], ("TABLE", "ROWS (EST.)", "BYTES"), out)


def cmd_backup(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    if args.server and not args.test_restore:
        raise InvalidInput("--server names where a test-restore runs: give it with --test-restore.")
    bar = Bar(out)
    try:
        result = backups.backup_resource(
            ws, args.resource, bar.progress, test_restore=args.test_restore, server=args.server
        )
    finally:
        bar.clear()
    manifest = result.manifest
    out.write(
        f"Backed up {args.resource}: {manifest.format}, {manifest.size_bytes:,} bytes, {manifest.total_rows:,} rows\n"
    )
    out.write(f"in {result.folder}\n")
    if manifest.proof is not None:
        _proven(manifest.proof.where, manifest.proof.at, manifest.proof.detail, out)


def _proven(where: str, at: str, detail: str, out: TextIO) -> None:
    out.write(f"Proven: test-restored into {where} at {at}: {detail}.\n")


def _proof_text(info: backups.BackupInfo) -> str:
    if info.proof_ok is None:
        return "not proven"
    return f"{'proven' if info.proof_ok else 'FAILED'} {(info.proven_at or '')[:19]}"


def cmd_backups(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    if args.resource == PRUNE:
        cmd_prune(ws, args, out)
        return
    if args.resource == VERIFY:
        cmd_verify_backup(ws, args, out)
        return
    if args.resource == DELETE:
        if args.prune_resource is None or args.dry_run or args.server:
            raise InvalidInput("Name the one backup to delete: `changeover backups delete BACKUP-FOLDER`.")
        gone = ws.delete_backup(args.prune_resource)
        out.write(f"Deleted the backup {gone.folder} ({gone.size_bytes:,} bytes).\n")
        return
    if args.prune_resource is not None or args.dry_run or args.server:
        raise InvalidInput(
            "Only `changeover backups prune [RESOURCE] [--dry-run]`, `changeover backups verify BACKUP "
            "[--server NAME]` and `changeover backups delete BACKUP` take a second word, --dry-run or --server.",
        )
    found = backups.list_backups(args.resource)
    if args.json:
        emit_json(
            [
                {"folder": str(folder), **dataclasses.asdict(m), "proven": m.proven, "total_rows": m.total_rows}
                for folder, m in found
            ],
            out,
        )
        return
    records = [backups.backup_info(folder, m) for folder, m in found]
    table(
        [
            (b.resource or "-", b.created_at[:19], b.format, f"{b.size_bytes:,}", _proof_text(b), str(b.folder))
            for b in records
        ],
        ("RESOURCE", "CREATED (UTC)", "FORMAT", "BYTES", "PROOF (UTC)", "FOLDER"),
        out,
    )


def cmd_verify_backup(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    if args.prune_resource is None:
        raise InvalidInput("Name the backup to verify: `changeover backups verify BACKUP-FOLDER`.")
    if args.dry_run:
        raise InvalidInput("--dry-run is for `backups prune`; a verify changes nothing but the manifest's proof.")
    bar = Bar(out)
    try:
        info = ws.test_restore_backup(args.prune_resource, server=args.server, progress=bar.progress)
    finally:
        bar.clear()
    if args.json:
        emit_json({**dataclasses.asdict(info), "folder": str(info.folder)}, out)
        return
    _proven(info.proven_where or "", info.proven_at or "", info.proof_detail, out)


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


def cmd_restore(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    bar = Bar(out)
    try:
        result = ws.restore_backup(args.backup, args.resource, progress=bar.progress)
    finally:
        bar.clear()
    out.write(
        f"Restored {result.tables} tables, {result.rows:,} rows into {args.resource}: row counts and content "
        "checksums match the backup.\n"
    )


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
    p.add_argument(
        "--test-restore",
        action="store_true",
        help="then prove it: load it into a scratch database, compare with the manifest, drop the scratch",
    )
    p.add_argument("--server", help="with --test-restore: the registered server for the scratch database")
    p = command(
        commands,
        "backups",
        cmd_backups,
        "list backups, newest first; `backups prune` removes what retention drops; `backups verify` proves one; "
        "`backups delete` removes one",
    )
    # `backups [RESOURCE]` stays as scripts call it; the words `prune` and `verify` in its place are actions
    p.add_argument("resource", nargs="?", help="list this resource's backups only; or `prune`, `verify` or `delete`")
    p.add_argument(
        "prune_resource",
        nargs="?",
        metavar="RESOURCE|BACKUP",
        help="with prune: this resource's backups only; with verify or delete: the backup folder",
    )
    p.add_argument("--dry-run", action="store_true", help="with prune: list what would be removed, remove nothing")
    p.add_argument("--server", help="with verify: the registered server for the scratch database")
    p.add_argument("--json", action="store_true")
    p = command(
        commands, "restore", cmd_restore, "restore a backup into an empty database resource, verified against it"
    )
    p.add_argument("backup", help="the backup folder (holding manifest.json), or RESOURCE/STAMP under the backups")
    p.add_argument("resource")
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
