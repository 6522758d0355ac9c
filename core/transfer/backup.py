"""Back up a database (same engine) into a folder: the artifact plus ``manifest.json``.

PostgreSQL: ``pg_dump -Fd -Z0 -jN`` (directory format, uncompressed: compression would sit on the critical
path; one job per core, and :mod:`.load` restores it in parallel too). MariaDB/MySQL: ``mariadb-dump
--single-transaction --quick --routines --triggers --events``. SQLite: the online backup API. The
native tools are used after checking they can handle the server; credentials reach them through
their environment or a 0600 option file, never their command line.

The manifest records per-table row counts and content checksums computed inside the database
(:func:`changeover.core.transfer.verify.checksum_database`), so a load can prove it carried everything.

A backup holds the data and often secrets of the database: its folders are 0700 and its files 0600,
and so are the folders Changeover creates above it. A backup in progress is written to
``<timestamp>.partial`` (holding the pid of the process writing it), renamed to ``<timestamp>`` once its
manifest is written: a folder without the suffix is complete. :func:`clean_partials` removes what a
killed run left.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import URL

from .. import engines, paths
from ..engines import MYSQL, POSTGRESQL, SQLITE, DatabaseInfo, display_url, url_secrets
from ..engines.sqlite import path_of
from ..errors import Cancelled, ChangeoverError
from ..jobs import Progress, check_cancel, no_progress
from . import tools
from .formats import mariadb_python, mariadb_tsv, pgcopy
from .formats.manifest import Manifest, TableEntry, digest_artifact, stamp
from .partials import OWNER, start_partial

logger = logging.getLogger(__name__)

#: pg_dump's jobs: one per core (each is a connection to the source, on one snapshot)
DUMP_JOBS = os.cpu_count() or 2


@dataclass(frozen=True)
class BackupParams:
    url: URL  # the full URL, secrets included; never shown
    resource: str | None = None  # names the folder under the backups folder
    folder: Path | None = None  # where to write; default backups_dir()/<resource>/<timestamp>/
    checksums: bool = True
    #: MariaDB/MySQL only: "tsv" (schema + one tab-separated file per table, loaded with LOAD DATA: the
    #: fast path) or "sql" (one mariadb-dump file, loaded by the mariadb client)
    mysql_format: str = "tsv"
    #: how the tables are checksummed: "canonical" (comparable with any engine), or a fast form of the source's
    #: engine and version (:func:`changeover.core.transfer.verify.native.shared_form`) for a same-engine load
    checksum_form: str = "canonical"


@dataclass(frozen=True)
class BackupResult:
    folder: Path
    manifest: Manifest

    @property
    def artifact(self) -> Path:
        return self.folder / self.manifest.artifact


def tools_note(engine: str, server_version: str) -> str | None:
    """Which tools a same-engine backup of this server will use, for a pre-flight line (None: no tools,
    SQLite's own backup API)."""

    def postgres() -> str:
        found = tools.postgres_tools(int(server_version.split(".")[0]))
        if found:
            return f"pg_dump/pg_restore {found[0].version_text}"
        return "pg_dump/pg_restore missing or older than the server: the built-in copy is used"

    def mariadb() -> str:
        return (
            "mariadb-dump and mariadb found"
            if tools.mysql_tools()
            else "mariadb-dump missing: the built-in copy is used"
        )

    note = {POSTGRESQL: postgres, MYSQL: mariadb}.get(engines.of(engine))
    return None if note is None else note()


def target_folder(params: BackupParams, moment: datetime) -> Path:
    if params.folder is not None:
        return params.folder
    name = params.resource or (Path(params.url.database or "database").stem)
    return paths.backups_dir() / name / stamp(moment)


def backup(
    params: BackupParams, progress: Progress = no_progress, cancel: threading.Event | None = None
) -> BackupResult:
    """Write a backup of ``params.url`` and its manifest; return where it is.

    Raises :class:`~changeover.core.errors.Cancelled` (the partial folder removed, the source untouched)
    or a :class:`~changeover.core.errors.ChangeoverError` with what went wrong.
    """
    engine = engines.of(params.url)
    moment = datetime.now(UTC)
    progress(0, None, "", f"Reading the catalog of {params.url.database}")
    info = engines.describe(params.url)
    final = target_folder(params, moment)
    if final.exists() and any(final.iterdir()):
        raise ChangeoverError(f"The backup folder {final} is not empty.", title="Backup folder in use")
    folder = start_partial(final)
    stop = threading.Event()  # set when the dump fails or the user cancels: the checksums stop too
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-checksums")
    try:
        check_cancel(cancel, "The backup")
        # The content checksums are read while the dump runs: both are mostly the server's work.
        bar = _StepBar(progress, info.size_bytes)
        tsv = engine == MYSQL and params.mysql_format == "tsv"
        # the client tools' export tells where it is; the PyMySQL one does not, its checksums run freely
        paced = tsv and params.checksums and params.checksum_form != "canonical" and tools.mysql_tools() is not None
        pacer = ScanPacer(stop) if paced else None
        pace = pacer.wait_for if pacer is not None else None
        sums = pool.submit(
            _table_entries, params.url, params.checksums, stop, bar.checksums, params.checksum_form, pace
        )
        try:
            if tsv:
                artifact, tool, version, fmt = _mysql_tsv(
                    params.url, info, folder, bar.dump, cancel, pacer.started if pacer else None
                )
            else:
                dump = {POSTGRESQL: _pg_dump, MYSQL: _mysql_dump, SQLITE: _sqlite_backup}[engine]
                artifact, tool, version, fmt = dump(params.url, info, folder, bar.dump, cancel)
        finally:
            if pacer is not None:
                pacer.close()
        bar.dumped("Finishing the content checksums of the source")
        while not sums.done():
            if cancel is not None and cancel.is_set():
                stop.set()
            wait([sums], timeout=tools.TICK)
            bar.report("Finishing the content checksums of the source")
        tables = sums.result()
        check_cancel(cancel, "The backup")
        bar.report("Computing the backup's checksum", final=True)
        for item in [artifact, *artifact.rglob("*")]:
            item.chmod(0o700 if item.is_dir() else 0o600)
        digest, size = digest_artifact(artifact)
        manifest = Manifest(
            format=fmt,
            engine=engine.name,
            tool=tool,
            tool_version=version,
            server_version=info.server_version,
            source=display_url(params.url),
            artifact=artifact.name,
            sha256=digest,
            size_bytes=size,
            created_at=moment.isoformat(),
            tables=tables,
            resource=params.resource,
            checksum_form=params.checksum_form if params.checksums else "canonical",
        )
        manifest.write(folder).chmod(0o600)
        (folder / OWNER).unlink()
        folder.rename(final)
        folder = final
    except BaseException as exc:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, Cancelled):
            raise Cancelled(
                f"The backup of '{params.resource or params.url.database}' was cancelled; the source database "
                "is untouched and the partial backup was removed.",
            ) from None
        if isinstance(exc, Exception) and not isinstance(exc, tools.ConnectionLost) and tools.lost_connection(str(exc)):
            raise tools.connection_lost("source", "the backup", str(exc), url_secrets(params.url)) from None
        raise
    pool.shutdown(wait=True)
    progress(manifest.size_bytes, manifest.size_bytes, "bytes", f"Backup written to {folder}")
    logger.info("backup of %s written to %s (%d bytes)", manifest.source, folder, manifest.size_bytes)
    return BackupResult(folder, manifest)


