"""Copy a database to another engine: SQLite, MariaDB/MySQL and PostgreSQL, any to any other.

Two use cases:

* :func:`plan` reads both sides and writes nothing. Its :class:`CopyReport` lists every column whose type
  is adapted (``table.column: from → to, why``) and everything that cannot be carried (views, triggers,
  routines, collations, non-portable checks and defaults), so the admin decides with full knowledge.
* :func:`copy` does it: tables with primary keys, unique and portable check constraints; rows streamed
  from the source (server-side cursors, batches, flat memory) into the target's bulk path
  (PostgreSQL ``COPY FROM STDIN``; MariaDB ``LOAD DATA LOCAL INFILE`` from a temp file per batch, or
  multi-row ``INSERT`` where the server forbids it; SQLite ``executemany`` in one transaction);
  then indexes, foreign keys (after the data, so circular keys load), and each auto-numbered key set
  to the source's position. Sequence objects (owned by no key, or standalone) are created first at
  their positions, and a column's ``DEFAULT nextval(...)`` draws from the new one. Values without a twin
  on the target (±infinity, zero dates, TIME past 24 hours, spatial values) are counted while planning
  and reported with what they become. Independent tables load two at a time.

The source is only read. The target must be empty (else :class:`TargetNotEmpty`, nothing changed); after a
failure or a cancel it holds a partial copy that can be dropped, and the error says so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable

from .. import engines
from ..engines import Engine, TargetNotEmpty, display_url, driver_message
from ..errors import Cancelled, ChangeoverError, InvalidInput
from ..jobs import Progress, check_cancel, no_progress
from .copy.reflect import Source, reflect_source
from .copy.report import CopyFailed, CopyReport, CopyResult, NotCarried, TableCopy
from .copy.schema import TargetSchema, build_target
from .copy.writers import Tracker, load_all

logger = logging.getLogger(__name__)

__all__ = ["CopyFailed", "CopyReport", "CopyResult", "NotCarried", "TableCopy", "TargetNotEmpty", "copy", "plan"]


def _target_contents(conn: Connection) -> list[str]:
    inspector = sa.inspect(conn)
    return sorted(inspector.get_table_names()) + sorted(inspector.get_view_names())


def _make_report(
    source_url: URL,
    target_url: URL,
    source: Source,
    schema: TargetSchema,
    target: Engine,
    blockers: list[str],
    bulk_path: str,
) -> CopyReport:
    dialect = target.dialect()
    tables = tuple(
        TableCopy(name, source.tables[name].estimate, str(CreateTable(t).compile(dialect=dialect)).strip())
        for name, t in schema.tables.items()
    )
    return CopyReport(
        source=display_url(source_url),
        target=display_url(target_url),
        source_engine=source.engine.name,
        target_engine=target.name,
        tables=tables,
        adaptations=tuple(schema.adaptations),
        not_carried=tuple(source.not_carried + schema.not_carried),
        blockers=tuple(blockers),
        bulk_path=bulk_path,
    )


def _prepare(source_url: URL, target_url: URL) -> tuple[Source, TargetSchema, CopyReport]:
    source_engine, target = engines.of(source_url), engines.of(target_url)
    if source_engine == target:
        raise InvalidInput(
            f"Both databases are {target}: use a backup and load for a same-engine copy, which keeps everything.",
            title="Same engine",
        )
    src_engine, tgt_engine = engines.open_engine(source_url), engines.open_engine(target_url)
    try:
        with src_engine.connect() as conn:
            source = reflect_source(conn)
        schema = build_target(source, target)
        with tgt_engine.connect() as conn:
            present = _target_contents(conn)
            bulk_path = target.bulk_path_on(conn)
    except sa.exc.SQLAlchemyError as exc:
        raise CopyFailed(f"Could not read the databases to plan the copy: {driver_message(exc)}") from None
    finally:
        src_engine.dispose()
        tgt_engine.dispose()
    blockers = []
    if present:
        shown = ", ".join(present[:5]) + (", …" if len(present) > 5 else "")
        blockers.append(
            f"{display_url(target_url)} is not empty: it holds {len(present)} tables or views ({shown}). "
            "Changeover copies only into an empty database, so nothing was changed: choose an empty database "
            "or drop those first."
        )
    return source, schema, _make_report(source_url, target_url, source, schema, target, blockers, bulk_path)


def plan(source_url: URL | str, target_url: URL | str) -> CopyReport:
    """What :func:`copy` would do, with every adaptation and everything left behind; writes nothing."""
    return _prepare(sa.engine.make_url(source_url), sa.engine.make_url(target_url))[2]


@contextmanager
def _heartbeat(progress: Progress, done: int, total: int, message: str) -> Iterator[None]:
    """Report ``message`` now and every half second until the block ends (one long statement: an index
    build, a foreign key check), so a progress display never looks frozen."""
    stop = threading.Event()
    started = monotonic()

    def beat() -> None:
        while not stop.wait(0.5):
            progress(done, total, "steps", f"{message} ({monotonic() - started:.0f} s)")

    progress(done, total, "steps", message)
    thread = threading.Thread(target=beat, name="copy-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def copy(
    source_url: URL | str,
    target_url: URL | str,
    *,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> CopyResult:
    """Copy every table of ``source_url`` into the empty database ``target_url`` on another engine."""
    source_url, target_url = sa.engine.make_url(source_url), sa.engine.make_url(target_url)
    started = monotonic()
    progress(0, None, "", "Reading both schemas")
    source, schema, report = _prepare(source_url, target_url)
    if report.blockers:
        raise TargetNotEmpty(report.blockers[0])
    src, tgt = display_url(source_url), display_url(target_url)
    partial = (
        f"The source {src} was only read and is unchanged. The target {tgt} holds a partial copy: "
        "drop it (or empty it) before copying again."
    )
    target = engines.of(target_url)
    tgt_engine = engines.open_engine(target_url)
    try:
        check_cancel(cancel, "The copy")
        with tgt_engine.begin() as conn:
            for statement in schema.sequences:
                progress(0, len(schema.tables), "tables", "Creating the sequences")
                conn.exec_driver_sql(statement)
            for n, table in enumerate(schema.tables.values()):
                progress(n, len(schema.tables), "tables", f"Creating table {table.name}")
                conn.execute(CreateTable(table))
        tracker = Tracker(progress, report.estimated_rows)
        tracker.progress(0, report.estimated_rows, "rows", "Copying rows")
        rows = load_all(source_url, target_url, source, schema, report, tracker, cancel)
        check_cancel(cancel, "The copy")
        with tgt_engine.begin() as conn:
            steps = len(schema.indexes) + (len(schema.fks) if target.alters_constraints else 0)
            done = 0
            for index in schema.indexes:
                check_cancel(cancel, "The copy")
                with _heartbeat(progress, done, steps, f"Creating index {index.name}"):
                    conn.execute(CreateIndex(index))
                done += 1
            if target.alters_constraints:  # else the keys were made with their tables
                for table_name, fk in schema.fks:
                    check_cancel(cancel, "The copy")
                    with _heartbeat(progress, done, steps, f"Adding a foreign key on {table_name}"):
                        schema.tables[table_name].append_constraint(fk)
                        conn.execute(AddConstraint(fk))
                    done += 1
            _move_sequences(conn, target, source, progress)
    except Cancelled:
        raise Cancelled(f"The copy was cancelled. {partial}") from None
    except TargetNotEmpty:
        raise
    except ChangeoverError as exc:
        raise CopyFailed(f"{exc.message} {partial}") from None
    except sa.exc.SQLAlchemyError as exc:
        raise CopyFailed(f"The copy stopped: {driver_message(exc)}. {partial}") from None
    finally:
        tgt_engine.dispose()
    seconds = monotonic() - started
    total = sum(rows.values())
    progress(total, total, "rows", f"Copied {len(rows)} tables, {total} rows in {seconds:.1f} s")
    logger.info("copied %s to %s: %d tables, %d rows, %.1f s", src, tgt, len(rows), total, seconds)
    return CopyResult(report, rows, seconds)


def _move_sequences(conn: Connection, target: Engine, source: Source, progress: Progress) -> None:
    """Every auto-numbered column's next value is the source's (and past the highest id copied)."""
    if not target.has_sequences:
        return  # SQLite's rowid takes max(rowid)+1: past every row copied
    for st in source.tables.values():
        auto = next((c for c in st.columns if c.autoincrement and c.name in st.pk and len(st.pk) == 1), None)
        if auto is None:
            continue
        progress(0, None, "", f"Moving the sequence of {st.name}")
        t, c = target.quote(st.name), target.quote(auto.name)
        top = conn.exec_driver_sql(f"SELECT max({c}) FROM {t}").scalar()
        following = max(int(top or 0) + 1, st.next_id or 0)  # the source's position, never behind the data
        target.set_next_auto_value(conn, st.name, auto.name, following)
