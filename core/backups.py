"""Backups, loads, copies and verification of database resources, each audited.

A backup is the native tool's artifact with a manifest (see :mod:`.transfer.backup`); a copy crosses
engines (:mod:`.transfer.crossengine`); verification compares counts, content checksums and sequences.
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import URL

from . import engines, offsite, paths
from .context import Context
from .engines import DatabaseInfo, describe
from .errors import ChangeoverError, Conflict, InvalidInput
from .inventory.models import Resource, ResourceState, UpgradeRun
from .jobs import Progress, no_progress

if TYPE_CHECKING:  # the transfer engine loads when a backup, load or copy first runs, not at start-up
    from .transfer.backup import BackupParams, BackupResult
    from .transfer.crossengine import CopyReport, CopyResult
    from .transfer.formats.manifest import Manifest
    from .transfer.load import LoadParams, LoadResult
    from .transfer.verify import VerifyReport

logger = logging.getLogger(__name__)


def database_url(ctx: Context, resource_name: str) -> tuple[str, URL]:
    """A database resource's name and full SQLAlchemy URL (its secret from the keyring)."""
    with ctx.session() as session:
        resource = ctx.resource(session, resource_name)
        if resource.kind not in engines.NAMES:
            raise InvalidInput(f"'{resource.name}' is a {resource.kind} resource, not a database.")
        if resource.state == ResourceState.DEPROVISIONED:
            raise Conflict(f"'{resource.name}' is deprovisioned.")
        return resource.name, ctx.resolve_handle(resource).sqlalchemy_url()


def describe_resource(ctx: Context, resource_name: str) -> DatabaseInfo:
    """Server version, size and tables with estimated rows of a database resource."""
    return describe(database_url(ctx, resource_name)[1])


def backup_params(ctx: Context, resource_name: str, folder: Path | None = None) -> BackupParams:
    """The parameters of the backup job for a database resource (its secret fetched from the keyring)."""
    from .transfer.backup import BackupParams

    name, url = database_url(ctx, resource_name)
    return BackupParams(url, resource=name, folder=folder)


