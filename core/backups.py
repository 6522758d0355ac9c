"""Backups, their proofs, restores, loads, copies and verification of database resources, each audited.

A backup is the native tool's artifact with a manifest (see :mod:`.transfer.backup`); a copy crosses
engines (:mod:`.transfer.crossengine`); verification compares counts, content checksums and sequences.

A backup is *proven* when it was loaded into a database and found equal to its manifest, table by table
(row counts and content checksums): by a test-restore into a scratch database that is dropped afterwards
(:func:`test_restore_backup`), or by a verified restore (:func:`restore_backup`). The manifest keeps the
last proof: when, where, and what it found.
"""

from __future__ import annotations

import logging
import secrets as _random
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import URL

from . import engines, offsite, paths
from .context import Context
from .engines import DatabaseInfo, describe
from .errors import Cancelled, ChangeoverError, Conflict, InvalidInput, NotFound
from .inventory.models import Resource, ResourceState, Server, UpgradeRun
from .jobs import Progress, no_progress

if TYPE_CHECKING:  # the transfer engine loads when a backup, load or copy first runs, not at start-up
    from .transfer.backup import BackupParams, BackupResult
    from .transfer.crossengine import CopyReport, CopyResult
    from .transfer.formats.manifest import Manifest, Proof
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
    *,
    test_restore: bool = False,
    server: str | None = None,
) -> BackupResult:
    """Back up a database resource into the backups folder; audited.

    With ``test_restore`` the new backup is then proven (:func:`test_restore_backup`, on ``server`` if
    given): a failed proof raises :class:`TestRestoreFailed` (the backup is kept, marked not proven).
    """
    from .transfer.backup import backup

    with ctx.audited("backup", "resource", resource_name) as details:
        params = backup_params(ctx, resource_name)
        result = backup(params, progress, cancel)
        details.append(f"{result.manifest.format}, sha256 {result.manifest.sha256} in {result.folder}")
    if test_restore:
        from .transfer.formats.manifest import read

        test_restore_backup(ctx, result.folder, server=server, progress=progress, cancel=cancel)
        result = replace(result, manifest=read(result.folder))
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


# -- proofs: test-restore and restore -----------------------------------------------------------------


class TestRestoreFailed(ChangeoverError):
    """A backup did not load into a scratch database, or what it loaded differs from its manifest."""

    title = "Test-restore failed"
    __test__ = False  # not a test class, whatever pytest makes of its name

    def __init__(self, message: str, proof: Proof) -> None:
        super().__init__(message)
        self.proof = proof  # as recorded in the manifest; ``proof.table`` names the table that differs


@dataclass(frozen=True)
class BackupInfo:
    """A backup as the faces list it: what, when, how big, and whether (when, where) it was last proven."""

    folder: Path
    resource: str | None
    engine: str
    format: str
    created_at: str  # ISO 8601, UTC
    size_bytes: int
    tables: int
    rows: int
    sha256: str
    source: str  # masked handle
    proven: bool  # the last test-restore or restore matched the manifest
    proven_at: str | None  # when the last proof ran (ISO 8601, UTC), whatever its outcome; None: never
    proven_where: str | None  # where it ran, in words
    proof_ok: bool | None  # None: never tried; False: the last proof failed (see proof_detail)
    proof_detail: str = ""
    proof_kind: str | None = None  # test-restore | restore


def backup_info(folder: Path, manifest: Manifest) -> BackupInfo:
    proof = manifest.proof
    return BackupInfo(
        folder=folder,
        resource=manifest.resource,
        engine=manifest.engine,
        format=manifest.format,
        created_at=manifest.created_at,
        size_bytes=manifest.size_bytes,
        tables=len(manifest.tables),
        rows=manifest.total_rows,
        sha256=manifest.sha256,
        source=manifest.source,
        proven=manifest.proven,
        proven_at=proof.at if proof else None,
        proven_where=proof.where if proof else None,
        proof_ok=proof.ok if proof else None,
        proof_detail=proof.detail if proof else "",
        proof_kind=proof.kind if proof else None,
    )


def backup_records(ctx: Context, resource_name: str | None = None) -> list[BackupInfo]:
    """Backups in the backups folder (of one resource, or all), newest first, each with its last proof."""
    return [backup_info(folder, manifest) for folder, manifest in list_backups(resource_name)]


