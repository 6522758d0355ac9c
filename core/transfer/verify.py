"""Prove two databases hold the same data: row counts, order-independent checksums, sequence positions.

Every value is rendered to one engine-neutral text before hashing, so equal data compares equal across
PostgreSQL, MariaDB/MySQL and SQLite:

=============  ==========================================================================
kind           canonical text
=============  ==========================================================================
bool           ``1`` / ``0`` (so MySQL's TINYINT(1) equals a boolean)
int            decimal digits
decimal        the value without trailing zeros (``1.50`` → ``1.5``, ``2.00`` → ``2``)
float          rounded to 6 decimal places, then as a decimal (IEEE noise and engines' float
               formatting disagree beyond that)
text           the text itself (NULL stays distinct from the empty string)
bytes          lowercase hex
date / time    ``YYYY-MM-DD`` / ``[-]HH:MM:SS.ffffff`` (a duration: MySQL TIME and PostgreSQL
               intervals go past 24 hours and below zero; an interval's months count 30 days)
timestamps     ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC for time-zone-aware columns
no twin        PostgreSQL's ``infinity`` / ``-infinity`` and MariaDB's zero dates (year 0) are the
               extremes a copy stores instead: ``9999-12-31 23:59:59.999999`` / ``0001-01-01 ...``;
               a MariaDB partial date (month or day 0) is its first day
json           PostgreSQL's ``jsonb`` text: keys sorted by length then bytes, ``", "`` and ``": "``
               separators, numbers as written without exponent
=============  ==========================================================================

A row is the fields joined by U+001E, each ``+text`` or ``-`` for NULL, in column-name order; its MD5 is
split into two 60-bit integers that are *summed* over the table (so order does not matter and a
duplicated row still counts). The hashing runs inside PostgreSQL and MariaDB, a chunk of rows per
statement along the primary key (progress and cancel between chunks); SQLite has no hash function in
SQL and MariaDB no canonical JSON text, so those tables are streamed and hashed here, in the same form.
Spatial values are compared as their WKT text.

Sequences: every auto-numbered column is found (PostgreSQL: owned, identity, or only named by its
``DEFAULT nextval(...)``), and every sequence object is compared too (:func:`sequence_states`): a target
behind its source fails, since it would hand out a value the source already gave away.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from time import monotonic
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from ..errors import ChangeoverError
from ..jobs import Progress, check_cancel, no_progress
from .typemap import (
    ColumnInfo,
    Engine,
    Kind,
    display_url,
    engine_of,
    open_engine,
    quote,
    quote_table,
    reflect_tables,
    select_expression,
    split_key,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DatabaseError",
    "SequencePosition",
    "SequenceState",
    "TableComparison",
    "TableSum",
    "VerificationFailed",
    "VerifyReport",
    "canonical_value",
    "compare",
    "checksum_database",
    "decimal_text",
    "error_reason",
    "estimate_rows",
    "field_renderer",
    "read_batches",
    "column_sequence",
    "read_sequence_states",
    "sequence_positions",
    "sequence_states",
    "verify",
]

SEP = "\x1e"
CHUNK_ROWS = 50_000
_MASK60 = (1 << 60) - 1
_MICRO = Decimal("0.000001")


class VerificationFailed(ChangeoverError):
    """Source and target differ: the message names every table that does not match."""

    title = "Verification failed"

    def __init__(self, message: str, report: VerifyReport) -> None:
        super().__init__(message)
        self.report = report


class DatabaseError(ChangeoverError):
    """A database could not be read for verification (unreachable, no permission, ...)."""

    title = "Database not readable"


@dataclass(frozen=True)
class TableSum:
    """One table's row count and order-independent checksum (30 hex digits)."""

    table: str
    rows: int
    checksum: str


@dataclass(frozen=True)
class SequencePosition:
    """Where a table's auto-numbered column stands: the next id it will hand out, and the highest id used."""

    table: str
    column: str
    next_value: int | None
    max_value: int | None
    #: PostgreSQL: the sequence object behind the column (owned, identity, or only named by its default)
    sequence: str | None = None

    @property
    def ok(self) -> bool:
        return self.max_value is None or (self.next_value is not None and self.next_value > self.max_value)


