"""Rows into the target engine's bulk path: PostgreSQL ``COPY FROM STDIN``; MariaDB ``LOAD DATA LOCAL
INFILE`` from a temp file per batch, or multi-row ``INSERT`` where the server forbids it; SQLite
``executemany`` in one transaction. MariaDB → PostgreSQL renders whole pages of COPY text in SQL."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import partial
from time import monotonic
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from ... import engines
from ...engines import MYSQL, POSTGRESQL, Engine
from ...engines.mysql import real_date
from ...errors import Cancelled
from ...jobs import Progress, check_cancel
from ..reading import ColumnInfo, read_batches
from .convert import converter, load_field, select_columns
from .reflect import Source, SourceTable
from .report import CopyFailed, CopyReport
from .schema import TargetSchema

BATCH_ROWS = 10_000

#: MariaDB → PostgreSQL pages of COPY text: at most this many rows, about this many bytes
PAGE_ROWS = 50_000

PAGE_BYTES = 8 * 1024 * 1024

#: a LOAD DATA file is flushed to the server once it holds this much
LOAD_FILE_BYTES = 64 * 1024 * 1024

WORKERS = 2


class _Aborted(Cancelled):
    """A loading thread stops because another one failed (that failure is what gets reported)."""


def _check(cancel: threading.Event | None, abort: threading.Event) -> None:
    """A cancel point in a loading thread: the user's cancel, or another table's failure."""
    check_cancel(cancel, "The copy")
    if abort.is_set():
        raise _Aborted("Another table failed.")


def _batches(
    conn: Connection,
    engine: Engine,
    st: SourceTable,
    target: Engine,
    cancel: threading.Event | None,
    abort: threading.Event,
) -> Generator[list[tuple[Any, ...]], None, None]:
    """The source table in converted batches (flat memory; cancel and abort checked before each)."""
    converters = [converter(c, engine, target) for c in st.columns]
    active = [(i, f) for i, f in enumerate(converters) if f is not None]

    check = partial(_check, cancel, abort)
    for rows in read_batches(
        conn, st.name, select_columns(engine, st.columns, target, st.odd), pk=st.pk, batch_rows=BATCH_ROWS, check=check
    ):
        if not active:
            yield rows  # type: ignore[misc]  # tuples from the driver
            continue
        batch = []
        for r in rows:
            row = list(r)
            for i, f in active:
                if row[i] is not None:
                    row[i] = f(row[i])
            batch.append(tuple(row))
        yield batch


@contextmanager
def _raw(engine: sa.Engine) -> Iterator[Any]:
    """The driver's own connection (psycopg, PyMySQL, sqlite3), closed afterwards."""
    proxy = engine.raw_connection()
    try:
        yield proxy.driver_connection
    finally:
        proxy.close()


def _write_postgres(
    raw: Any, table: str, cols: list[ColumnInfo], batches: Iterator[list[tuple[Any, ...]]], count: Callable[[int], None]
) -> int:
    names = ", ".join(POSTGRESQL.quote(c.name) for c in cols)
    total = 0
    with raw.cursor() as cur, cur.copy(f"COPY {POSTGRESQL.quote(table)} ({names}) FROM STDIN") as pipe:
        for batch in batches:
            for row in batch:
                pipe.write_row(row)
            total += len(batch)
            count(len(batch))
    raw.commit()
    return total


_BS = "CHAR(92 USING utf8mb4)"


def _copy_text_escaped(expr: str) -> str:
    """MySQL SQL escaping ``expr`` for PostgreSQL's COPY text format (backslash, tab, newline, CR)."""
    for code, letter in ((92, None), (9, "t"), (10, "n"), (13, "r")):
        char = f"CHAR({code} USING utf8mb4)"
        expr = f"REPLACE({expr}, {char}, CONCAT({_BS}, {_BS if letter is None else repr(letter)}))"
    return expr


