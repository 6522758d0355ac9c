"""The fast whole-row hashes, for two databases of the same engine and version.

The canonical checksums (:mod:`.checksums`) render every value to an engine-neutral text so that a MariaDB
table can be compared with its PostgreSQL copy; that rendering costs more than the copy itself. Between two
servers of the same engine and version the server's own text of a row is already the same on both sides,
so one pass of the engine's fastest hash over it proves the same thing:

- PostgreSQL 14 and newer: ``hash_record_extended(t, 0)`` of the whole row for a table whose every column is
  of an *exact* type (:func:`exact_tables`: one whose equal values are the same stored value, so hashing by
  the type's equality misses no change: integers, booleans, text and varchar in a deterministic collation,
  bytea, dates and timestamps, uuid, numeric with a declared scale, enums, arrays and domains of them),
  which skips rendering the row as text (half the time); where every column is of a type of
  :data:`_COLUMN_HASH`, an enum or an array of those, each column by its type's hash function instead,
  XORed (:data:`COLUMNS`, :func:`column_hashes`: half the time again); any other table, and older servers:
  ``hashtextextended(t::text, 0)`` of the row's text form (every column in table order, NULLs as empty
  fields). Summed, with the session's output settings pinned;
- MariaDB/MySQL: ``CHECKSUM TABLE t EXTENDED`` (:data:`CHECKSUM_TABLE`), the server's own sum of a CRC32 of
  every row's stored record, computed in the storage layer without rendering a value (three times faster
  than any SQL expression over the columns), beside the row count: on MariaDB the rows that scan read (the
  session's ``Rows_read``, so no second pass), elsewhere and where it reads none a ``COUNT(*)``. A changed
  value changes its row's CRC32, so the sum, but for one chance in four billion. Older backups' forms stay readable:
  ``CRC32`` and ``CRC32C`` (two polynomials: 64 bits) of ``CONCAT_WS`` over every column, each ``+value``
  or ``-`` for NULL, summed (``MD5`` halves where the server has no ``CRC32C``).

Sums, not a hash of an ordered stream: the order of the rows does not matter and a duplicated row still
counts. A single changed value in any column of any row changes the row's text, so its hash, so the sum.

A *form* names the hash and the engine and version it is valid between (``postgresql-15:hashrecord``):
checksums of two different forms are never compared, the caller falls back to the canonical form instead
(:func:`form_of`). Tables are hashed by up to ``workers`` connections at once; on PostgreSQL they share one
exported snapshot, so the sums are of one moment as with the canonical ones.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from time import monotonic

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from ... import engines
from ...engines import MYSQL, POSTGRESQL, DatabaseInfo, Engine, display_url, driver_message
from ...errors import Cancelled
from ...jobs import Progress, check_cancel, no_progress
from ..reading import ColumnInfo, reflect_tables
from .checksums import DatabaseError, TableSum, checksum_database

logger = logging.getLogger(__name__)

CANONICAL = "canonical"

#: PostgreSQL session settings that decide a row's text: pinned so two sessions print it alike
_PG_SETTINGS = (
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL IntervalStyle = 'postgres'",
    "SET LOCAL TimeZone = 'UTC'",
    "SET LOCAL extra_float_digits = 1",
    "SET LOCAL bytea_output = 'hex'",
)


def form_of(url: URL | str) -> str:
    """The fast form the server at ``url`` hashes in (:data:`CANONICAL` where it has none)."""
    return _server_forms(url)[0]


def hashes_in(url: URL | str, form: str) -> bool:
    """Whether the server at ``url`` can hash in ``form`` (its fastest, or an older form it still reads)."""
    return form == CANONICAL or form in _server_forms(url)


def _server_forms(url: URL | str) -> tuple[str, ...]:
    url = sa.engine.make_url(url)
    engine_ = engines.open_engine(url)
    try:
        with engine_.connect() as conn:
            return _forms(conn)
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"Could not read {display_url(url)}: {driver_message(exc)}") from None
    finally:
        engine_.dispose()


def _form(conn: Connection) -> str:
    return _forms(conn)[0]


def _forms(conn: Connection) -> tuple[str, ...]:
    """Every fast form the server hashes in, the fastest first (an older backup's form stays readable)."""
    engine = engines.of(conn)
    version = conn.dialect.server_version_info or ()
    if engine is POSTGRESQL and version:
        text_form = f"postgresql-{version[0]}:hashtextextended"
        if int(version[0]) < 14:
            return (text_form,)
        return (f"postgresql-{version[0]}:{COLUMNS}", f"postgresql-{version[0]}:{RECORD}", text_form)
    if engine is MYSQL and len(version) >= 2:
        flavor = "mariadb" if conn.dialect.is_mariadb else "mysql"  # type: ignore[attr-defined]
        hashes = "crc32+crc32c" if flavor == "mariadb" and tuple(version[:2]) >= (10, 8) else "md5"
        prefix = f"{flavor}-{version[0]}.{version[1]}"
        return (f"{prefix}:{CHECKSUM_TABLE}", f"{prefix}:{hashes}")
    return (CANONICAL,)


#: PostgreSQL's whole-row hash by each column type's own hash function (``hash_record_extended``)
RECORD = "hashrecord"
#: PostgreSQL: each column hashed by its type's own function, XORed (:func:`column_hashes`), else as RECORD
COLUMNS = "hashcolumns"
#: MariaDB/MySQL's own checksum of a table's stored rows (``CHECKSUM TABLE ... EXTENDED``)
CHECKSUM_TABLE = "checksumtable"
#: types whose equal values are one stored value: hashing by their equality misses no change
_EXACT_TYPES = frozenset(
    {"int2", "int4", "int8", "bool", "text", "varchar", "bytea", "date", "timestamp", "timestamptz", "time", "uuid"}
)


def exact_tables(conn: Connection) -> set[str]:
    """The base tables (named as :func:`~..reading.reflect_tables` names them) whose every column is of an exact
    type, resolved through domains and arrays: a numeric without a declared scale (``1.0`` equals ``1.00``),
    floats (``-0`` equals ``0``), intervals, json/jsonb, citext, a nondeterministic collation, a composite,
    range or geometric type, any other type: the table is hashed by its text instead."""
    types = {
        int(oid): (str(name), str(kind), int(base), int(typmod), int(element), str(category))
        for oid, name, kind, base, typmod, element, category in conn.exec_driver_sql(
            "SELECT t.oid, CASE WHEN n.nspname = 'pg_catalog' THEN t.typname ELSE '' END, t.typtype, t.typbasetype, "
            "t.typtypmod, t.typelem, t.typcategory FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
        )
    }
    deterministic = {
        int(oid) for (oid,) in conn.exec_driver_sql("SELECT oid FROM pg_collation WHERE collisdeterministic")
    }

    def exact(oid: int, typmod: int, collation: int) -> bool:
        for _ in range(10):  # a domain of a domain of an array...: a few levels at most
            name, kind, base, domain_typmod, element, category = types.get(oid, ("", "", 0, -1, 0, ""))
            if kind == "d":
                oid, typmod = base, typmod if typmod >= 0 else domain_typmod
            elif category == "A" and element:
                oid = element
            elif kind == "e":
                return True
            elif name == "numeric":
                return typmod >= 0
            else:
                return name in _EXACT_TYPES and (collation == 0 or collation in deterministic)
        return False

    found: dict[str, bool] = {}
    for schema, table, oid, typmod, collation in conn.exec_driver_sql(
        "SELECT n.nspname, c.relname, a.atttypid, a.atttypmod, a.attcollation FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'"
    ):
        name = str(table) if schema == "public" else f"{schema}.{table}"
        found[name] = found.get(name, True) and exact(int(oid), int(typmod), int(collation))
    return {name for name, ok in found.items() if ok}


#: the catalog types hashed column by column (:data:`COLUMNS`), by the function of each one's default hash
#: operator class; a cast where the function takes another type (timestamptz in UTC, which the session pins,
#: is one timestamp; a boolean one integer)
_COLUMN_HASH = {
    "int2": "hashint2extended({c}, {seed})",
    "int4": "hashint4extended({c}, {seed})",
    "int8": "hashint8extended({c}, {seed})",
    "bool": "hashint4extended(CAST({c} AS int4), {seed})",
    "text": "hashtextextended({c}, {seed})",
    "varchar": "hashtextextended({c}, {seed})",
    "numeric": "hash_numeric_extended({c}, {seed})",
    "uuid": "uuid_hash_extended({c}, {seed})",
    "time": "time_hash_extended({c}, {seed})",
    "timestamp": "timestamp_hash_extended({c}, {seed})",
    "timestamptz": "timestamp_hash_extended(CAST({c} AS timestamp), {seed})",
}
_ENUM_HASH = "hashenumextended({c}, {seed})"
_ARRAY_HASH = "hash_array_extended({c}, {seed})"


def column_hashes(conn: Connection, exact: set[str]) -> dict[str, str]:
    """For each table of ``exact`` (:func:`exact_tables`) whose every column is of a type in
    :data:`_COLUMN_HASH`, an enum, or an array of those (no domain), one row's hash: each column hashed by its
    type's function, seeded by its place among the table's columns (a value moved to another column changes
    it; a NULL hashes as minus that place), XORed. Twice as fast as ``hash_record_extended`` of the whole row,
    which copies the row into a record to take it apart again. Other exact tables keep the record form."""
    kinds = {
        int(oid): (str(name), str(kind), int(element), str(category))
        for oid, name, kind, element, category in conn.exec_driver_sql(
            "SELECT t.oid, CASE WHEN n.nspname = 'pg_catalog' THEN t.typname ELSE '' END, t.typtype, t.typelem, "
            "t.typcategory FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
        )
    }

    def template(oid: int) -> str | None:
        name, kind, element, category = kinds.get(oid, ("", "", 0, ""))
        if kind == "e":
            return _ENUM_HASH
        if kind == "b" and category == "A" and element:
            return _ARRAY_HASH if template(element) else None
        return _COLUMN_HASH.get(name) if kind == "b" else None

    columns: dict[str, list[tuple[str, str | None]]] = {}
    for schema, table, column, oid in conn.exec_driver_sql(
        "SELECT n.nspname, c.relname, a.attname, a.atttypid FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast' "
        "ORDER BY n.nspname, c.relname, a.attnum"
    ):
        name = str(table) if schema == "public" else f"{schema}.{table}"
        if name in exact:
            columns.setdefault(name, []).append((POSTGRESQL.quote(str(column)), template(int(oid))))
    found: dict[str, str] = {}
    for name, cols in columns.items():
        if all(how is not None for _c, how in cols):
            # the place among the live columns, not attnum: a restored table has no dropped columns
            found[name] = " # ".join(
                f"COALESCE({how.format(c=c, seed=place)}, -{place})"
                for place, (c, how) in enumerate(cols, start=1)
                if how is not None
            )
    return found


def shared_form(source: URL | str, target: URL | str) -> str:
    """The fastest form both sides can be compared in: a fast one for the same engine and version."""
    first = form_of(source)
    return first if first != CANONICAL and first == form_of(target) else CANONICAL


def row_hash_sql(
    engine: Engine,
    form: str,
    table: str,
    cols: list[ColumnInfo],
    limit: int | None = None,
    *,
    exact: bool = False,
    by_columns: str | None = None,
) -> str:
    """One statement: the table's row count and its checksum's parts, in ``form`` (of its first ``limit`` rows
    only, in whatever order the server reads them, when ``limit`` is given: a sample, see :func:`hash_rate`).
    ``exact``: the table is one of :func:`exact_tables`, hashed by its values in the record form (the third
    part, 1, says so: a table hashed one way on one side and the other way on the other never matches).
    ``by_columns``: the table's row hash from :func:`column_hashes`, in the columns form (third part 2)."""
    assert not form.endswith(f":{CHECKSUM_TABLE}"), "CHECKSUM TABLE is a statement of its own (_hash_table)"
    t = engine.quote_table(table)
    if limit is not None:
        t = f"(SELECT * FROM {t} LIMIT {int(limit)})"
    if form.endswith(f":{COLUMNS}") and by_columns is not None:
        return f"SELECT count(*), coalesce(sum({by_columns}), 0), 2 FROM {t} AS _co_rows_"
    if form.endswith((f":{RECORD}", f":{COLUMNS}")) and exact:
        return f"SELECT count(*), coalesce(sum(hash_record_extended(_co_row_, 0)), 0), 1 FROM {t} AS _co_row_"
    if form.endswith((":hashtextextended", f":{RECORD}", f":{COLUMNS}")):
        # an alias no column is likely to bear: a bare name is a column's before it is the whole row
        return f"SELECT count(*), coalesce(sum(hashtextextended(_co_row_::text, 0)), 0), 0 FROM {t} AS _co_row_"
    fields = ", ".join(f"COALESCE(CONCAT('+', {engine.quote(c.name)}), '-')" for c in cols) or "''"
    row = f"CONCAT_WS(CHAR(30 USING utf8mb4), {fields})"
    if form.endswith(":crc32+crc32c"):
        sums = "COALESCE(SUM(CRC32(r)), 0), COALESCE(SUM(CRC32C(r)), 0)"
        return f"SELECT COUNT(*), {sums} FROM (SELECT {row} AS r FROM {t} AS _co_rows_) s"
    part = "CAST(CONV(SUBSTRING(h, {}, 15), 16, 10) AS UNSIGNED)"
    return (
        f"SELECT COUNT(*), COALESCE(SUM({part.format(1)}), 0), COALESCE(SUM({part.format(16)}), 0) "
        f"FROM (SELECT MD5({row}) AS h FROM {t} AS _co_rows_) s"
    )


def checksum_native(
    url: URL | str,
    form: str,
    *,
    workers: int = 1,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
    snapshot: str | None = None,
    pace: Callable[[str], None] | None = None,
) -> dict[str, TableSum]:
    """Count and hash every base table of ``url`` in ``form`` (which must be the server's own, see
    :func:`form_of`), keyed by table name like :func:`~.checksums.checksum_database`. Never writes.

    ``snapshot`` (PostgreSQL): an exported snapshot to read the database as of (the online route's base copy
    is checked against the source at its replication slot's snapshot). ``pace(table)``: called before each
    table, which are then taken in name order (a backup's export order), to hold the hash behind the export."""
    url = sa.engine.make_url(url)
    where = display_url(url)
    engine_ = engines.open_engine(url)
    try:
        with engine_.connect() as conn:
            engine = engines.of(conn)
            if form not in _forms(conn):
                raise DatabaseError(f"{where} cannot be hashed in the form {form}.")
            engine.begin_snapshot(conn)
            if snapshot is not None:
                conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            if engine is POSTGRESQL:
                snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            schema = reflect_tables(conn, None, every_schema=True)
            exact = exact_tables(conn) if form.endswith((f":{RECORD}", f":{COLUMNS}")) else set()
            by_columns = column_hashes(conn, exact) if form.endswith(f":{COLUMNS}") else {}
            estimates = engine.estimate_rows(conn, list(schema))
            total = max(1, sum(estimates.values()))
            progress(0, total, "rows", f"Hashing {len(schema)} tables of {where}")
            lock = threading.Lock()
            done = [0]
            stop = threading.Event()

            def one(table: str, session: Connection) -> TableSum:
                if pace is not None:
                    pace(table)
                if stop.is_set():
                    raise Cancelled("Verification was cancelled by the user.")
                check_cancel(cancel, "Verification")
                started = monotonic()
                rows, first, second = _hash_table(
                    session, engine, form, table, schema[table], table in exact, by_columns.get(table)
                )
                logger.debug("hashed %s (%s rows) in %.2f s", table, rows, monotonic() - started)
                with lock:
                    done[0] += estimates.get(table, 0)
                    progress(min(done[0], total), total, "rows", f"Hashed {table}")
                return TableSum(table, int(rows), f"{form}:{int(first or 0):x}:{int(second or 0):x}")

            # the largest tables first, so the last worker does not start the biggest one alone
            order = sorted(schema) if pace is not None else sorted(schema, key=lambda name: -estimates.get(name, 0))
            if workers <= 1 or len(order) <= 1:
                for statement in _session_settings(conn, engine):
                    conn.exec_driver_sql(statement)
                sums = [one(table, conn) for table in order]
            else:
                queue = iter(order)
                queue_lock = threading.Lock()

                def worker() -> list[TableSum]:
                    with _worker(engine_, engine, snapshot) as session:
                        found: list[TableSum] = []
                        while True:
                            with queue_lock:
                                table = next(queue, None)
                            if table is None:
                                return found
                            found.append(one(table, session))

                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify-hash") as pool:
                    futures = [pool.submit(worker) for _ in range(min(workers, len(order)))]
                    try:
                        sums = [s for f in futures for s in f.result()]
                    except BaseException:
                        stop.set()
                        raise
            conn.rollback()
            progress(total, total, "rows", f"Hashed {len(sums)} tables of {where}")
            return {s.table: s for s in sums}
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"Could not read {where}: {driver_message(exc)}") from None
    finally:
        engine_.dispose()


