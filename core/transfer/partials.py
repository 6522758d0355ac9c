"""Backup folders still being written: ``<timestamp>.partial``, owned by the process writing it.

A backup is written into ``<final>.partial`` holding its writer's pid and start time, and renamed to its
final name once the manifest is in; nothing lists a partial folder. :func:`clean_partials` removes the
ones whose writer is gone (a killed run); it is light to import, so start-up can call it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path

from .. import paths

logger = logging.getLogger(__name__)

#: the suffix of a backup folder being written
PARTIAL = ".partial"


#: the file in a partial folder naming the process writing it ("<pid> <start time>")
OWNER = "changeover-owner"


#: a partial folder without an owner file younger than this may be being created right now
OWNERLESS_GRACE = 60.0


def start_partial(final: Path) -> Path:
    """Create ``<final>.partial`` (0700, its missing parents too) owned by this process; return it."""
    private_parents(final.parent)
    partial = final.with_name(final.name + PARTIAL)
    partial.mkdir(mode=0o700)
    partial.chmod(0o700)
    owner = os.open(partial / OWNER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(owner, "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()} {process_start_time(os.getpid())}\n")
    return partial


def private_parents(folder: Path) -> None:
    """Make ``folder`` and its missing parents 0700; the backups folder and its children are made private too."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for item in reversed(missing):
        with contextlib.suppress(FileExistsError):
            item.mkdir(mode=0o700)
        item.chmod(0o700)
    root = paths.backups_dir()
    for item in (folder, *folder.parents):
        if item == root or root in item.parents:
            item.chmod(0o700)


def process_start_time(pid: int) -> str:
    """The start time of ``pid`` (clock ticks since boot; Linux), so a reused pid is not mistaken for it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "-"


def _owner_alive(partial: Path) -> bool:
    try:
        text = (partial / OWNER).read_text(encoding="ascii").split()
    except FileNotFoundError:
        try:
            age = time.time() - partial.stat().st_mtime
        except FileNotFoundError:
            return True  # gone already
        return age < OWNERLESS_GRACE
    except (OSError, UnicodeDecodeError):
        return False
    if not text or not text[0].isdigit() or not paths.pid_alive(int(text[0])):
        return False
    started = text[1] if len(text) > 1 else "-"
    return started == "-" or process_start_time(int(text[0])) in (started, "-")


def is_partial(folder: Path) -> bool:
    """True for a backup folder still being written (or left by a killed run): not a backup."""
    return folder.name.endswith(PARTIAL)


def clean_partials(root: Path | None = None) -> list[Path]:
    """Remove the partial backup folders under ``root`` (default: the backups folder) whose writer is gone.

    Looks at ``root/*.partial`` and ``root/*/*.partial``; a folder whose owner process still runs is
    left alone. Returns the folders removed. Call it at start, before a resume and before a rollback.
    """
    root = paths.backups_dir() if root is None else root
    if not root.is_dir():
        return []
    removed: list[Path] = []
    for partial in sorted({*root.glob(f"*{PARTIAL}"), *root.glob(f"*/*{PARTIAL}")}):
        if not partial.is_dir() or partial.is_symlink() or _owner_alive(partial):
            continue
        shutil.rmtree(partial, ignore_errors=True)
        if not partial.exists():
            logger.info("removed the partial backup %s left by a stopped run", partial)
            removed.append(partial)
    return removed