class _StepBar:
    """One bar for the backup's two parts that run side by side, the dump and the content checksums: the backup
    is as far as the slower of them, shown in bytes of the source, never going back. (It was a busy bar, back at
    the step's start, while the checksums finished after the dump.) The last share is the backup's own digest."""

    PARTS = 0.97  # of the bar for the dump and the checksums; the digest of the artifact takes the rest

    def __init__(self, progress: Progress, size: int) -> None:
        self.progress = progress
        self.size = max(1, size)
        self.dumped_share = 0.0
        self.summed_share: float | None = None  # None: the checksums say nothing of their progress
        self.shown = 0
        self.determinate = False

    def dump(self, done: int, total: int | None, unit: str, message: str) -> None:
        """The dump's own progress (any unit): folded into the bar."""
        if not total:
            if not self.determinate:
                self.progress(done, total, unit, message)
            return
        self.dumped_share = max(self.dumped_share, min(1.0, done / total))
        self.report(message)

    def checksums(self, done: int, total: int | None, unit: str, message: str) -> None:
        """The checksums' progress, from their own thread: only noted; the backup's thread reports it."""
        if total:
            self.summed_share = min(1.0, done / total)

    def dumped(self, message: str) -> None:
        self.dumped_share = 1.0
        self.report(message)

    def report(self, message: str, *, final: bool = False) -> None:
        share = self.dumped_share if self.summed_share is None else min(self.dumped_share, self.summed_share)
        self.shown = max(self.shown, int(self.size * self.PARTS * (1.0 if final else share)))
        self.determinate = True
        self.progress(self.shown, self.size, "bytes", message)