def _hash_table(
    session: Connection,
    engine: Engine,
    form: str,
    table: str,
    cols: list[ColumnInfo],
    exact: bool,
    by_columns: str | None = None,
) -> tuple[int, int, int]:
    """One table's row count and its checksum's parts, in ``form``, on ``session`` (in its snapshot)."""
    if form.endswith(f":{CHECKSUM_TABLE}"):
        t = engine.quote_table(table)
        counted = form.startswith("mariadb-")  # MySQL keeps no Rows_read
        before = _rows_read(session) if counted else 0
        # the scan reads the snapshot the session's transaction holds; EXTENDED: never a cached live checksum
        checksum = session.exec_driver_sql(f"CHECKSUM TABLE {t} EXTENDED").one()[1]
        if checksum is None:
            raise DatabaseError(f"CHECKSUM TABLE could not read the table {table}.")
        # the rows the checksum's own scan read: a COUNT(*) would be a second pass, a quarter of the time again.
        # None counted: an empty table, or one whose scan MariaDB does not count (a partitioned table's, seen
        # on 10.11), or MySQL: counted by COUNT(*)
        rows = _rows_read(session) - before if counted else 0
        if rows <= 0:
            rows = int(session.exec_driver_sql(f"SELECT COUNT(*) FROM {t}").scalar_one())
        return rows, int(checksum), 0
    statement = row_hash_sql(engine, form, table, cols, exact=exact, by_columns=by_columns)
    rows, first, second = session.exec_driver_sql(statement).one()
    return int(rows), int(first or 0), int(second or 0)