@dataclass(frozen=True)
class TableComparison:
    table: str
    source: TableSum | None
    target: TableSum | None
    sequence: SequencePosition | None = None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class VerifyReport:
    source: str
    target: str
    tables: tuple[TableComparison, ...] = field(default_factory=tuple)
    #: problems with sequence objects (missing, or behind the source's position)
    sequence_problems: tuple[str, ...] = ()
    #: sequence objects compared
    sequences: int = 0

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables) and not self.sequence_problems

    @property
    def failed(self) -> tuple[TableComparison, ...]:
        return tuple(t for t in self.tables if not t.ok)

    def summary(self) -> str:
        if self.ok:
            rows = sum(t.source.rows for t in self.tables if t.source)
            extra = f" and {self.sequences} sequence objects" if self.sequences else ""
            return f"{len(self.tables)} tables{extra}, {rows} rows: counts, checksums and sequences match."
        return "; ".join([*(f"{t.table}: {', '.join(t.problems)}" for t in self.failed), *self.sequence_problems])


# --------------------------------------------------------------------------------------------- canonical text


def decimal_text(d: Decimal) -> str:
    """A decimal without exponent or trailing zeros: ``1.50`` → ``1.5``, ``1E+2`` → ``100``."""
    if d.is_nan():
        return "NaN"
    if d.is_infinite():
        return "-Infinity" if d < 0 else "Infinity"
    text = format(d, "f")  # not normalize(): it rounds to the context's 28 digits
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if d.is_zero() else text


def _float_text(value: Any) -> str:
    f = float(value)
    if f.is_integer() and abs(f) < 1e15:
        return str(int(f))
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "Infinity" if f > 0 else "-Infinity"
    # 15 significant digits first: what PostgreSQL keeps when it turns a float into a numeric.
    return decimal_text(Decimal(f"{f:.15g}").quantize(_MICRO, rounding=ROUND_HALF_UP))


def _pg_json_text(obj: Any) -> str:
    """``obj`` (parsed with Decimal floats) as PostgreSQL prints the same ``jsonb``."""
    if isinstance(obj, dict):
        keys = sorted(obj, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_pg_json_text(obj[k])}" for k in keys) + "}"
    if isinstance(obj, list):
        return "[" + ", ".join(_pg_json_text(v) for v in obj) + "]"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if obj is None:
        return "null"
    if isinstance(obj, Decimal):
        return format(obj.copy_abs() if obj.is_zero() else obj, "f")
    if isinstance(obj, int | float):
        return _pg_json_text(Decimal(repr(obj)))
    return json.dumps(obj, ensure_ascii=False)


def _json_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8")
    if isinstance(value, str):
        value = json.loads(value, parse_float=Decimal)
    return _pg_json_text(value)


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = (value.decode() if isinstance(value, bytes) else str(value)).strip()
    if text[:4] == "0000":  # MariaDB's zero date, handed over as text: the far past (see FAR_PAST)
        return datetime(1, 1, 1)
    if text[4:5] == "-" and (text[5:7] == "00" or text[8:10] == "00"):  # a partial date: its first day
        text = text[:5] + (text[5:7].replace("00", "01")) + "-" + (text[8:10].replace("00", "01")) + text[10:]
    return datetime.fromisoformat(text.replace("T", " ").replace("Z", "+00:00"))


def _datetime_text(value: Any) -> str:
    dt = _parse_datetime(value)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return f"{dt.year:04d}-" + dt.strftime("%m-%d %H:%M:%S.%f")  # %Y: "1", not "0001", on glibc


def _date_text(value: Any) -> str:
    dt = _parse_datetime(value)
    return f"{dt.year:04d}-" + dt.strftime("%m-%d")


_DURATION = re.compile(r"^(-)?(\d+):(\d\d):(\d\d)(?:\.(\d+))?$")


def _time_text(value: Any) -> str:
    if isinstance(value, timedelta):
        micros = value // timedelta(microseconds=1)
        sign = "-" if micros < 0 else ""
        seconds, micro = divmod(abs(micros), 1_000_000)
        return f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{micro:06d}"
    if not isinstance(value, time):
        match = _DURATION.match(str(value).strip())
        if match is None:
            value = time.fromisoformat(str(value))
        else:  # a duration's text (SQLite holding a MySQL TIME or a PostgreSQL interval): hours past 24
            sign, hours, minutes, secs, fraction = match.groups()
            return f"{sign or ''}{int(hours):02d}:{minutes}:{secs}.{(fraction or '').ljust(6, '0')[:6]}"
    return str(value.strftime("%H:%M:%S.%f"))


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="surrogateescape")
    return str(value)


def _bytes_text(value: Any) -> str:
    if isinstance(value, str):
        return value.encode("utf-8").hex()
    return bytes(value).hex()


def _bool_text(value: Any) -> str:
    if isinstance(value, bytes):  # MySQL BIT(1)
        value = int.from_bytes(value, "big")
    if isinstance(value, str):
        return "1" if value.strip().lower() in ("1", "t", "true", "y", "yes") else "0"
    return "1" if value else "0"


