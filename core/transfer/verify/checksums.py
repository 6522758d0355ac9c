"""Count and checksum every table of a database: hashed inside the engine where it renders the canonical
text (PostgreSQL, MariaDB), a chunk of rows per statement along the primary key; streamed and hashed here
otherwise (SQLite, MariaDB JSON), in the same form."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from time import monotonic
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from ... import engines
from ...engines import Engine, display_url, driver_message, split_key
from ...errors import ChangeoverError
from ...jobs import Progress, check_cancel, no_progress
from ..reading import ColumnInfo, read_batches, reflect_tables
from .canonical import SEP, field_renderer, row_digest, table_checksum

logger = logging.getLogger(__name__)

CHUNK_ROWS = 50_000


class DatabaseError(ChangeoverError):
    """A database could not be read for verification (unreachable, no permission, ...)."""

    title = "Database not readable"


@dataclass(frozen=True)
class TableSum:
    """One table's row count and order-independent checksum (30 hex digits)."""

    table: str
    rows: int
    checksum: str


@dataclass
class _Tally:
    rows: int = 0
    first: int = 0
    second: int = 0

    def add(self, rows: int, first: Any, second: Any) -> None:
        self.rows += int(rows or 0)
        self.first += int(first or 0)
        self.second += int(second or 0)


def _pk_columns(conn: Connection, table: str) -> list[str]:
    schema, bare = split_key(table) if engines.of(conn).has_schemas else (None, table)
    return list(sa.inspect(conn).get_pk_constraint(bare, schema=schema)["constrained_columns"])


def _sum_in_sql(
    conn: Connection,
    engine: Engine,
    table: str,
    cols: list[ColumnInfo],
    tick: Callable[[int], None],
    cancel: threading.Event | None,
) -> _Tally:
    """Hash inside the database, one chunk of rows per statement along the primary key."""
    tally = _Tally()
    pk = _pk_columns(conn, table)
    if not pk:
        tally.add(*conn.execute(sa.text(engine.checksum_sql(table, cols, "", None, CHUNK_ROWS))).one())
        tick(tally.rows)
        return tally
    if len(pk) == 1:  # one statement per chunk: the page along the key also gives where it ends
        key, last_key = engine.quote(pk[0]), None
        while True:
            check_cancel(cancel, "Verification")
            where = f" WHERE {key} > :last" if last_key is not None else ""
            rows, first, second, top = conn.execute(
                sa.text(engine.checksum_sql(table, cols, where, key, CHUNK_ROWS)), {"last": last_key}
            ).one()
            tally.add(rows, first, second)
            tick(int(rows or 0))
            if not rows or int(rows) < CHUNK_ROWS:
                return tally
            last_key = top
    keys = ", ".join(engine.quote(c) for c in pk)
    tuple_ = f"({keys})" if len(pk) > 1 else keys
    params = [f":k{i}" for i in range(len(pk))]
    marker = f"({', '.join(params)})" if len(pk) > 1 else params[0]
    t = engine.quote_table(table)
    last: tuple[Any, ...] | None = None
    while True:
        check_cancel(cancel, "Verification")
        after = f" WHERE {tuple_} > {marker}" if last is not None else ""
        bind = {f"k{i}": v for i, v in enumerate(last or ())}
        boundary = conn.execute(
            sa.text(f"SELECT {keys} FROM {t}{after} ORDER BY {keys} LIMIT 1 OFFSET {CHUNK_ROWS - 1}"), bind
        ).first()
        where = after
        if boundary is not None:
            upto = [f":u{i}" for i in range(len(pk))]
            upto_marker = f"({', '.join(upto)})" if len(pk) > 1 else upto[0]
            where = (after + " AND " if after else " WHERE ") + f"{tuple_} <= {upto_marker}"
            bind.update({f"u{i}": v for i, v in enumerate(boundary)})
        before = tally.rows
        tally.add(*conn.execute(sa.text(engine.checksum_sql(table, cols, where, None, CHUNK_ROWS)), bind).one())
        tick(tally.rows - before)
        if boundary is None:
            return tally
        last = tuple(boundary)


def _sum_in_python(
    conn: Connection,
    engine: Engine,
    table: str,
    cols: list[ColumnInfo],
    tick: Callable[[int], None],
    cancel: threading.Event | None,
) -> _Tally:
    """Stream the rows and hash them here, in the same canonical form."""
    tally = _Tally()
    renderers = [field_renderer(c.kind) for c in cols]
    batches = read_batches(
        conn,
        table,
        [engine.select_expression(c) for c in cols],
        pk=_pk_columns(conn, table),
        batch_rows=2000,
        check=partial(check_cancel, cancel, "Verification"),
    )
    join, digest = SEP.join, row_digest
    for batch in batches:
        first = second = 0
        for row in batch:
            a, b = digest(join([f(v) for f, v in zip(renderers, row, strict=True)]))
            first += a
            second += b
        tally.add(len(batch), first, second)
        tick(len(batch))
    return tally


def checksum_database(
    url: URL | str,
    *,
    tables: list[str] | None = None,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> dict[str, TableSum]:
    """Count and checksum every base table of ``url`` (or those named), keyed by table name.

    Reads one consistent snapshot where the engine gives one (``Engine.begin_snapshot``); never writes.
    Progress is in rows against the catalog's estimate.
    """
    url = sa.engine.make_url(url)
    where = display_url(url)
    engine_ = engines.open_engine(url)
    try:
        with engine_.connect() as conn:
            engine = engines.of(conn)
            engine.begin_snapshot(conn)
            schema = reflect_tables(conn, tables, every_schema=True)
            if tables is not None and (missing := sorted(set(tables) - set(schema))):
                raise DatabaseError(f"{where} has no table {', '.join(missing)}.")
            estimates = engine.estimate_rows(conn, list(schema))
            total = sum(estimates.values())
            done = 0
            last_report = 0.0

            def tick(rows: int, *, table: str) -> None:
                nonlocal done, last_report
                done += rows
                now = monotonic()
                if now - last_report >= 0.25:
                    last_report = now
                    progress(min(done, max(total, done)), max(total, done), "rows", f"Checksumming {table}")

            progress(0, total, "rows", f"Checksumming {len(schema)} tables of {where}")
            sums: dict[str, TableSum] = {}
            for table, cols in schema.items():
                check_cancel(cancel, "Verification")
                ordered = sorted(cols, key=lambda c: c.name.lower())
                summer = _sum_in_sql if engine.hashes_in_sql(ordered) else _sum_in_python
                tally = summer(conn, engine, table, ordered, partial(tick, table=table), cancel)
                sums[table] = TableSum(table, tally.rows, table_checksum(tally.first, tally.second))
            progress(done, done, "rows", f"Checksummed {len(sums)} tables of {where}")
            conn.rollback()
            return sums
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"Could not read {where}: {driver_message(exc)}") from None
    finally:
        engine_.dispose()