def _rows_read(session: Connection) -> int:
    """MariaDB's count of the rows this session has read from tables (``SHOW STATUS`` itself reads none)."""
    return int(session.exec_driver_sql("SHOW SESSION STATUS LIKE 'Rows_read'").one()[1])


#: how much of the largest table :func:`hash_rate` reads, how many times: a few tenths of a second in all
SAMPLE_BYTES = 24_000_000
SAMPLES = 3


def hash_rate(url: URL | str, info: DatabaseInfo) -> float | None:
    """Catalog bytes per second this server hashes now, in its fast form: the first rows of the largest table
    (about :data:`SAMPLE_BYTES` of it), the best of :data:`SAMPLES` timings. None where there is no fast form
    or too little to time.

    The plan scales it into an estimate of the whole window (the copy and the checks are mostly the same
    servers' work, so they run as much faster or slower on this machine, at this load, as the hash does)."""
    table = max(info.tables, key=lambda t: t.size_bytes, default=None)
    if table is None or table.size_bytes < 1_000_000 or table.rows < 1000:
        return None
    url = sa.engine.make_url(url)
    engine_ = engines.open_engine(url)
    try:
        with engine_.connect() as conn:
            form = _form(conn)
            if form == CANONICAL:
                return None
            engine = engines.of(conn)
            columns = reflect_tables(conn, [table.name], every_schema=True).get(table.name)  # that table's alone
            if columns is None:
                return None
            per_row = table.size_bytes / table.rows
            limit = max(1000, int(SAMPLE_BYTES / per_row))
            for statement in _session_settings(conn, engine):
                conn.exec_driver_sql(statement)
            # by the row's text whatever the table (whatever the form; CHECKSUM TABLE reads a whole table): a probe
            # of this machine's speed, the one the ratio was measured with
            probe = next((f for f in _forms(conn) if not f.endswith(f":{CHECKSUM_TABLE}")), form)
            statement = row_hash_sql(engine, probe, table.name, columns, limit, exact=False)
            best = 0.0
            for _ in range(SAMPLES):  # the best of a few: the first also pays for warming up
                started = monotonic()
                rows = int(conn.exec_driver_sql(statement).one()[0])
                seconds = monotonic() - started
                if rows and seconds > 0:
                    best = max(best, rows * per_row / seconds)
            conn.rollback()
    except sa.exc.SQLAlchemyError as exc:
        logger.info("could not time a hash of %s: %s", display_url(url), driver_message(exc))
        return None
    finally:
        engine_.dispose()
    return best or None


def _session_settings(conn: Connection, engine: Engine) -> tuple[str, ...]:
    if engine is POSTGRESQL:
        return _PG_SETTINGS
    if engine is MYSQL:
        return ("SET time_zone = '+00:00'",)
    return ()


@contextmanager
def _worker(engine_: sa.Engine, engine: Engine, snapshot: str | None) -> Iterator[Connection]:
    with engine_.connect() as session:
        engine.begin_snapshot(session)
        if snapshot is not None:
            session.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        for statement in _session_settings(session, engine):
            session.exec_driver_sql(statement)
        try:
            yield session
        finally:
            session.rollback()


def checksum_in(
    url: URL | str,
    form: str,
    *,
    workers: int = 1,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
    pace: Callable[[str], None] | None = None,
) -> dict[str, TableSum]:
    """Every table's count and checksum in ``form``: the canonical one, or a fast one (:func:`checksum_native`,
    which alone heeds ``pace``)."""
    if form == CANONICAL:
        return checksum_database(url, progress=progress, cancel=cancel)
    return checksum_native(url, form, workers=workers, progress=progress, cancel=cancel, pace=pace)