def _decimal_value(value: Any) -> str:
    if isinstance(value, float):
        return decimal_text(Decimal(repr(value)))
    try:
        return decimal_text(Decimal(str(value)))
    except InvalidOperation:
        return str(value)


_RENDER: dict[Kind, Callable[[Any], str]] = {
    "bool": _bool_text,
    "int": lambda v: str(int(v)),
    "decimal": _decimal_value,
    "float": _float_text,
    "text": _text,
    "bytes": _bytes_text,
    "date": _date_text,
    "time": _time_text,
    "datetime": _datetime_text,
    "datetime_tz": _datetime_text,
    "json": _json_text,
}


def canonical_value(kind: Kind, value: Any) -> str:
    """The canonical text of one value (``-`` for NULL, else ``+`` and the text)."""
    if value is None:
        return "-"
    return "+" + _RENDER[kind](value)


def field_renderer(kind: Kind) -> Callable[[Any], str]:
    """:func:`canonical_value` for one kind, with shortcuts for the values that are already canonical
    (this runs for every value of every row hashed in Python)."""
    render = _RENDER[kind]

    def general(v: Any) -> str:
        return "-" if v is None else "+" + render(v)

    def text(v: Any) -> str:
        if type(v) is str:
            return "+" + v
        return general(v)

    def integer(v: Any) -> str:
        if type(v) is int:
            return "+" + str(v)
        return general(v)

    def stamp(v: Any) -> str:  # SQLite's own text form is already the canonical one
        if type(v) is str and v[10:11] == " " and v[19:20] == ".":
            if len(v) == 26:
                return "+" + v
            if len(v) == 32 and v.endswith("+00:00"):
                return "+" + v[:26]
        return general(v)

    def decimal(v: Any) -> str:  # SQLite hands decimals over as floats: their repr is already minimal
        if type(v) is float and v:
            r = repr(v)
            if "e" not in r and "n" not in r:
                return "+" + (r[:-2] if r.endswith(".0") else r)
        if type(v) is int:
            return "+" + str(v)
        return general(v)

    shortcuts = {"text": text, "int": integer, "datetime": stamp, "datetime_tz": stamp, "decimal": decimal}
    return shortcuts.get(kind, general)


def _digest(text: str) -> tuple[int, int]:
    """The row's MD5 as two 60-bit integers: its hex digits 1-15 and 16-30 (what the SQL side sums)."""
    d = hashlib.md5(text.encode("utf-8", errors="surrogatepass"), usedforsecurity=False).digest()
    return int.from_bytes(d[:8], "big") >> 4, (int.from_bytes(d[7:16], "big") >> 8) & _MASK60


def _checksum(first: int, second: int) -> str:
    return f"{first & _MASK60:015x}{second & _MASK60:015x}"


# ------------------------------------------------------------------------------------------ in-database SQL


#: PostgreSQL's ±infinity and MariaDB's zero dates have no twin on the other engine: the copy stores them as
#: the extremes every engine holds, and the canonical text is those extremes on every side (see the table above)
FAR_FUTURE = ("9999-12-31", "9999-12-31 23:59:59.999999")
FAR_PAST = ("0001-01-01", "0001-01-01 00:00:00.000000")


def _pg_infinite(q: str, expr: str, datetime_: bool) -> str:
    i = 1 if datetime_ else 0
    return (
        f"CASE WHEN {q} = 'infinity' THEN '{FAR_FUTURE[i]}' WHEN {q} = '-infinity' THEN '{FAR_PAST[i]}' ELSE {expr} END"
    )


def _pg_duration(q: str) -> str:
    """A time or interval as ``[-]HH:MM:SS.ffffff`` with hours past 24 (MySQL's TIME_FORMAT does the same)."""
    e = f"abs(extract(epoch from {q}::interval))"
    hours = f"floor({e} / 3600)"
    return (
        f"(CASE WHEN extract(epoch from {q}::interval) < 0 THEN '-' ELSE '' END "
        f"|| CASE WHEN {hours} < 10 THEN '0' ELSE '' END || {hours}::bigint::text || ':' "
        f"|| lpad((floor({e} / 60)::bigint % 60)::text, 2, '0') || ':' || to_char(mod({e}, 60), 'FM00.000000'))"
    )


