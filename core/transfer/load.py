"""Load a backup into an empty database of the same engine, and prove it carried everything.

Order: read the manifest and check the artifact's sha256, check the target is empty (a non-empty
target is refused and nothing is changed), restore, then compare per-table row counts and content
checksums with the manifest. PostgreSQL: ``pg_restore -j 2 --no-owner --no-privileges
--exit-on-error`` (the loading user owns what it creates); an upgrade has it leave the foreign keys out and
adds them ``NOT VALID``, to validate them after its window (:mod:`.foreign_keys`). MariaDB/MySQL: the
``mariadb`` client fed the dump, with DEFINER clauses rewritten to CURRENT_USER so a non-SUPER user can create views,
triggers and routines. SQLite: the online backup API into the new file. Sequences and AUTO_INCREMENT
positions come with the dump, so an application inserting without an explicit id works afterwards.

A cancelled load stops the child (SIGINT, then its process group is killed) and raises
:class:`~changeover.core.errors.Cancelled`: the backup and the source are untouched, the target holds
a partial load and can be dropped.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sqlite3
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from .. import engines
from ..engines import MYSQL, POSTGRESQL, SQLITE, check_empty, display_url, url_secrets
from ..engines.sqlite import path_of
from ..errors import Cancelled, ChangeoverError
from ..jobs import Progress, check_cancel, no_progress
from . import foreign_keys, tools
from .backup import copy_sqlite, exact_counts
from .foreign_keys import ForeignKey
from .formats import mariadb_python, mariadb_tsv, pgcopy
from .formats.manifest import BackupInvalid, Manifest, read, verify_artifact

logger = logging.getLogger(__name__)

PARALLEL_JOBS = os.cpu_count() or 2  # pg_restore's jobs, and the connections checksumming the target


class LoadMismatch(tools.TransferError):
    """After a load, a table's rows or checksum differ from the backup's manifest."""

    title = "Loaded data differs from the backup"

    def __init__(self, message: str, table: str) -> None:
        super().__init__(message)
        self.table = table  # the first table that does not match


@dataclass(frozen=True)
class LoadParams:
    backup: Path  # the backup folder (holding manifest.json)
    target: URL  # full URL of an empty database of the backup's engine; never shown
    verify: bool = True
    jobs: int = PARALLEL_JOBS
    #: PostgreSQL: add the foreign keys NOT VALID, to be validated later (an upgrade's window; see
    #: :mod:`.foreign_keys`); the keys left so are :attr:`LoadResult.unchecked`
    defer_foreign_keys: bool = False
    #: read the whole artifact to check its sha256 before loading; an upgrade does not, right after its backup
    #: step wrote or checked it: its verify step checks every row against the source's own checksums
    check_artifact: bool = True


@dataclass(frozen=True)
class LoadResult:
    target: str  # masked
    tables: int
    rows: int
    verified: bool
    unchecked: tuple[ForeignKey, ...] = ()  # foreign keys added NOT VALID (``defer_foreign_keys``)


def load(params: LoadParams, progress: Progress = no_progress, cancel: threading.Event | None = None) -> LoadResult:
    """Load the backup in ``params.backup`` into ``params.target``; see the module docstring."""
    manifest = read(params.backup)
    engine = engines.of(params.target)
    if engine != manifest.engine:
        raise BackupInvalid(
            f"This is a {manifest.engine} backup and the target is a {engine} database: a same-engine load "
            "needs a target of the same engine (use the cross-engine copy instead).",
        )
    shown = display_url(params.target)
    if params.check_artifact:
        progress(0, manifest.size_bytes, "bytes", "Checking the backup's checksum")
        artifact = verify_artifact(params.backup, manifest)
    else:
        artifact = params.backup / manifest.artifact
        if not artifact.exists():
            raise BackupInvalid(f"The backup's artifact {manifest.artifact} is missing from {params.backup}.")
    check_empty(params.target)
    check_cancel(cancel, "The load")
    unchecked: tuple[ForeignKey, ...] = ()
    try:
        if manifest.format == pgcopy.FORMAT:
            pgcopy.load(params.target, artifact, progress, cancel)
        elif engine == POSTGRESQL:
            unchecked = _pg_restore(params, manifest, artifact, progress, cancel)
        else:
            restore = {MYSQL: _mysql_load, SQLITE: _sqlite_load}[engine]
            restore(params, manifest, artifact, progress, cancel)
    except Cancelled:
        raise Cancelled(
            f"The load into {shown} was cancelled. The backup and the source are untouched; the target holds a "
            "partial load: drop it (or empty it) before loading again.",
        ) from None
    except Exception as exc:
        _raise_if_lost(exc, params.target, "the load")
        raise
    verified = False
    if params.verify:
        try:
            verify_against(manifest, params.target, progress, cancel)
        except Exception as exc:
            _raise_if_lost(exc, params.target, "the verification of the load")
            raise
        verified = True
    progress(manifest.total_rows, manifest.total_rows, "rows", f"Loaded into {shown}")
    return LoadResult(shown, len(manifest.tables), manifest.total_rows, verified, unchecked)


def _raise_if_lost(exc: Exception, target: URL, doing: str) -> None:
    """Raise :class:`~.tools.ConnectionLost` when ``exc`` says the connection to the target broke."""
    if isinstance(exc, tools.ConnectionLost | LoadMismatch | Cancelled) or not tools.lost_connection(str(exc)):
        return
    raise tools.connection_lost("target", doing, str(exc), url_secrets(target)) from None


def verify_against(
    manifest: Manifest, target: URL, progress: Progress = no_progress, cancel: threading.Event | None = None
) -> None:
    """Compare the target's rows (and checksums, when the manifest has them) with the manifest."""
    expected = {t.name: t for t in manifest.tables}
    have_sums = any(t.checksum for t in manifest.tables)
    progress(0, None, "", "Verifying the loaded data against the backup")
    actual: dict[str, tuple[int, str | None]]
    form = manifest.checksum_form
    if have_sums and form != "canonical":
        from .verify.native import hashes_in

        if not hashes_in(target, form):  # an upgrade's fast hashes, of another engine version: counts only
            logger.warning("the backup's %s checksums do not apply to %s: rows are counted", form, target.database)
            expected = {t.name: replace(t, checksum=None) for t in manifest.tables}
            have_sums = False
    if have_sums:
        from .verify.native import checksum_in

        sums = checksum_in(target, form, workers=PARALLEL_JOBS, progress=progress, cancel=cancel)
        actual = {name: (int(s.rows), str(s.checksum)) for name, s in sums.items()}
    else:
        actual = {name: (rows, None) for name, rows in exact_counts(target, cancel).items()}
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise LoadMismatch(f"After the load the table {missing[0]} is missing from the target.", missing[0])
    for name, entry in sorted(expected.items()):
        rows, checksum = actual[name]
        if rows != entry.rows:
            raise LoadMismatch(f"After the load the table {name} has {rows} rows; the backup has {entry.rows}.", name)
        if entry.checksum and checksum != entry.checksum:
            raise LoadMismatch(f"After the load the content of table {name} differs from the backup (checksum).", name)


