"""Backups, loads, copies and verification of database resources, each audited.

A backup is the native tool's artifact with a manifest (see :mod:`.transfer.backup`); a copy crosses
engines (:mod:`.transfer.crossengine`); verification compares counts, content checksums and sequences.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL

from . import engines, paths
from .context import Context
from .engines import DatabaseInfo, describe
from .errors import Conflict, InvalidInput
from .inventory.models import ResourceState
from .jobs import Progress, no_progress

if TYPE_CHECKING:  # the transfer engine loads when a backup, load or copy first runs, not at start-up
    from .transfer.backup import BackupParams, BackupResult
    from .transfer.crossengine import CopyReport, CopyResult
    from .transfer.formats.manifest import Manifest
    from .transfer.load import LoadParams, LoadResult
    from .transfer.verify import VerifyReport


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