def _pg_field(col: ColumnInfo) -> str:
    q = quote("postgresql", col.name)
    expr = {
        "bool": f"CASE WHEN {q} THEN '1' WHEN NOT {q} THEN '0' END",  # NULL stays NULL
        "int": f"{q}::text",
        "decimal": f"trim_scale({q}::numeric)::text",
        "float": f"trim_scale(round({q}::numeric, 6))::text",
        "text": f"{q}::text",
        "bytes": f"encode({q}, 'hex')",
        "date": _pg_infinite(q, f"to_char({q}, 'YYYY-MM-DD')", False),
        "time": _pg_duration(q),
        "datetime": _pg_infinite(q, f"to_char({q}, 'YYYY-MM-DD HH24:MI:SS.US')", True),
        "datetime_tz": _pg_infinite(q, f"to_char({q} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')", True),
        "json": f"{q}::jsonb::text",
    }[col.kind]
    return f"coalesce('+' || {expr}, '-')"


def _mysql_field(col: ColumnInfo) -> str:
    q = quote("mysql", col.name)

    def trimmed(e: str) -> str:
        return f"TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {e}))"

    # A zero date (or year 0) is MariaDB's "no date": the far past; a partial date (month or day 0) its first
    # day. The common case stays one DATE_FORMAT.
    partial = (
        f"CONCAT(LPAD(YEAR({q}), 4, '0'), '-', LPAD(GREATEST(MONTH({q}), 1), 2, '0'), '-', "
        f"LPAD(GREATEST(DAYOFMONTH({q}), 1), 2, '0'))"
    )
    odd = f"MONTH({q}) = 0 OR DAYOFMONTH({q}) = 0"
    day = f"IF(YEAR({q}) = 0, '{FAR_PAST[0]}', IF({odd}, {partial}, DATE_FORMAT({q}, '%Y-%m-%d')))"
    moment = (
        f"IF(YEAR({q}) = 0, '{FAR_PAST[1]}', IF({odd}, CONCAT({partial}, DATE_FORMAT({q}, ' %H:%i:%s.%f')), "
        f"DATE_FORMAT({q}, '%Y-%m-%d %H:%i:%s.%f')))"
    )
    decimal = f"CAST({q} AS CHAR)"
    if col.scale:
        decimal = f"IF({q} = 0, '0', {trimmed(decimal)})"
    expr = {
        "bool": f"CASE WHEN {q} THEN '1' WHEN NOT {q} THEN '0' END",  # NULL stays NULL
        "int": f"CAST({q} AS CHAR)",
        "decimal": decimal,
        "float": f"IF(ROUND({q}, 6) = 0, '0', {trimmed(f'CAST(CAST({q} AS DECIMAL(65,6)) AS CHAR)')})",
        "text": f"ST_AsText({q})" if col.spatial else f"CONVERT({q} USING utf8mb4)",
        "bytes": f"LOWER(HEX({q}))",
        "date": day,
        "time": f"TIME_FORMAT({q}, '%H:%i:%s.%f')",
        "datetime": moment,
        "datetime_tz": moment,
    }[col.kind]
    return f"COALESCE(CONCAT('+', {expr}), '-')"  # text is converted above; the rest is ASCII


def _digest_sql(engine: Engine, table: str, cols: list[ColumnInfo], where: str, key: str | None = None) -> str:
    """count, and the two sums, of the rows of ``table`` matching ``where``; with ``key`` (a quoted
    single-column primary key) only the next :data:`CHUNK_ROWS` rows along it, and their highest key."""
    t = quote_table(engine, table)
    page = f" ORDER BY {key} LIMIT {CHUNK_ROWS}" if key else ""
    top = ", max(k)" if key else ""
    k = f"{key} AS k, " if key else ""
    if engine == "postgresql":
        row = " || chr(30) || ".join(_pg_field(c) for c in cols) if cols else "''"
        inner = f"SELECT {k}md5({row}) AS h FROM {t}{where}{page}"
        part = "('x' || lpad(substr(h, {}, 15), 16, '0'))::bit(64)::bigint"
        return f"SELECT count(*), sum({part.format(1)}), sum({part.format(16)}){top} FROM ({inner}) s"
    row = "CONCAT_WS(CHAR(30 USING utf8mb4), " + ", ".join(_mysql_field(c) for c in cols) + ")" if cols else "''"
    inner = f"SELECT {k}MD5({row}) AS h FROM {t}{where}{page}"
    part = "CAST(CONV(SUBSTRING(h, {}, 15), 16, 10) AS UNSIGNED)"
    return f"SELECT COUNT(*), SUM({part.format(1)}), SUM({part.format(16)}){top} FROM ({inner}) s"


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
    schema, bare = split_key(table) if engine_of(conn) == "postgresql" else (None, table)
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
        tally.add(*conn.execute(sa.text(_digest_sql(engine, table, cols, ""))).one())
        tick(tally.rows)
        return tally
    if len(pk) == 1:  # one statement per chunk: the page along the key also gives where it ends
        key, last_key = quote(engine, pk[0]), None
        while True:
            check_cancel(cancel, "Verification")
            where = f" WHERE {key} > :last" if last_key is not None else ""
            rows, first, second, top = conn.execute(
                sa.text(_digest_sql(engine, table, cols, where, key)), {"last": last_key}
            ).one()
            tally.add(rows, first, second)
            tick(int(rows or 0))
            if not rows or int(rows) < CHUNK_ROWS:
                return tally
            last_key = top
    keys = ", ".join(quote(engine, c) for c in pk)
    tuple_ = f"({keys})" if len(pk) > 1 else keys
    params = [f":k{i}" for i in range(len(pk))]
    marker = f"({', '.join(params)})" if len(pk) > 1 else params[0]
    t = quote_table(engine, table)
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
        tally.add(*conn.execute(sa.text(_digest_sql(engine, table, cols, where)), bind).one())
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
        [select_expression(engine, c) for c in cols],
        pk=_pk_columns(conn, table),
        batch_rows=2000,
        check=partial(check_cancel, cancel, "Verification"),
    )
    join, digest = SEP.join, _digest
    for batch in batches:
        first = second = 0
        for row in batch:
            a, b = digest(join([f(v) for f, v in zip(renderers, row, strict=True)]))
            first += a
            second += b
        tally.add(len(batch), first, second)
        tick(len(batch))
    return tally