# -- PostgreSQL -------------------------------------------------------------------------------------

_FINISHED = re.compile(r"^pg_restore: (?:processing item|finished item) (\d+) (.*)$")
_TABLE_DATA = re.compile(r"TABLE DATA (?:\S+ )?(\S+)$")


def _pg_restore(
    params: LoadParams, manifest: Manifest, artifact: Path, progress: Progress, cancel: threading.Event | None
) -> tuple[ForeignKey, ...]:
    url = params.target
    major = int(engines.describe(url).server_version.split(".")[0])
    found = tools.postgres_tools(major)
    if found is None:
        raise tools.ToolMissing(
            f"pg_restore {major} or newer is needed to load into this server: install the PostgreSQL client tools "
            "(Debian: postgresql-client).",
        )
    _dump, restore = found
    env = tools.postgres_env(url.host, url.port, url.username, tools.url_password(url), url.database or "")
    rows = manifest.table_rows()
    # Each table's data weighs its row count, every other item one: the total is known before starting.
    total = max(1, sum(rows.values())) + 1000
    state = {"done": 0, "items": 0}
    lock = threading.Lock()

    def on_line(line: str) -> None:
        match = _FINISHED.match(line)
        if not match:
            return
        data = _TABLE_DATA.search(match.group(2))
        with lock:
            state["items"] += 1
            if data and "processing item" not in line:
                state["done"] += rows.get(data.group(1), 0)

    copying = _CopyProgress(url)
    message = f"Restoring into {url.database} with pg_restore -j {params.jobs}"

    def tick() -> None:
        with lock:
            done = state["done"] + min(state["items"], 1000) + copying.rows()
        progress(min(done, total), total, "rows", message)

    progress(0, total, "rows", message)
    with tempfile.TemporaryDirectory(prefix="changeover-restore-") as scratch:
        deferral = (
            _foreign_keys_to_defer(restore.path, artifact, Path(scratch), cancel) if params.defer_foreign_keys else None
        )
        listing: list[str] = []
        if deferral is not None:  # the dump's contents with the deferred keys commented out
            (Path(scratch) / "restore.list").write_text(deferral.listing, encoding="utf-8")
            listing = [f"--use-list={Path(scratch) / 'restore.list'}"]
        try:
            tools.run(
                [
                    restore.path,
                    f"--jobs={max(1, params.jobs)}",
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--verbose",
                    *listing,
                    f"--dbname={url.database}",
                    str(artifact),
                ],
                what="The load",
                env=env,
                secrets=url_secrets(url),
                cancel=cancel,
                on_line=on_line,
                tick=tick,
            )
        finally:
            copying.close()
    if deferral is None:
        return ()
    progress(total, total, "rows", f"Adding {len(deferral.statements)} foreign keys, to be validated after the switch")
    return foreign_keys.add_unchecked(url, deferral)