def backup_resource(
    ctx: Context,
    resource_name: str,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> BackupResult:
    """Back up a database resource into the backups folder; audited."""
    from .transfer.backup import backup

    with ctx.audited("backup", "resource", resource_name) as details:
        params = backup_params(ctx, resource_name)
        result = backup(params, progress, cancel)
        details.append(f"{result.manifest.format} in {result.folder}")
    try:  # the backup stands on disk even when the copy to the backup bucket fails; the audit trail says why
        offsite.after_backup(ctx, result.folder)
    except ChangeoverError as exc:
        logger.warning("copy of the backup of %s to the backup bucket failed: %s", resource_name, exc.message)
    try:  # the backup stands even when the prune after it cannot finish; the audit trail says why
        prune_backups(ctx, resource_name)
    except ChangeoverError as exc:
        logger.warning("prune after the backup of %s failed: %s", resource_name, exc.message)
    return result


def load_params(ctx: Context, backup_folder: Path, resource_name: str) -> LoadParams:
    """The parameters of the load job into a database resource (its secret fetched from the keyring)."""
    from .transfer.load import LoadParams

    name, url = database_url(ctx, resource_name)
    return LoadParams(backup_folder, url)


def load_into_resource(
    ctx: Context,
    backup_folder: Path,
    resource_name: str,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> LoadResult:
    """Load a backup into an empty database resource of the same engine; audited."""
    from .transfer.load import load

    with ctx.audited("load", "resource", resource_name) as details:
        details.append(f"from {backup_folder}")
        result = load(load_params(ctx, backup_folder, resource_name), progress, cancel)
        details.append(f"{result.tables} tables, {result.rows} rows" + (", verified" if result.verified else ""))
        return result


def list_backups(resource_name: str | None = None) -> list[tuple[Path, Manifest]]:
    """Backups in the backups folder (of one resource, or all), newest first."""
    from .transfer.formats.manifest import BackupInvalid, read
    from .transfer.partials import is_partial

    root = paths.backups_dir()
    folders = [root / resource_name] if resource_name else sorted(p for p in root.glob("*") if p.is_dir())
    found: list[tuple[Path, Manifest]] = []
    for parent in folders:
        for folder in parent.glob("*/manifest.json"):
            if is_partial(folder.parent):  # still being written, or left by a killed run
                continue
            try:
                found.append((folder.parent, read(folder.parent)))
            except BackupInvalid:
                continue
    return sorted(found, key=lambda item: item[1].created_at, reverse=True)


@dataclass(frozen=True)
class PrunedBackup:
    """A backup the retention rules remove (or, in a dry run, would remove)."""

    resource: str  # the resource folder's name under the backups folder
    folder: Path
    created_at: str  # ISO 8601, UTC, from its manifest
    size_bytes: int


def _protected(ctx: Context) -> tuple[set[Path], list[str]]:
    """Backups the inventory still needs: every upgrade run's (any state), and what detached resources' notes name."""
    with ctx.session() as session:
        runs = {Path(p).resolve() for p in session.scalars(select(UpgradeRun.backup_path)) if p}
        notes = [
            r.note or ""
            for r in session.scalars(select(Resource).where(Resource.state == ResourceState.DETACHED.value))
        ]
    return runs, notes


def _created(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def prune_backups(ctx: Context, resource: str | None = None, *, dry_run: bool = False) -> list[PrunedBackup]:
    """Remove the backups the retention rules no longer keep (of one resource folder, or all); audited.

    Per resource, kept: the newest ``backup_keep`` backups, every backup younger than
    ``backup_keep_days`` days, the newest one (standing in for "the last proven" until backups are
    test-restored), and every backup an upgrade run or a detached resource refers to. A backup whose
    creation time cannot be read is kept. Only complete backup folders directly under
    ``<backups>/<resource>/`` are removed, never through a symbolic link. ``dry_run`` removes nothing
    and returns the same list a real prune would remove; a prune that removes something is audited.
    """
    keep = int(ctx.setting("backup_keep"))
    cutoff = ctx.clock() - timedelta(days=int(ctx.setting("backup_keep_days")))
    root = paths.backups_dir()
    real_root = root.resolve()
    runs, notes = _protected(ctx)
    by_resource: dict[str, list[tuple[Path, Manifest]]] = {}
    for folder, manifest in list_backups(resource):  # newest first
        by_resource.setdefault(folder.parent.name, []).append((folder, manifest))
    doomed: list[PrunedBackup] = []
    for name, found in sorted(by_resource.items()):
        for index, (folder, manifest) in enumerate(found):
            created = _created(manifest.created_at)
            if index < max(keep, 1) or created is None or created >= cutoff:
                continue
            if folder.is_symlink() or folder.parent.is_symlink() or folder.parent.parent != root:
                continue
            real = folder.resolve()
            if (
                real.parent.parent != real_root
                or real in runs
                or any(str(folder) in n or str(real) in n for n in notes)
            ):
                continue
            doomed.append(PrunedBackup(name, folder, manifest.created_at, manifest.size_bytes))
    if dry_run or not doomed:
        return doomed
    with ctx.audited("prune backups", "resource", resource or "all") as details:
        removed: list[PrunedBackup] = []
        try:
            for item in doomed:
                shutil.rmtree(item.folder)
                removed.append(item)
        except OSError as exc:
            details.append(f"removed {len(removed)} of {len(doomed)}")
            raise ChangeoverError(
                f"Could not remove the backup {item.folder} ({exc.strerror or type(exc).__name__}): "
                "check its permissions, then run `changeover backups prune` again.",
                title="Prune stopped",
            ) from None
        freed = sum(item.size_bytes for item in removed)
        details.append(
            f"removed {len(removed)} backups ({freed:,} bytes): " + ", ".join(str(i.folder) for i in removed)
        )
    return removed


def plan_copy(ctx: Context, source_name: str, target_name: str) -> CopyReport:
    """What a copy across engines would adapt, leave behind or be blocked by; nothing is changed."""
    from .transfer import crossengine

    (_, source), (_, target) = database_url(ctx, source_name), database_url(ctx, target_name)
    return crossengine.plan(source, target)


def copy_resources(
    ctx: Context,
    source_name: str,
    target_name: str,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> CopyResult:
    """Copy a database resource into an empty one on another engine; refused while the plan has blockers; audited."""
    from .transfer import crossengine

    with ctx.audited("copy", "resource", source_name) as details:
        report = plan_copy(ctx, source_name, target_name)
        if report.blockers:
            raise InvalidInput(f"The copy cannot start: {'; '.join(report.blockers)}. Nothing was changed.")
        (_, source), (_, target) = database_url(ctx, source_name), database_url(ctx, target_name)
        result = crossengine.copy(source, target, progress=progress, cancel=cancel)
        details.append(f"to {target_name}: {result.total_rows} rows")
        return result


def verify_resources(
    ctx: Context, source_name: str, target_name: str, progress: Progress = no_progress
) -> VerifyReport:
    """Compare two database resources (counts, content checksums, sequences); audited with the outcome."""
    from .transfer.verify import verify

    with ctx.audited("verify", "resource", source_name) as details:
        (_, source), (_, target) = database_url(ctx, source_name), database_url(ctx, target_name)
        report = verify(source, target, progress=progress)
        details.append(f"against {target_name}: {report.summary()}")
        return report