#: a batch read from a source holds about this much data, whatever the rows' width (blobs!)
BATCH_BYTES = 32 * 1024 * 1024


class _BatchSize:
    """Rows per batch: up to ``most``, fewer when rows are wide, so a batch stays near :data:`BATCH_BYTES`."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.rows = min(most, 1000)  # start small until the width is known

    def observe(self, rows: Sequence[Sequence[Any]]) -> None:
        sample = rows[:200]
        size = sum(len(v) if isinstance(v, str | bytes | bytearray | memoryview) else 8 for r in sample for v in r)
        width = max(size / max(len(sample), 1), 1.0)
        self.rows = max(1, min(self.most, int(BATCH_BYTES / width)))


def read_batches(
    conn: Connection,
    table: str,
    columns: list[str],
    *,
    pk: list[str],
    batch_rows: int,
    check: Callable[[], None],
) -> Iterator[list[Sequence[Any]]]:
    """A table's rows in batches of at most ``batch_rows`` and about :data:`BATCH_BYTES`, with flat memory.

    ``columns`` are select expressions. PostgreSQL and SQLite stream from one (server-side) cursor. MySQL
    pages along the primary key instead: a half-read MySQL stream blocks its connection until every row was
    read, so a cancel would have to read the whole table first. (A MySQL table without a primary key is
    streamed.) ``check`` runs before every batch: the cancel points. The generator can be closed at any time.
    """
    engine = engine_of(conn)
    t = quote_table(engine, table)
    size = _BatchSize(batch_rows)
    if engine == "mysql" and pk:
        keys = [quote(engine, c) for c in pk]
        key_list = ", ".join(keys)
        tuple_ = f"({key_list})" if len(pk) > 1 else key_list
        marks = [f":k{i}" for i in range(len(pk))]
        marker = f"({', '.join(marks)})" if len(pk) > 1 else marks[0]
        select = f"SELECT {', '.join(columns)}, {key_list} FROM {t}"
        last: Sequence[Any] | None = None
        width = len(columns)
        while True:
            check()
            where = f" WHERE {tuple_} > {marker}" if last is not None else ""
            params = {f"k{i}": v for i, v in enumerate(last or ())}
            rows = conn.execute(sa.text(f"{select}{where} ORDER BY {key_list} LIMIT {size.rows}"), params).all()
            if not rows:
                return
            last = rows[-1][width:]
            batch: list[Sequence[Any]] = [r[:width] for r in rows]
            size.observe(batch)
            yield batch
    # The driver's own cursor (plain tuples, no Row objects: this is the hot loop). PostgreSQL: a named,
    # server-side cursor inside the connection's transaction; SQLite reads lazily anyway.
    assert conn.connection.driver_connection is not None
    raw = conn.connection.driver_connection
    cursor = raw.cursor(name="changeover_read") if engine == "postgresql" else raw.cursor()
    try:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {t}")
        while True:
            check()
            rows = cursor.fetchmany(size.rows)
            if not rows:
                return
            size.observe(rows)
            yield rows
    finally:
        cursor.close()


def estimate_rows(conn: Connection, tables: list[str]) -> dict[str, int]:
    """Row counts from the catalog (PostgreSQL, MySQL), exact ``count(*)`` for SQLite."""
    engine = engine_of(conn)
    if engine == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT CASE WHEN n.nspname = current_schema() THEN c.relname ELSE n.nspname || '.' || c.relname END, "
            "c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).all()
        found = {str(r[0]): int(r[1]) for r in rows}
        for table in tables:
            if found.get(table, -1) < 0:  # never analysed (reltuples = -1): count it
                found[table] = int(
                    conn.exec_driver_sql(f"SELECT count(*) FROM {quote_table(engine, table)}").scalar_one()
                )
    elif engine == "mysql":
        rows = conn.exec_driver_sql(
            "SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        ).all()
        found = {str(r[0]): int(r[1] or 0) for r in rows}
    else:
        found = {
            t: int(conn.exec_driver_sql(f"SELECT count(*) FROM {quote_table(engine, t)}").scalar_one()) for t in tables
        }
    return {t: found.get(t, 0) for t in tables}


def checksum_database(
    url: URL | str,
    *,
    tables: list[str] | None = None,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> dict[str, TableSum]:
    """Count and checksum every base table of ``url`` (or those named), keyed by table name.

    Reads one consistent snapshot where the engine gives one (PostgreSQL ``REPEATABLE READ``, InnoDB's
    consistent read); never writes. Progress is in rows against the catalog's estimate.
    """
    url = sa.engine.make_url(url)
    where = display_url(url)
    engine_ = open_engine(url)
    try:
        with engine_.connect() as conn:
            engine = engine_of(conn)
            if engine == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            elif engine == "mysql":
                conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            schema = reflect_tables(conn, tables, every_schema=True)
            if tables is not None and (missing := sorted(set(tables) - set(schema))):
                raise DatabaseError(f"{where} has no table {', '.join(missing)}.")
            estimates = estimate_rows(conn, list(schema))
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
                in_python = engine == "sqlite" or (engine == "mysql" and any(c.kind == "json" for c in ordered))
                summer = _sum_in_python if in_python else _sum_in_sql
                tally = summer(conn, engine, table, ordered, partial(tick, table=table), cancel)
                sums[table] = TableSum(table, tally.rows, _checksum(tally.first, tally.second))
            progress(done, done, "rows", f"Checksummed {len(sums)} tables of {where}")
            conn.rollback()
            return sums
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"Could not read {where}: {error_reason(exc)}") from None
    finally:
        engine_.dispose()


def error_reason(exc: sa.exc.SQLAlchemyError) -> str:
    """The driver's first line about what went wrong (never the URL, so never a password)."""
    orig = getattr(exc, "orig", None)
    return (str(orig) if orig is not None else str(exc)).splitlines()[0][:300]