def _foreign_keys_to_defer(
    restore: str, artifact: Path, scratch: Path, cancel: threading.Event | None
) -> foreign_keys.Deferral | None:
    """Which of the dump's foreign keys the restore leaves out, to add them NOT VALID (:mod:`.foreign_keys`)."""

    def printed(argv: list[str]) -> str:
        out = io.BytesIO()
        tools.run([restore, *argv, str(artifact)], what="Reading the dump's contents", cancel=cancel, sink=out)
        return out.getvalue().decode("utf-8")

    def list_sql(entries: str) -> str:
        keys = scratch / "keys.list"
        keys.write_text(entries, encoding="utf-8")
        return printed(["--file=-", f"--use-list={keys}"])

    return foreign_keys.plan(printed(["--list"]), list_sql)


class _CopyProgress:
    """Rows copied so far by running COPY commands into the target (pg_stat_progress_copy), best effort."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.engine: sa.Engine | None = None
        self.broken = False

    def rows(self) -> int:
        if self.broken:
            return 0
        try:
            if self.engine is None:
                self.engine = sa.create_engine(
                    self.url.set(drivername="postgresql+psycopg"), poolclass=sa.StaticPool, isolation_level="AUTOCOMMIT"
                )
            with self.engine.connect() as conn:
                value = conn.execute(
                    sa.text(
                        "SELECT coalesce(sum(tuples_processed), 0) FROM pg_stat_progress_copy "
                        "WHERE datname = current_database()"
                    )
                ).scalar_one()
            return int(value)
        except sa.exc.DBAPIError:
            self.broken = True
            return 0

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


# -- MariaDB / MySQL --------------------------------------------------------------------------------


def _mysql_load(
    params: LoadParams, manifest: Manifest, artifact: Path, progress: Progress, cancel: threading.Event | None
) -> None:
    url = params.target
    if manifest.format == mariadb_tsv.FORMAT:
        found = tools.mysql_tools()
        if found is None or (artifact / mariadb_python.SCHEMA_JSON).exists():
            mariadb_python.load_python(url, artifact, progress, cancel)
        else:
            mariadb_tsv.load(url, artifact, found[1], progress, cancel, jobs=params.jobs)
        return
    _dump, client = tools.require_mysql_tools("load this backup")
    total = artifact.stat().st_size
    message = f"Loading into {url.database} with {client.name} {client.version_text}"
    progress(0, total, "bytes", message)
    with tools.mysql_options_for(url) as options, artifact.open("rb") as source:
        tools.run(
            [
                client.path,
                f"--defaults-extra-file={options}",
                "--default-character-set=utf8mb4",
                "--binary-mode",
                f"--database={url.database}",
            ],
            what="The load",
            secrets=url_secrets(url),
            cancel=cancel,
            source=source,
            transform=mariadb_tsv.dump_rewriter(),
            on_bytes=lambda n: progress(min(n, total), total, "bytes", message),
        )


# -- SQLite -----------------------------------------------------------------------------------------


def _sqlite_load(
    params: LoadParams, manifest: Manifest, artifact: Path, progress: Progress, cancel: threading.Event | None
) -> None:
    target = path_of(params.target)
    if not target.parent.is_dir():
        raise ChangeoverError(f"The folder of the target {target} does not exist.", title="Target missing")
    try:
        copy_sqlite(artifact, target, progress, cancel, what="The load")
    except sqlite3.Error as exc:
        raise tools.TransferError(f"The load into {target.name} failed: {exc}") from None
