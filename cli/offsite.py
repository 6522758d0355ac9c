"""``changeover offsite ...``: backups kept in an S3 bucket as well as on disk."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from changeover.core.workspace import Workspace

from .options import Commands, command, group
from .output import listing


def cmd_use(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    name = ws.use_backup_bucket(args.resource)
    if name == "none":
        out.write("Backups are kept on disk only from now on.\n")
    else:
        out.write(f"Every backup is copied to the bucket of {name} from now on (and stays on disk).\n")


def cmd_push(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    copied = ws.push_backup(Path(args.backup))
    out.write(f"Copied {copied.resource}/{copied.timestamp} to {copied.location}\n")


def cmd_list(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    listing(
        ws.list_offsite_backups(args.resource),
        args.json,
        ("RESOURCE", "TIMESTAMP", "FORMAT", "BYTES", "LOCATION"),
        lambda b: (b.resource, b.timestamp, b.format, f"{b.size_bytes:,}", b.location),
        out,
    )


def cmd_fetch(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    folder = ws.fetch_backup(args.resource, args.timestamp)
    out.write(f"{folder}\n")


def register(commands: Commands) -> None:
    offsite = group(commands, "offsite", "backups kept in an S3 bucket as well as on disk")
    p = command(offsite, "use", cmd_use, "copy every backup to this S3 resource's bucket from now on ('none': stop)")
    p.add_argument("resource", metavar="RESOURCE|none")
    p = command(offsite, "push", cmd_push, "copy a backup folder that is on disk to the backup bucket")
    p.add_argument("backup", help="the backup folder (holding manifest.json)")
    p = command(offsite, "list", cmd_list, "the backups in the backup bucket, newest first")
    p.add_argument("resource", nargs="?", help="only this resource's backups")
    p.add_argument("--json", action="store_true")
    p = command(offsite, "fetch", cmd_fetch, "download a backup into the backups folder, its checksum verified")
    p.add_argument("resource")
    p.add_argument("timestamp")