def backup_folder(text: str | Path) -> Path:
    """A backup folder from what the admin gave: a path, or ``RESOURCE/STAMP`` under the backups folder."""
    from .transfer.formats.manifest import MANIFEST

    given = Path(text).expanduser()
    for candidate in (given, paths.backups_dir() / given):
        folder = candidate.parent if candidate.name == MANIFEST else candidate
        if (folder / MANIFEST).is_file():
            return folder
    raise NotFound(
        f"No backup at {given}: give a backup folder (one holding manifest.json); `changeover backups` lists them.",
    )


def _now_text(ctx: Context) -> str:
    return ctx.clock().astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class _Scratch:
    url: URL  # full URL of the empty scratch database; never shown
    where: str  # in words, for the proof and the audit trail
    drop: Callable[[], None]


def _proof_server(ctx: Context, engine: str, resource: str | None, server: str | None) -> Server | None:
    """The registered server a test-restore of an ``engine`` backup uses: the one named, else the one the
    backup's resource lives on, else the first of that engine by name; None for SQLite (a private file)."""
    from .servers import kind_text

    with ctx.session() as session:
        if server is not None:
            row = session.scalar(select(Server).where(Server.name == server))
            if row is None:
                raise NotFound(f"No server named '{server}': see `changeover server list`.")
            if row.kind != engine:
                raise InvalidInput(
                    f"The server '{server}' is a {kind_text(row.kind)} and this is a {kind_text(engine)} backup: "
                    "name a server of the backup's engine.",
                )
            session.expunge(row)
            return row
        if engines.of(engine).file_based:
            return None
        own = session.scalar(select(Resource).where(Resource.name == resource)) if resource else None
        if own is not None and own.server is not None and own.server.kind == engine:
            found: Server | None = own.server
        else:
            found = session.scalar(select(Server).where(Server.kind == engine).order_by(Server.name))
        if found is None:
            raise InvalidInput(
                f"A test-restore loads the backup into a scratch database on a registered {kind_text(engine)} "
                "server, and none is registered: register one with `changeover server add NAME ADMIN-HANDLE`, "
                "or name one with --server.",
            )
        session.expunge(found)
        return found