def _mysql_copy_field(col: ColumnInfo) -> str:
    """One column as MySQL SQL yielding its field in PostgreSQL's COPY text format (``\\N`` for NULL)."""
    q = MYSQL.quote(col.name)
    expr: str | None = {
        "bool": f"CASE WHEN {q} THEN 't' WHEN NOT {q} THEN 'f' END",
        "int": f"CAST({q} AS CHAR)",
        "decimal": f"CAST({q} AS CHAR)",
        "float": f"CAST({q} AS CHAR)",
        "bytes": f"CONCAT({_BS}, {_BS}, 'x', LOWER(HEX({q})))",
        "date": real_date(q, "date", infinity=True),
        "time": f"TIME_FORMAT({q}, '%H:%i:%s.%f')",
        "datetime": real_date(q, "datetime", infinity=True),
        "datetime_tz": f"CONCAT({real_date(q, 'datetime', infinity=True)}, IF(YEAR({q}) = 0, '', '+00'))",
    }.get(col.kind) or _copy_text_escaped(
        MYSQL.select_expression(col) if col.spatial else f"CONVERT({q} USING utf8mb4)"
    )
    return f"IFNULL({expr}, CONCAT({_BS}, 'N'))"


def _mysql_to_postgres(
    conn: Connection, raw: Any, st: SourceTable, count: Callable[[int], None], check: Callable[[], None]
) -> int:
    """MariaDB renders whole pages of rows as COPY text (GROUP_CONCAT); they go to COPY as they come.

    No value is parsed or formatted in Python: this is what makes MariaDB → PostgreSQL fast. Pages follow
    the (single-column) primary key and size themselves to about :data:`PAGE_BYTES`.
    """
    conn.exec_driver_sql("SET SESSION group_concat_max_len = 4294967295")
    max_packet = int(conn.exec_driver_sql("SELECT @@max_allowed_packet").scalar_one())
    budget = min(PAGE_BYTES, max_packet // 2)
    key = MYSQL.quote(st.pk[0])
    line = f"CONCAT_WS(CHAR(9 USING utf8mb4), {', '.join(_mysql_copy_field(c) for c in st.columns)})"
    names = ", ".join(POSTGRESQL.quote(c.name) for c in st.columns)
    rows_per_page, last, total = 1000, None, 0
    with raw.cursor() as cur, cur.copy(f"COPY {POSTGRESQL.quote(st.name)} ({names}) FROM STDIN") as pipe:
        while True:
            check()
            where = f" WHERE {key} > :last" if last is not None else ""
            page = conn.execute(
                sa.text(
                    f"SELECT COUNT(*), MAX(k), GROUP_CONCAT(line SEPARATOR '\n') FROM "
                    f"(SELECT {key} AS k, {line} AS line FROM {MYSQL.quote(st.name)}{where} "
                    f"ORDER BY {key} LIMIT {rows_per_page}) page"
                ),
                {"last": last},
            ).one()
            rows, top, text = int(page[0]), page[1], page[2]
            if rows == 0:
                break
            if isinstance(text, bytes | bytearray):
                text = bytes(text).decode("utf-8")
            if text is None or text.count("\n") + 1 != rows:  # cut short by max_allowed_packet
                if rows_per_page == 1:
                    raise CopyFailed(
                        f"A row of {st.name} is larger than the MySQL server's max_allowed_packet "
                        f"({max_packet} bytes): raise it on the server and try again."
                    )
                rows_per_page = max(1, rows_per_page // 4)
                continue
            pipe.write(text)
            pipe.write("\n")
            total += rows
            count(rows)
            last = top
            rows_per_page = max(1, min(PAGE_ROWS, int(rows_per_page * budget / max(len(text), 1))))
    raw.commit()
    return total


def _write_mysql_load(
    raw: Any, table: str, cols: list[ColumnInfo], batches: Iterator[list[tuple[Any, ...]]], count: Callable[[int], None]
) -> int:
    targets, sets = [], []
    for i, col in enumerate(cols):
        q = MYSQL.quote(col.name)
        if col.kind == "bytes":
            targets.append(f"@v{i}")
            sets.append(f"{q} = UNHEX(@v{i})")
        else:
            targets.append(q)
    kinds = [c.kind for c in cols]
    total = 0
    fd, path = tempfile.mkstemp(prefix="changeover-", suffix=".tsv")
    statement = (
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {MYSQL.quote(table)} CHARACTER SET utf8mb4 "
        "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
        f"({', '.join(targets)})" + (f" SET {', '.join(sets)}" if sets else "")
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out, raw.cursor() as cur:

            def flush(lines: int) -> None:
                out.flush()
                cur.execute(statement, (path,))
                loaded = cur.rowcount
                problems = raw.show_warnings() if cur.warning_count else ()
                if problems or loaded != lines:
                    shown = "; ".join(str(w[2]) for w in problems[:3])
                    raise CopyFailed(
                        f"MariaDB/MySQL took {loaded} of {lines} rows of {table}: {shown or 'no reason given'}."
                    )
                raw.commit()
                out.seek(0)
                out.truncate()

            pending = 0
            for batch in batches:
                for row in batch:
                    out.write("\t".join(load_field(k, v) for k, v in zip(kinds, row, strict=True)))
                    out.write("\n")
                pending += len(batch)
                total += len(batch)
                count(len(batch))
                if out.tell() >= LOAD_FILE_BYTES:
                    flush(pending)
                    pending = 0
            if pending:
                flush(pending)
    finally:
        os.unlink(path)
    return total


def _write_insert(
    raw: Any,
    engine: Engine,
    table: str,
    cols: list[ColumnInfo],
    batches: Iterator[list[tuple[Any, ...]]],
    count: Callable[[int], None],
) -> int:
    """MySQL without local_infile: PyMySQL turns executemany into multi-row INSERTs; SQLite: in-process."""
    marker = engine.paramstyle_marker
    names = ", ".join(engine.quote(c.name) for c in cols)
    sql = f"INSERT INTO {engine.quote(table)} ({names}) VALUES ({', '.join([marker] * len(cols))})"
    total = 0
    cur = raw.cursor()
    try:
        for batch in batches:
            cur.executemany(sql, batch)
            total += len(batch)
            count(len(batch))
        raw.commit()
    finally:
        cur.close()
    return total


class Tracker:
    """Progress shared by the loading threads: rows against the catalog's estimate, a few times a second."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0
        self.lock = threading.Lock()
        self.last = 0.0

    def add(self, rows: int, message: str) -> None:
        with self.lock:
            self.done += rows
            now = monotonic()
            if now - self.last >= 0.2:
                self.last = now
                self.progress(self.done, max(self.total, self.done), "rows", message)


Writer = Callable[[Any, str, list[ColumnInfo], Iterator[list[tuple[Any, ...]]], Callable[[int], None]], int]
#: the bulk writer by the bulk path the report names (anything else: multi-row INSERT / executemany)
_WRITERS: dict[str, Writer] = {POSTGRESQL.bulk_path: _write_postgres, MYSQL.bulk_path: _write_mysql_load}


def load_all(
    source_url: URL,
    target_url: URL,
    source: Source,
    schema: TargetSchema,
    report: CopyReport,
    tracker: Tracker,
    cancel: threading.Event | None,
) -> dict[str, int]:
    target = engines.of(target_url)
    writer = _WRITERS.get(report.bulk_path)
    src_engine, tgt_engine = engines.open_engine(source_url), engines.open_engine(target_url)
    abort = threading.Event()

    def load(name: str) -> int:
        st = source.tables[name]
        message = f"Copying {name}"

        def count(rows: int) -> None:
            tracker.add(rows, message)

        with src_engine.connect() as conn, _raw(tgt_engine) as raw:
            source.engine.begin_snapshot(conn)
            if (source.engine, target) == (MYSQL, POSTGRESQL) and len(st.pk) == 1:
                return _mysql_to_postgres(conn, raw, st, count, partial(_check, cancel, abort))
            batches = _batches(conn, source.engine, st, target, cancel, abort)
            try:
                if writer is not None:
                    return writer(raw, name, st.columns, batches, count)
                return _write_insert(raw, target, name, st.columns, batches, count)
            finally:
                batches.close()  # a writer that failed leaves the source cursor open: close it while we can

    order = sorted(source.tables, key=lambda n: -source.tables[n].estimate)
    workers = WORKERS if target.parallel_writes else 1
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="copy") as pool:
            futures = {pool.submit(load, name): name for name in order}
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                abort.set()
                for f in futures:
                    f.cancel()
                wait(futures)
                errors = [e for f in futures if not f.cancelled() and (e := f.exception()) is not None]
                raise next((e for e in errors if not isinstance(e, _Aborted)), errors[0])
            return {futures[f]: f.result() for f in futures}
    finally:
        src_engine.dispose()
        tgt_engine.dispose()