# ----------------------------------------------------------------------------------------------- sequences


def sequence_positions(url: URL | str, *, tables: list[str] | None = None) -> dict[str, SequencePosition]:
    """For every table with an auto-numbered column: the next value it hands out and the current maximum."""
    url = sa.engine.make_url(url)
    engine_ = open_engine(url)
    try:
        with engine_.connect() as conn:
            return _sequence_positions(conn, reflect_tables(conn, tables, every_schema=True))
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"Could not read {display_url(url)}: {error_reason(exc)}") from None
    finally:
        engine_.dispose()


def _sequence_positions(conn: Connection, schema: dict[str, list[ColumnInfo]]) -> dict[str, SequencePosition]:
    engine = engine_of(conn)
    found: dict[str, SequencePosition] = {}
    for table, cols in schema.items():
        auto = next((c for c in cols if c.autoincrement), None)
        if auto is None:
            continue
        t, c = quote_table(engine, table), quote(engine, auto.name)
        top = conn.exec_driver_sql(f"SELECT max({c}) FROM {t}").scalar()
        max_value = None if top is None else int(top)
        next_value: int | None
        if engine == "postgresql":
            seq = column_sequence(conn, table, auto.name)
            next_value = None if seq is None else _pg_next_value(conn, seq[0])
            found[table] = SequencePosition(table, auto.name, next_value, max_value, seq and seq[1])
            continue
        elif engine == "mysql":
            value = conn.execute(
                sa.text(
                    "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
                ),
                {"t": table},
            ).scalar()
            next_value = None if value is None else int(value)
        else:
            seq_value = None
            if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").first():
                seq_value = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).scalar()
            next_value = max(int(seq_value or 0), max_value or 0) + 1
        found[table] = SequencePosition(table, auto.name, next_value, max_value)
    return found