class ScanPacer:
    """Holds the source's checksums just behind the export, table by table (MariaDB's client-tools backup).

    MariaDB reads InnoDB's files past the OS cache (``O_DIRECT``), through a buffer pool often smaller than a
    table (128 MB by default): two scans of one database at once, in different orders, each read every page
    from disk and push the other's out. Hashing each table only once its export has begun, in the export's
    order, has the hash read the pages the export has just brought in: one read from disk serves both. The
    export never waits for the hash.
    """

    def __init__(self, stop: threading.Event) -> None:
        self._begun: set[str] = set()
        self._open = True
        self._stop = stop
        self._changed = threading.Condition()

    def started(self, table: str) -> None:
        """The export has begun ``table`` (and every one before it)."""
        with self._changed:
            self._begun.add(table)
            self._changed.notify_all()

    def close(self) -> None:
        """The export is over (done or failed): nothing waits any longer."""
        with self._changed:
            self._open = False
            self._changed.notify_all()

    def wait_for(self, table: str) -> None:
        """Return once the export has begun ``table``, or is over, or the backup stops."""
        with self._changed:
            while self._open and table not in self._begun and not self._stop.is_set():
                self._changed.wait(tools.TICK)


def _table_entries(
    url: URL,
    checksums: bool,
    cancel: threading.Event | None,
    progress: Progress = no_progress,
    form: str = "canonical",
    pace: Callable[[str], None] | None = None,
) -> tuple[TableEntry, ...]:
    if checksums:
        from .verify.native import checksum_in

        sums = checksum_in(url, form, progress=progress, cancel=cancel, pace=pace)
        return tuple(TableEntry(name, int(s.rows), str(s.checksum)) for name, s in sorted(sums.items()))
    return tuple(TableEntry(name, rows) for name, rows in sorted(exact_counts(url, cancel).items()))


def exact_counts(url: URL, cancel: threading.Event | None = None, only: set[str] | None = None) -> dict[str, int]:
    """Exact row counts of every table (a full count each), or of those ``only`` names: for manifests without
    checksums, and to show a source has not changed."""
    info = engines.describe(url)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    counts: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            preparer = engine.dialect.identifier_preparer
            for table in info.tables:
                if only is not None and table.name not in only:
                    continue
                check_cancel(cancel, "Counting rows")
                schema, _, name = table.name.rpartition(".")
                quoted = (preparer.quote(schema) + "." if schema else "") + preparer.quote(name)
                counts[table.name] = int(conn.execute(sa.text(f"SELECT count(*) FROM {quoted}")).scalar_one())
    finally:
        engine.dispose()
    return counts


def _written(path: Path) -> int:
    """Bytes written so far to an artifact: a file, or a folder of files."""
    try:
        if not path.is_dir():
            return path.stat().st_size
        return sum(item.stat().st_size for item in path.iterdir() if item.is_file())
    except FileNotFoundError:
        return 0


def _ticker(path: Path, total: int, progress: Progress, message: str) -> Callable[[], None]:
    def tick() -> None:
        done = _written(path)
        progress(min(done, total), max(total, done), "bytes", message)

    return tick