@contextmanager
def _scratch(ctx: Context, engine: str, resource: str | None, server: str | None) -> Iterator[_Scratch]:
    """An empty scratch database for a test-restore, dropped when the body ends (whatever happened)."""
    from .servers import provider_for

    row = _proof_server(ctx, engine, resource, server)
    if row is None:  # SQLite: a private temporary file that does not outlive the proof
        try:
            folder = Path(tempfile.mkdtemp(prefix="changeover-proof-"))
        except OSError as exc:
            raise ChangeoverError(
                f"The test-restore could not make a private temporary folder ({exc.strerror or exc}): free space "
                "in the temporary folder (TMPDIR), or name a SQLite folder server with --server.",
                title="Test-restore failed",
            ) from None
        url = URL.create("sqlite", database=str(folder / "scratch.sqlite3"))
        try:
            yield _Scratch(url, "a private temporary SQLite file", lambda: shutil.rmtree(folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    provider = provider_for(row)
    name = f"co_proof_{_random.token_hex(5)}"
    file_based = engines.of(row.kind).file_based
    handle = provider.provision(name, name, _random.token_urlsafe(24))
    user = None if file_based else name
    dropped = False

    def drop() -> None:
        nonlocal dropped
        provider.deprovision(name, user)
        dropped = True

    try:
        yield _Scratch(handle.sqlalchemy_url(), f"server {row.name} ({row.kind}, scratch database {name})", drop)
    finally:
        if not dropped:
            try:
                drop()
            except ChangeoverError as exc:
                logger.warning("the scratch database %s on %s was not dropped: %s", name, row.name, exc.message)


def _failure_text(folder: Path, where: str, exc: ChangeoverError) -> str:
    """Why a proof failed, and what to do: a backup that loaded wrong cannot be trusted; one that did not
    load may be the scratch server's fault (an older version, a missing tool), so it says where it ran."""
    from .transfer.formats.manifest import BackupInvalid
    from .transfer.load import LoadMismatch

    if isinstance(exc, LoadMismatch | BackupInvalid):
        return (
            f"The test-restore of {folder} failed: {exc.message} The backup cannot be trusted: make a new one "
            "(`changeover backup RESOURCE --test-restore`)."
        )
    return (
        f"The test-restore of {folder} into {where} failed: {exc.message} Until it loads, the backup is not "
        "proven: fix the cause (or name another server with --server) and run `changeover backups verify` again."
    )


def _failed_table(exc: ChangeoverError) -> str | None:
    from .transfer.load import LoadMismatch

    return exc.table if isinstance(exc, LoadMismatch) else None


def test_restore_backup(
    ctx: Context,
    path: str | Path,
    *,
    server: str | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> BackupInfo:
    """Prove a backup: load it into a scratch database, compare with the manifest, drop the scratch; audited.

    The scratch database is made on a registered server of the backup's engine (``server``, else the one
    its resource lives on, else the first by name) or, for SQLite, in a private temporary file. The
    artifact's sha256, each table's row count and content checksum are compared with the manifest. The
    outcome goes into the manifest (when, where, what) either way. A failure raises
    :class:`TestRestoreFailed` naming the table that differs and is an error in the audit trail; a cancel
    records nothing. The scratch database is dropped in every case.
    """
    from .transfer.formats.manifest import Proof, read, record_proof
    from .transfer.load import LoadParams, load

    progress = progress or no_progress
    folder = backup_folder(path)
    manifest = read(folder)
    label = manifest.resource or folder.parent.name
    with ctx.audited("test-restore", "resource", label) as details:
        details.append(f"backup {folder} (sha256 {manifest.sha256[:16]}…)")
        progress(0, None, "", "Making a scratch database for the test-restore")
        with _scratch(ctx, manifest.engine, manifest.resource, server) as scratch:
            details.append(f"into {scratch.where}")
            progress(0, None, "", f"Test-restoring into {scratch.where}")
            try:
                result = load(LoadParams(folder, scratch.url), progress, cancel)
            except Cancelled:
                raise
            except ChangeoverError as exc:
                proof = Proof(_now_text(ctx), scratch.where, False, exc.message, table=_failed_table(exc))
                record_proof(folder, proof)
                raise TestRestoreFailed(_failure_text(folder, scratch.where, exc), proof) from None
            progress(0, None, "", "Dropping the scratch database")
            scratch.drop()
        detail = f"{result.tables} tables, {result.rows:,} rows: row counts and content checksums match"
        details.append(detail + "; scratch dropped")
        proof = Proof(_now_text(ctx), scratch.where, True, detail)
        return backup_info(folder, record_proof(folder, proof))


test_restore_backup.__test__ = False  # type: ignore[attr-defined]  # a use case, not a test


def restore_backup(
    ctx: Context,
    path: str | Path,
    resource_name: str,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> LoadResult:
    """Restore a backup into an empty database resource of the same engine, then verify it; audited.

    A non-empty database is refused (naming what it holds) and nothing is changed. After the load, each
    table's row count and content checksum are compared with the manifest; a difference raises naming the
    table. A verified restore is recorded in the manifest as the backup's last proof.
    """
    from .transfer.formats.manifest import Proof, read, record_proof
    from .transfer.load import load

    progress = progress or no_progress
    folder = backup_folder(path)
    manifest = read(folder)
    with ctx.audited("restore", "resource", resource_name) as details:
        details.append(f"from {folder} (sha256 {manifest.sha256[:16]}…, {manifest.created_at[:19]} UTC)")
        params = replace(load_params(ctx, folder, resource_name), verify=True)
        result = load(params, progress, cancel)
        detail = f"{result.tables} tables, {result.rows:,} rows: row counts and content checksums match"
        details.append(detail)
        record_proof(folder, Proof(_now_text(ctx), f"resource {resource_name}", True, detail, kind="restore"))
        return result


def delete_backup(ctx: Context, path: str | Path) -> BackupInfo:
    """Remove one backup folder; refused for one an upgrade run or a detached resource needs; audited."""
    from .transfer.formats.manifest import read

    folder = backup_folder(path)
    info = backup_info(folder, read(folder))
    with ctx.audited("delete backup", "resource", info.resource or folder.parent.name) as details:
        runs, notes = _protected(ctx)
        real = folder.resolve()
        if real in runs or any(str(folder) in n or str(real) in n for n in notes):
            raise Conflict(
                f"The backup {folder} is the backup of an upgrade run or of a detached resource: it is kept "
                "as long as they are (see `changeover upgrade --list`).",
            )
        if folder.is_symlink() or real.parent.parent != paths.backups_dir().resolve():
            raise InvalidInput(f"{folder} is not a backup in the backups folder {paths.backups_dir()}: not removed.")
        shutil.rmtree(folder)
        details.append(f"removed {folder} ({info.size_bytes:,} bytes)")
    return info


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
    ``backup_keep_days`` days, the newest one, the last proven one (the newest whose last test-restore
    or restore matched its manifest), and every backup an upgrade run or a detached resource refers to. A backup whose
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
        proven = next((folder for folder, manifest in found if manifest.proven), None)
        for index, (folder, manifest) in enumerate(found):
            created = _created(manifest.created_at)
            if index < max(keep, 1) or created is None or created >= cutoff or folder == proven:
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