#: the sequence a PostgreSQL column draws from: owned (serial), identity, or named by its DEFAULT nextval(...)
#: without being owned (older schemas, many sample databases): the default's dependency on the sequence
_PG_DEFAULT_SEQUENCE = """
SELECT CAST(q.seq AS regclass)::text, s.relname FROM (SELECT coalesce(
    CAST(CAST(pg_get_serial_sequence(CAST(:t AS regclass)::text, :c) AS regclass) AS oid),
    (SELECT d.refobjid
     FROM pg_attrdef ad
     JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
     JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
                     AND d.refclassid = 'pg_class'::regclass
     JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
     WHERE ad.adrelid = CAST(:t AS regclass) AND a.attname = :c
     LIMIT 1)) AS seq) q JOIN pg_class s ON s.oid = q.seq
"""


def column_sequence(conn: Connection, table: str, column: str) -> tuple[str, str] | None:
    """The sequence a PostgreSQL column takes its values from: (its name as SQL, quoted and qualified when
    needed; its bare name), or None."""
    row = conn.execute(sa.text(_PG_DEFAULT_SEQUENCE), {"t": quote_table("postgresql", table), "c": column}).first()
    return None if row is None else (str(row[0]), str(row[1]))


def _pg_next_value(conn: Connection, seq: str) -> int:
    last, called = conn.exec_driver_sql(f"SELECT last_value, is_called FROM {seq}").one()
    step = conn.execute(
        sa.text("SELECT seqincrement FROM pg_sequence WHERE seqrelid = CAST(:seq AS regclass)"), {"seq": seq}
    ).scalar_one()
    return int(last) + int(step) if called else int(last)


@dataclass(frozen=True)
class SequenceState:
    """One sequence object of a database (PostgreSQL or MariaDB ``CREATE SEQUENCE``), owned or not.

    ``next_value`` is the value its next ``nextval`` hands out (MariaDB: the first value not cached yet,
    which is what a restarted server, or a loaded copy, hands out next), ``increment`` its step.
    """

    name: str
    next_value: int
    increment: int


def sequence_states(url: URL | str) -> dict[str, SequenceState]:
    """Every sequence of the database at ``url`` with its position, keyed by name (SQLite: none)."""
    url = sa.engine.make_url(url)
    engine_ = open_engine(url)
    try:
        with engine_.connect() as conn:
            return read_sequence_states(conn)
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"Could not read {display_url(url)}: {error_reason(exc)}") from None
    finally:
        engine_.dispose()


def read_sequence_states(conn: Connection) -> dict[str, SequenceState]:
    engine = engine_of(conn)
    found: dict[str, SequenceState] = {}
    if engine == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT c.relname, s.seqincrement FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_sequence s ON s.seqrelid = c.oid WHERE c.relkind = 'S' AND n.nspname = current_schema() "
            "ORDER BY c.relname"
        ).all()
        for name, step in rows:
            found[str(name)] = SequenceState(str(name), _pg_next_value(conn, quote("postgresql", str(name))), int(step))
    elif engine == "mysql":
        names = conn.exec_driver_sql(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_TYPE = 'SEQUENCE' ORDER BY TABLE_NAME"
        ).scalars()
        for name in list(names):
            value, step = conn.exec_driver_sql(
                f"SELECT next_not_cached_value, increment FROM {quote('mysql', str(name))}"
            ).one()
            found[str(name)] = SequenceState(str(name), int(value), int(step))
    return found


# --------------------------------------------------------------------------------------------------- verify


def verify(
    source_url: URL | str,
    target_url: URL | str,
    *,
    tables: list[str] | None = None,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> VerifyReport:
    """Compare counts, checksums and sequence positions of ``source_url`` and ``target_url``.

    Both sides are checksummed at once (one thread each). Returns the report when everything matches;
    raises :class:`VerificationFailed` naming every table that differs, is missing on one side, or whose
    sequence would hand out an id already used, and every sequence object (all of them, owned or not,
    unless ``tables`` narrows the check) missing from the target or behind the source.
    """
    source_url, target_url = sa.engine.make_url(source_url), sa.engine.make_url(target_url)
    lock = threading.Lock()
    state = {"source": (0, 0), "target": (0, 0)}

    def side(name: str) -> Progress:
        def report(done: int, total: int | None, unit: str, message: str) -> None:
            with lock:
                state[name] = (done, total or 0)
                all_done = sum(d for d, _ in state.values())
                all_total = sum(t for _, t in state.values())
                progress(all_done, max(all_total, all_done), unit, message)

        return report

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="verify") as pool:
        futures = {
            name: pool.submit(checksum_database, url, tables=tables, progress=side(name), cancel=cancel)
            for name, url in (("source", source_url), ("target", target_url))
        }
        sums = {name: future.result() for name, future in futures.items()}
    check_cancel(cancel, "Verification")
    source_seq = sequence_positions(source_url, tables=tables)
    target_seq = sequence_positions(target_url, tables=tables)
    everything = tables is None and engine_of(target_url) != "sqlite"
    report = compare(
        display_url(source_url),
        display_url(target_url),
        sums["source"],
        sums["target"],
        source_seq,
        target_seq,
        source_sequences=sequence_states(source_url) if everything else None,
        target_sequences=sequence_states(target_url) if everything else None,
    )
    return report