def _pg_dump(
    url: URL, info: DatabaseInfo, folder: Path, progress: Progress, cancel: threading.Event | None
) -> tuple[Path, str, str, str]:
    major = int(info.server_version.split(".")[0])
    found = tools.postgres_tools(major)
    if found is None:
        logger.info("no pg_dump %d or newer: backing up through psycopg", major)
        artifact = folder / "database.copy"
        pgcopy.export(url, info, artifact, progress, cancel)
        return artifact, "psycopg", psycopg.__version__, pgcopy.FORMAT
    dump, _restore = found
    # The directory format, uncompressed (compression would sit on the critical path), one job per core: the
    # tables are dumped side by side, and the load restores them in parallel too. pg_dump's workers share one
    # snapshot. (A worker that fails, on a full disk say, is followed by "a worker process died": the first
    # error is the cause, and :func:`tools.run` reports that one.)
    artifact = folder / "database.pgdir"
    env = tools.postgres_env(url.host, url.port, url.username, tools.url_password(url), url.database or "")
    jobs = max(1, min(DUMP_JOBS, len(info.tables)))
    message = f"Dumping {url.database} with pg_dump {dump.version_text} -j {jobs}"
    progress(0, info.size_bytes, "bytes", message)
    tools.run(
        [dump.path, "--format=directory", "--compress=0", "--no-sync", f"--jobs={jobs}", f"--file={artifact}"],
        what="The backup",
        env=env,
        secrets=url_secrets(url),
        cancel=cancel,
        tick=_ticker(artifact, info.size_bytes, progress, message),
    )
    return artifact, "pg_dump", dump.version_text, "pg_dump-directory"


def _mysql_dump(
    url: URL, info: DatabaseInfo, folder: Path, progress: Progress, cancel: threading.Event | None
) -> tuple[Path, str, str, str]:
    dump, _client = tools.require_mysql_tools("back up this server")
    artifact = folder / "database.sql"
    message = f"Dumping {url.database} with {dump.name} {dump.version_text}"
    progress(0, info.size_bytes, "bytes", message)
    with tools.mysql_options_for(url) as options:
        tools.run(
            [
                dump.path,
                f"--defaults-extra-file={options}",
                "--single-transaction",
                "--skip-add-locks",  # LOCK TABLES in the dump would refuse a table filled from a sequence's default
                "--quick",
                "--routines",
                "--triggers",
                "--events",
                "--no-tablespaces",
                "--hex-blob",
                "--default-character-set=utf8mb4",
                f"--result-file={artifact}",
                url.database or "",
            ],
            what="The backup",
            secrets=url_secrets(url),
            cancel=cancel,
            tick=_ticker(artifact, info.size_bytes, progress, message),
        )
    return artifact, dump.name, dump.version_text, "mariadb-dump-sql"


def _mysql_tsv(
    url: URL,
    info: DatabaseInfo,
    folder: Path,
    progress: Progress,
    cancel: threading.Event | None,
    on_table: Callable[[str], None] | None = None,
) -> tuple[Path, str, str, str]:
    artifact = folder / "database.tsv"
    found = tools.mysql_tools()
    if found is None:
        logger.info("no mariadb-dump/mariadb client: backing up through PyMySQL")
        mariadb_python.export_python(url, info, artifact, progress, cancel)
        import pymysql

        return artifact, "pymysql", str(pymysql.__version__), mariadb_tsv.FORMAT
    dump, client = found
    mariadb_tsv.export(url, info, artifact, dump, client, progress, cancel, on_table)
    return artifact, f"{dump.name}+{client.name}", dump.version_text, mariadb_tsv.FORMAT


def _sqlite_backup(
    url: URL, info: DatabaseInfo, folder: Path, progress: Progress, cancel: threading.Event | None
) -> tuple[Path, str, str, str]:
    source_path = path_of(url)
    artifact = folder / "database.sqlite3"
    copy_sqlite(source_path, artifact, progress, cancel, what="The backup")
    return artifact, "sqlite3-backup-api", sqlite3.sqlite_version, "sqlite-backup"


def copy_sqlite(
    source_path: Path, target_path: Path, progress: Progress, cancel: threading.Event | None, *, what: str
) -> None:
    """Copy a SQLite database page by page through the online backup API (readers and writers may go on)."""
    try:
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise tools.TransferError(f"{what} could not open {source_path}: {exc}") from None
    target = sqlite3.connect(target_path)
    message = f"Copying {source_path.name}"

    def step(status: int, remaining: int, total: int) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{what} was cancelled by the user.")
        progress(total - remaining, total, "pages", message)

    try:
        source.backup(target, pages=2048, progress=step)
    except sqlite3.Error as exc:
        raise tools.TransferError(f"{what} failed while copying {source_path.name}: {exc}") from None
    finally:
        target.close()
        source.close()