def compare(
    source: str,
    target: str,
    source_sums: dict[str, TableSum],
    target_sums: dict[str, TableSum],
    source_seq: dict[str, SequencePosition],
    target_seq: dict[str, SequencePosition],
    *,
    source_sequences: dict[str, SequenceState] | None = None,
    target_sequences: dict[str, SequenceState] | None = None,
) -> VerifyReport:
    """Compare two sides' checksums and sequence positions; raise :class:`VerificationFailed`.

    ``source_sums`` may come from a backup's manifest, taken while the source was quiet, so a verification
    after a load needs one pass over the target only. A target's auto-numbered column or sequence object
    must not be behind the source's: a value the source already handed out (an invoice number in a mail)
    would be handed out again. With ``source_sequences`` (:func:`sequence_states`) every sequence object is
    checked too, owned by a column or not; one that backs an auto-numbered column and has no twin on the
    target (a MariaDB AUTO_INCREMENT after a cross-engine copy) is checked through that column.
    """
    source_sums, source_seq = _renamed(source_sums, target_sums), _renamed(source_seq, target_sums)
    comparisons = []
    for table in sorted(set(source_sums) | set(target_sums)):
        s, t = source_sums.get(table), target_sums.get(table)
        problems = []
        if s is None:
            problems.append("only in the target")
        elif t is None:
            problems.append("missing from the target")
        elif s.rows != t.rows:
            problems.append(f"{s.rows} rows in the source, {t.rows} in the target")
        elif s.checksum != t.checksum:
            problems.append("same row count but different data")
        seq = target_seq.get(table)
        if seq is not None and not seq.ok:
            problems.append(f"sequence on {seq.column} would hand out {seq.next_value}, but {seq.max_value} is used")
        if seq is None and table in source_seq and t is not None:
            problems.append(f"{source_seq[table].column} is auto-numbered in the source but not in the target")
        before = source_seq.get(table)
        if (
            seq is not None
            and before is not None
            and before.next_value is not None
            and (seq.next_value is None or seq.next_value < before.next_value)
        ):
            problems.append(
                f"sequence on {seq.column} would hand out {seq.next_value}, but the source had reached "
                f"{before.next_value}"
            )
        comparisons.append(TableComparison(table, s, t, seq, tuple(problems)))
    sequence_problems = _compare_sequences(source_sequences, target_sequences, source_seq, target_seq)
    report = VerifyReport(source, target, tuple(comparisons), tuple(sequence_problems), len(source_sequences or {}))
    if not report.ok:
        names = ", ".join(t.table for t in report.failed)
        raise VerificationFailed(
            f"{report.target} does not match {report.source} in {len(report.failed)} table(s): {names}. "
            f"{report.summary()}",
            report,
        )
    logger.info("verified %s against %s: %s", report.target, report.source, report.summary())
    return report


_T = Any


def _renamed(source: dict[str, _T], target: dict[str, TableSum]) -> dict[str, _T]:
    """``source`` keyed by the target's names where the target truncated a long one (PostgreSQL keeps 63
    bytes of a MariaDB name of 64): a table missing under its own name, found under its truncation."""
    renamed: dict[str, _T] = {}
    for name, value in source.items():
        short = name.encode("utf-8")[:63].decode("utf-8", errors="ignore")
        moved = name not in target and short != name and short in target and short not in source
        renamed[short if moved else name] = value
    return renamed


def _compare_sequences(
    source: dict[str, SequenceState] | None,
    target: dict[str, SequenceState] | None,
    source_seq: dict[str, SequencePosition],
    target_seq: dict[str, SequencePosition],
) -> list[str]:
    if source is None:
        return []
    target = target or {}
    backing = {p.sequence: p.table for p in source_seq.values() if p.sequence}
    problems = []
    for name, state in sorted(source.items()):
        twin = target.get(name)
        if twin is None:
            table = backing.get(name)
            if table is not None and table in target_seq:
                continue  # carried as the table's own auto-numbering: checked with the table
            problems.append(f"sequence {name} is missing from the target")
        elif twin.next_value < state.next_value if state.increment > 0 else twin.next_value > state.next_value:
            problems.append(
                f"sequence {name} would hand out {twin.next_value}, but the source had reached {state.next_value}"
            )
    return problems
