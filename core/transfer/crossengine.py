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
import os
import re
import tempfile
import threading
from collections.abc import Callable, Collection, Generator, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from time import monotonic
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable

from ..errors import Cancelled, ChangeoverError, InvalidInput
from ..jobs import Progress, check_cancel, no_progress
from ..providers.base import TargetNotEmpty
from .typemap import (
    Adaptation,
    ColumnInfo,
    Engine,
    base_type,
    dialect_for,
    display_url,
    engine_of,
    map_column,
    open_engine,
    quote,
    reflect_tables,
    select_expression,
)
from .verify import (
    FAR_FUTURE,
    FAR_PAST,
    SequenceState,
    _sequence_positions,
    column_sequence,
    decimal_text,
    error_reason,
    estimate_rows,
    read_batches,
    read_sequence_states,
)

logger = logging.getLogger(__name__)

__all__ = ["CopyFailed", "CopyReport", "CopyResult", "NotCarried", "TableCopy", "TargetNotEmpty", "copy", "plan"]

BATCH_ROWS = 10_000
#: MariaDB → PostgreSQL pages of COPY text: at most this many rows, about this many bytes
PAGE_ROWS = 50_000
PAGE_BYTES = 8 * 1024 * 1024
#: a LOAD DATA file is flushed to the server once it holds this much
LOAD_FILE_BYTES = 64 * 1024 * 1024
WORKERS = 2

BULK_PATH = {
    "postgresql": "COPY FROM STDIN",
    "mysql": "LOAD DATA LOCAL INFILE",
    "mysql-insert": "multi-row INSERT (the server has local_infile off)",
    "sqlite": "executemany in one transaction",
}


class CopyFailed(ChangeoverError):
    """The copy stopped on an error; the source is untouched, the target holds a partial copy."""

    title = "Copy failed"


@dataclass(frozen=True)
class NotCarried:
    """Something in the source the copy leaves behind, and why."""

    what: str  # view | trigger | routine | event | collation | check | default | index | sequence
    name: str
    why: str

    def __str__(self) -> str:
        return f"{self.what} {self.name}: {self.why}"


@dataclass(frozen=True)
class TableCopy:
    """One table as it will be created: its target DDL and the rows the catalog expects."""

    name: str
    estimated_rows: int
    ddl: str


@dataclass(frozen=True)
class CopyReport:
    """What a copy will do, read before anything is written."""

    source: str
    target: str
    source_engine: str
    target_engine: str
    tables: tuple[TableCopy, ...]
    adaptations: tuple[Adaptation, ...]
    not_carried: tuple[NotCarried, ...]
    #: reasons the copy cannot start (a non-empty target); empty when it can
    blockers: tuple[str, ...] = ()
    bulk_path: str = ""

    @property
    def estimated_rows(self) -> int:
        return sum(t.estimated_rows for t in self.tables)

    def lines(self) -> list[str]:
        """The report as text lines, for the CLI and the plan page."""
        out = [
            f"Copy {self.source} ({self.source_engine}) → {self.target} ({self.target_engine})",
            f"{len(self.tables)} tables, about {self.estimated_rows} rows, loaded with {self.bulk_path}.",
        ]
        out += [f"BLOCKED: {b}" for b in self.blockers]
        if self.adaptations:
            out.append(f"Adapted ({len(self.adaptations)}):")
            out += [f"  {a}" for a in self.adaptations]
        if self.not_carried:
            out.append(f"Not carried ({len(self.not_carried)}):")
            out += [f"  {n}" for n in self.not_carried]
        return out


@dataclass(frozen=True)
class CopyResult:
    report: CopyReport
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


# ----------------------------------------------------------------------------------------------- reflection


@dataclass
class _SourceTable:
    name: str
    columns: list[ColumnInfo]
    pk: list[str]
    uniques: list[list[str]]
    indexes: list[dict[str, Any]]
    fks: list[dict[str, Any]]
    checks: list[tuple[str, str]]  # (name, sql)
    defaults: dict[str, str]
    estimate: int
    #: generated columns (name -> expression): carried as plain columns holding their values
    generated: dict[str, str] = field(default_factory=dict)
    #: values with no twin on another engine, found by scanning: column -> (what, count)
    odd: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    #: the position of the auto-numbered column: the next value the source hands out
    next_id: int | None = None


@dataclass
class _Source:
    engine: Engine
    tables: dict[str, _SourceTable]
    not_carried: list[NotCarried]
    #: sequence objects not behind an auto-numbered column: carried as sequences, at their position
    sequences: list[SequenceState] = field(default_factory=list)
    #: column default -> sequence it draws from, for columns that are not the auto-numbered key
    sequence_defaults: dict[tuple[str, str], str] = field(default_factory=dict)


def _reflect_source(conn: Connection) -> _Source:
    engine = engine_of(conn)
    inspector = sa.inspect(conn)
    columns = reflect_tables(conn)
    estimates = estimate_rows(conn, list(columns))
    mysql_checks = _mysql_checks(conn) if engine == "mysql" else {}
    tables: dict[str, _SourceTable] = {}
    for name, cols in columns.items():
        pk = list(inspector.get_pk_constraint(name)["constrained_columns"])
        uniques = [list(u["column_names"]) for u in inspector.get_unique_constraints(name)]
        if engine == "mysql":
            checks = mysql_checks.get(name, [])
        else:
            checks = [(str(c.get("name") or ""), str(c["sqltext"])) for c in inspector.get_check_constraints(name)]
        defaults = {
            str(c["name"]): str(c["default"])
            for c in inspector.get_columns(name)
            if c.get("default") is not None and str(c["default"]).upper() != "NULL"
        }
        tables[name] = _SourceTable(
            name=name,
            columns=cols,
            pk=pk,
            uniques=uniques,
            indexes=[dict(ix) for ix in inspector.get_indexes(name)],
            fks=[dict(fk) for fk in inspector.get_foreign_keys(name)],
            checks=checks,
            defaults=defaults,
            estimate=estimates.get(name, 0),
            generated={
                str(c["name"]): str(c["computed"]["sqltext"]) for c in inspector.get_columns(name) if c.get("computed")
            },
        )
    source = _Source(engine, tables, _not_carried_objects(conn, engine))
    if engine != "sqlite":
        _scan_values(conn, engine, tables)
        _reflect_sequences(conn, source)
    return source


def _scan_values(conn: Connection, engine: Engine, tables: dict[str, _SourceTable]) -> None:
    """Count the values no other engine holds as they are (one pass per table that may have them):
    PostgreSQL's ±infinity; MariaDB's zero and partial dates, and TIME beyond 24 hours or negative."""
    for st in tables.values():
        probes: list[tuple[str, str, str]] = []  # (column, what, SQL condition)
        for col in st.columns:
            q = quote(engine, col.name)
            if engine == "postgresql" and col.kind in ("date", "datetime", "datetime_tz"):
                probes.append((col.name, "infinity", f"{q} IN ('infinity', '-infinity')"))
            elif engine == "mysql" and col.kind in ("date", "datetime", "datetime_tz"):
                probes.append((col.name, "zero", f"YEAR({q}) = 0"))
                probes.append((col.name, "partial", f"YEAR({q}) <> 0 AND (MONTH({q}) = 0 OR DAYOFMONTH({q}) = 0)"))
            elif engine == "mysql" and col.kind == "time":
                probes.append((col.name, "wide", f"{q} < '00:00:00' OR {q} >= '24:00:00'"))
        if not probes:
            continue
        sums = ", ".join(f"COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)" for _c, _w, cond in probes)
        counts = conn.exec_driver_sql(f"SELECT {sums} FROM {quote(engine, st.name)}").one()
        for (column, what, _cond), count in zip(probes, counts, strict=True):
            if int(count):
                st.odd.setdefault(column, []).append((what, int(count)))


def _reflect_sequences(conn: Connection, source: _Source) -> None:
    """Sequence objects and where they stand; which back an auto-numbered key; which a column default uses."""
    engine = source.engine
    states = read_sequence_states(conn)
    schema = {name: st.columns for name, st in source.tables.items()}
    positions = _sequence_positions(conn, schema)
    backing: set[str] = set()
    for name, st in source.tables.items():
        position = positions.get(name)
        if position is not None and position.column in st.pk and len(st.pk) == 1:
            st.next_id = position.next_value
            if position.sequence:
                backing.add(position.sequence)
    defaults = {(st.name, c): d for st in source.tables.values() for c, d in st.defaults.items()}
    if engine == "mysql":  # SQLAlchemy does not reflect MariaDB's DEFAULT nextval(...): the catalog does
        defaults |= {
            (str(t), str(c)): str(d)
            for t, c, d in conn.exec_driver_sql(
                "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_DEFAULT LIKE 'nextval(%%'"
            )
        }
    for (table, column), default in defaults.items():
        owner = source.tables.get(table)
        if owner is None or "nextval" not in default.lower() or owner.pk == [column]:
            continue
        if engine == "postgresql":
            found = column_sequence(conn, table, column)
            seq = found[1] if found else None
        else:
            match = re.search(r"nextval\((?:`(?:[^`]|``)+`\.)?`((?:[^`]|``)+)`\)", default, re.I)
            seq = match.group(1).replace("``", "`") if match else None
        if seq is not None:
            source.sequence_defaults[(table, column)] = seq
    source.sequences = [state for name, state in states.items() if name not in backing]


def _mysql_checks(conn: Connection) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    rows = conn.exec_driver_sql(
        "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
        "WHERE CONSTRAINT_SCHEMA = DATABASE()"
    )
    for table, name, clause in rows:
        if not str(clause).startswith("json_valid("):  # that check *is* MariaDB's JSON type
            found.setdefault(str(table), []).append((str(name), str(clause)))
    return found


def _not_carried_objects(conn: Connection, engine: Engine) -> list[NotCarried]:
    """Views, triggers, routines, events and collations: engine-specific, left for the admin to redo."""
    view_why = "its SQL is written for the source engine: recreate it on the target by hand"
    trigger_why = "trigger bodies are engine-specific code: recreate it on the target by hand"
    routine_why = "stored code is engine-specific: port it by hand"
    found: list[NotCarried] = []

    def add(what: str, why: str, sql: str) -> None:
        found.extend(NotCarried(what, str(row[0]), why) for row in conn.exec_driver_sql(sql))

    if engine == "postgresql":
        add("view", view_why, "SELECT table_name FROM information_schema.views WHERE table_schema = current_schema()")
        add(
            "view",
            "materialized view: " + view_why,
            "SELECT matviewname FROM pg_matviews WHERE schemaname = current_schema()",
        )
        add(
            "trigger",
            trigger_why,
            "SELECT DISTINCT trigger_name || ' on ' || event_object_table FROM information_schema.triggers "
            "WHERE trigger_schema = current_schema()",
        )
        add(
            "routine",
            routine_why,
            "SELECT p.proname || '()' FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')",
        )
        add(
            "extension",
            "its types, functions and operators exist only on PostgreSQL (citext columns, for one, compare "
            "case-sensitively on the target)",
            "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'",
        )
        add(
            "domain",
            "its CHECK is not carried: the column gets the domain's base type",
            "SELECT t.typname || ' ' || string_agg(pg_get_constraintdef(c.oid), ' ') FROM pg_type t "
            "JOIN pg_constraint c ON c.contypid = t.oid WHERE t.typnamespace = current_schema()::regnamespace "
            "AND t.typtype = 'd' GROUP BY t.typname",
        )
        add(
            "partitioning",
            "carried as one table holding every partition's rows; each partition is carried as its own table "
            "with its rows too (the same rows as before under every name), with no routing between them: write "
            "to the parent only, or drop the partition tables",
            "SELECT c.relname || ' ' || pg_get_partkeydef(c.oid) FROM pg_class c "
            "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'p'",
        )
        add(
            "inheritance",
            "the parent is carried holding its children's rows too (what a query on it returns), each child as "
            "its own table; the inheritance is not",
            "SELECT p.relname || ' (children: ' || string_agg(c.relname, ', ' ORDER BY c.relname) || ')' "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE c.relnamespace = current_schema()::regnamespace AND NOT c.relispartition GROUP BY p.relname",
        )
        add(
            "table",
            "it lives in another schema than the current one, and a copy across engines carries the current "
            "schema only (a same-engine upgrade carries every schema)",
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname <> current_schema() "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%' "
            "AND NOT c.relispartition",
        )
        add(
            "collation",
            "explicit column collation: the target sorts and compares this text with its own rules",
            "SELECT table_name || '.' || column_name || ' (' || collation_name || ')' FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND collation_name IS NOT NULL",
        )
    elif engine == "mysql":
        add("view", view_why, "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()")
        add(
            "trigger",
            trigger_why,
            "SELECT CONCAT(TRIGGER_NAME, ' on ', EVENT_OBJECT_TABLE) FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE()",
        )
        add(
            "routine",
            routine_why,
            "SELECT CONCAT(ROUTINE_NAME, '()') FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()",
        )
        add(
            "index",
            "no such index on the target (PostgreSQL: a tsvector GIN index, or PostGIS, does this)",
            "SELECT DISTINCT CONCAT(TABLE_NAME, '.', INDEX_NAME, ' (', INDEX_TYPE, ')') "
            "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
            "AND INDEX_TYPE IN ('FULLTEXT', 'SPATIAL')",
        )
        add("event", routine_why, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()")
        add(
            "collation",
            "MySQL collation: the target compares this text with its own rules (PostgreSQL and SQLite: "
            "case- and accent-sensitive), so case-insensitive uniqueness and sorting are not carried",
            "SELECT CONCAT(COLLATION_NAME, ' (', COUNT(*), ' columns)') FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL "
            "AND COLLATION_NAME NOT LIKE '%%\\_bin' AND COLLATION_NAME <> 'binary' GROUP BY COLLATION_NAME",
        )
    else:
        add("view", view_why, "SELECT name FROM sqlite_master WHERE type = 'view'")
        add("trigger", trigger_why, "SELECT name || ' on ' || tbl_name FROM sqlite_master WHERE type = 'trigger'")
    return found


# ------------------------------------------------------------------------------------------- target schema

_PG_ANY_ARRAY = re.compile(
    r"^\(*\s*\(?(\w+)\)?(?:::[\w ]+)?\s*=\s*ANY\s*\(+ARRAY\[(.*?)\](?:::[\w ]+\[\])?\)+\s*$", re.S
)
_PG_CAST = re.compile(r"::[a-z][a-z ]*(\[\])?", re.I)
_CHECK_TOKENS = re.compile(
    r"\s*(?:'(?:[^']|'')*'|\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*|`[^`]+`|\"[^\"]+\"|<>|!=|>=|<=|[=<>(),+\-*/%])"
)
_CHECK_WORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "LIKE", "TRUE", "FALSE"}


def _portable_check(sql: str, source: Engine, target: Engine) -> str | None:
    """``sql`` rewritten for ``target`` if it uses only columns, literals, comparisons and logic; else None."""
    text = sql.strip()
    if source == "postgresql":
        match = _PG_ANY_ARRAY.match(text)
        if match:
            values = ", ".join(_PG_CAST.sub("", v).strip() for v in match.group(2).split(","))
            text = f"{match.group(1)} IN ({values})"
        text = _PG_CAST.sub("", text)
    pos, out = 0, []
    while pos < len(text):
        token = _CHECK_TOKENS.match(text, pos)
        if token is None:
            return None
        word = token.group(0).strip()
        pos = token.end()
        if re.fullmatch(r"[A-Za-z_]\w*", word) and word.upper() not in _CHECK_WORDS:
            if text[pos:].lstrip().startswith("("):
                return None  # a function call: not portable
            out.append(quote(target, word))
        elif word[:1] in '`"':
            out.append(quote(target, word[1:-1]))
        else:
            out.append(word)
    return " ".join(out) if out else None


_NOW = re.compile(r"^(now\(\)|current_timestamp(\(\d*\))?|localtimestamp(\(\d*\))?)$", re.I)
_LITERAL = re.compile(r"^\(?('(?:[^']|'')*'|-?\d+(?:\.\d+)?)\)?(::[\w ]+)?$")


def _declared_type(type_: Any, target: Engine) -> str:
    try:
        return str(type_.compile(dialect=dialect_for(target)))
    except Exception:  # noqa: BLE001 - a type the dialect cannot render: its class
        return type(type_).__name__


def _portable_default(text: str, col: ColumnInfo, target: Engine) -> sa.TextClause | None:
    value = text.strip()
    if col.kind in ("date", "datetime", "datetime_tz") and re.search(r"infinity|0000-00-00|-00", value, re.I):
        return None  # no twin on the other engine (see the values' adaptations)
    if _NOW.match(value) and col.kind in ("datetime", "datetime_tz"):
        return sa.text("CURRENT_TIMESTAMP")
    if value.lower() in ("true", "false") and col.kind == "bool":
        return sa.text(("1" if value.lower() == "true" else "0") if target != "postgresql" else value.lower())
    match = _LITERAL.match(value)
    if match is None:
        return None
    literal = match.group(1)
    if col.kind == "bool" and target == "postgresql" and literal in ("0", "1", "'0'", "'1'"):
        return sa.text("true" if literal.strip("'") == "1" else "false")
    if col.kind == "json":
        return None  # MySQL does not take literal JSON defaults
    return sa.text(literal)


@dataclass
class _TargetSchema:
    metadata: sa.MetaData
    tables: dict[str, sa.Table]
    indexes: list[sa.Index]
    fks: list[tuple[str, sa.ForeignKeyConstraint]]
    adaptations: list[Adaptation]
    not_carried: list[NotCarried]
    #: CREATE SEQUENCE statements, run before the tables (a column default may draw from one)
    sequences: list[str] = field(default_factory=list)


#: PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1)
PG_NAME_BYTES = 63


def pg_name(name: str) -> str:
    """``name`` as PostgreSQL keeps it: at most 63 bytes, cut on a character boundary."""
    raw = name.encode("utf-8")
    return name if len(raw) <= PG_NAME_BYTES else raw[:PG_NAME_BYTES].decode("utf-8", errors="ignore")


_SPECIAL_INDEX = {"FULLTEXT", "SPATIAL"}


def _special_index(ix: dict[str, Any]) -> str | None:
    """A full-text, spatial, GIN, GiST... index: no twin on another engine (its kind), else None."""
    options = ix.get("dialect_options") or {}
    prefix = str(options.get("mysql_prefix") or "").upper()
    if prefix in _SPECIAL_INDEX:
        return prefix
    using = str(options.get("postgresql_using") or "btree").lower()
    return None if using == "btree" else using.upper()


def _odd_adaptations(st: _SourceTable, col: ColumnInfo, to_type: str, target: Engine) -> list[Adaptation]:
    found = []
    for what, count in st.odd.get(col.name, []):
        if what == "infinity":
            i = 0 if col.kind == "date" else 1
            why = f"{count} value(s) ±infinity, which {target} has no twin for: stored as "
            why += f"{FAR_FUTURE[i]} / {FAR_PAST[i]}"
        elif what == "zero":
            far = "-infinity" if target == "postgresql" else FAR_PAST[0]
            why = f"{count} zero date(s) (year 0), which {target} has no twin for: stored as {far}"
        elif what == "partial":
            why = f"{count} date(s) with month or day 0, which {target} has no twin for: stored as the first day"
        else:
            continue  # "wide" TIME values: the column type itself says it (see map_column)
        found.append(Adaptation(st.name, col.name, col.declared, to_type, why))
    return found


def _sequence_ddl(target: Engine, state: SequenceState) -> str:
    name = quote(target, state.name)
    return f"CREATE SEQUENCE {name} INCREMENT BY {state.increment} START WITH {state.next_value}"


def _sequence_default(target: Engine, sequence: str) -> sa.TextClause:
    if target == "postgresql":
        return sa.text("nextval('" + quote("postgresql", sequence).replace("'", "''") + "'::regclass)")
    return sa.text(f"(NEXT VALUE FOR {quote('mysql', sequence)})")


def _build_target(source: _Source, target: Engine) -> _TargetSchema:
    md = sa.MetaData()
    schema = _TargetSchema(md, {}, [], [], [], [])
    can_sequence = target in ("postgresql", "mysql")
    for state in source.sequences:
        if can_sequence:
            schema.sequences.append(_sequence_ddl(target, state))
        else:
            schema.not_carried.append(NotCarried("sequence", state.name, f"{target} has no sequences"))
    if target == "postgresql":
        for st in source.tables.values():
            for name in [st.name, *(c.name for c in st.columns)]:
                if pg_name(name) != name:
                    where = "table name" if name == st.name else "column name"
                    schema.adaptations.append(
                        Adaptation(
                            st.name,
                            f"({where} {name})" if name != st.name else "(table name)",
                            name,
                            pg_name(name),
                            f"{len(name.encode())} bytes, longer than PostgreSQL's {PG_NAME_BYTES}: truncated",
                        )
                    )
    kw: dict[str, Any] = {}
    if target == "mysql":
        kw = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
    index_names: set[str] = set()
    for st in source.tables.values():
        indexed = set(st.pk) | {c for u in st.uniques for c in u}
        indexed |= {c for ix in st.indexes if not _special_index(ix) for c in ix["column_names"] if c}
        cols: list[sa.schema.SchemaItem] = []
        auto_key = (
            st.pk[0] if len(st.pk) == 1 and any(c.autoincrement and c.name == st.pk[0] for c in st.columns) else None
        )
        for col in st.columns:
            wide = any(what == "wide" for what, _n in st.odd.get(col.name, []))
            type_, adaptation = map_column(
                st.name, col, source.engine, target, indexed=col.name in indexed, wide_time=wide
            )
            if adaptation is not None:
                schema.adaptations.append(adaptation)
            schema.adaptations += _odd_adaptations(st, col, _declared_type(type_, target), target)
            if col.name in st.generated:
                schema.not_carried.append(
                    NotCarried(
                        "generated column",
                        f"{st.name}.{col.name}",
                        f"GENERATED ALWAYS AS ({st.generated[col.name]}) is {source.engine} SQL: carried as a plain "
                        "column holding its values, no longer computed",
                    )
                )
            default = None
            raw_default = st.defaults.get(col.name)
            sequence = source.sequence_defaults.get((st.name, col.name))
            if sequence is not None and can_sequence:
                default = _sequence_default(target, sequence)
            elif raw_default is not None and col.name != auto_key and col.name not in st.generated:
                default = _portable_default(raw_default, col, target)
                if default is None:
                    schema.not_carried.append(
                        NotCarried("default", f"{st.name}.{col.name}", f"{raw_default!r} is engine-specific")
                    )
            cols.append(
                sa.Column(
                    col.name,
                    type_,
                    nullable=col.nullable and col.name not in st.pk,
                    primary_key=col.name in st.pk,
                    autoincrement=col.autoincrement if col.name in st.pk else False,
                    server_default=default,
                )
            )
            if col.enum_values:
                allowed = ", ".join("'" + v.replace("'", "''") + "'" for v in col.enum_values)
                cols.append(sa.CheckConstraint(f"{quote(target, col.name)} IN ({allowed})"))
        for unique in st.uniques:
            cols.append(sa.UniqueConstraint(*unique))
        for name, sql in st.checks:
            portable = _portable_check(sql, source.engine, target)
            if portable is None:
                schema.not_carried.append(NotCarried("check", f"{st.name}.{name or '?'}", f"{sql!r} is not portable"))
            else:
                cols.append(sa.CheckConstraint(portable))
        table = sa.Table(st.name, md, *cols, **kw)
        schema.tables[st.name] = table
        seen = {tuple(st.pk), *(tuple(u) for u in st.uniques)}
        for ix in st.indexes:
            names = tuple(ix["column_names"])
            special = _special_index(ix)
            if special is not None:
                if source.engine != "mysql":  # MariaDB's are listed with the source's objects
                    schema.not_carried.append(
                        NotCarried("index", f"{st.name}.{ix['name']}", f"{special} index: no such index on {target}")
                    )
                continue
            if None in names or ix.get("expressions"):
                schema.not_carried.append(NotCarried("index", f"{st.name}.{ix['name']}", "expression index"))
                continue
            if names in seen or ix.get("duplicates_constraint"):
                continue
            seen.add(names)
            name = str(ix["name"])
            if name in index_names or target == "sqlite":
                name = f"ix_{st.name}_{'_'.join(names)}"[:60]
            index_names.add(name)
            schema.indexes.append(sa.Index(name, *(table.c[n] for n in names), unique=bool(ix.get("unique"))))
    for st in source.tables.values():
        for fk in st.fks:
            referred = fk["referred_table"]
            if referred not in schema.tables:
                schema.not_carried.append(
                    NotCarried("foreign key", f"{st.name}.{fk.get('name')}", f"refers to {referred}, not copied")
                )
                continue
            options = {k: v for k, v in (fk.get("options") or {}).items() if k in ("ondelete", "onupdate")}
            constraint = sa.ForeignKeyConstraint(
                fk["constrained_columns"],
                [schema.tables[referred].c[c] for c in fk["referred_columns"]],
                **options,
            )
            schema.fks.append((st.name, constraint))
            if target == "sqlite":  # SQLite cannot add a key later; it checks none unless asked to
                schema.tables[st.name].append_constraint(constraint)
    if target == "mysql":
        schema.adaptations += [
            Adaptation(
                "*", "text columns", "text", "utf8mb4_bin", "compared byte-wise and case-sensitively, as in the source"
            )
            for st in source.tables.values()
            if any(c.kind in ("text", "json") for c in st.columns)
        ][:1]
    return schema


# ------------------------------------------------------------------------------------------------ plan/copy


def _target_contents(conn: Connection) -> list[str]:
    inspector = sa.inspect(conn)
    return sorted(inspector.get_table_names()) + sorted(inspector.get_view_names())


def _make_report(
    source_url: URL,
    target_url: URL,
    source: _Source,
    schema: _TargetSchema,
    target: Engine,
    blockers: list[str],
    mysql_local: bool,
) -> CopyReport:
    dialect = dialect_for(target)
    tables = tuple(
        TableCopy(name, source.tables[name].estimate, str(CreateTable(t).compile(dialect=dialect)).strip())
        for name, t in schema.tables.items()
    )
    path = BULK_PATH["mysql" if mysql_local else "mysql-insert"] if target == "mysql" else BULK_PATH[target]
    return CopyReport(
        source=display_url(source_url),
        target=display_url(target_url),
        source_engine=source.engine,
        target_engine=target,
        tables=tables,
        adaptations=tuple(schema.adaptations),
        not_carried=tuple(source.not_carried + schema.not_carried),
        blockers=tuple(blockers),
        bulk_path=path,
    )


def _prepare(source_url: URL, target_url: URL) -> tuple[_Source, _TargetSchema, CopyReport]:
    source_engine, target = engine_of(source_url), engine_of(target_url)
    if source_engine == target:
        raise InvalidInput(
            f"Both databases are {target}: use a backup and load for a same-engine copy, which keeps everything.",
            title="Same engine",
        )
    src_engine, tgt_engine = open_engine(source_url), open_engine(target_url)
    try:
        with src_engine.connect() as conn:
            source = _reflect_source(conn)
        schema = _build_target(source, target)
        with tgt_engine.connect() as conn:
            present = _target_contents(conn)
            mysql_local = target == "mysql" and _mysql_local_infile(conn)
    except sa.exc.SQLAlchemyError as exc:
        raise CopyFailed(f"Could not read the databases to plan the copy: {error_reason(exc)}") from None
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
    return source, schema, _make_report(source_url, target_url, source, schema, target, blockers, mysql_local)


def _mysql_local_infile(conn: Connection) -> bool:
    """Whether the MySQL server takes ``LOAD DATA LOCAL INFILE`` (its ``local_infile`` setting)."""
    return bool(conn.exec_driver_sql("SELECT @@GLOBAL.local_infile").scalar())


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


class _Tracker:
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
    target = engine_of(target_url)
    tgt_engine = open_engine(target_url)
    try:
        check_cancel(cancel, "The copy")
        with tgt_engine.begin() as conn:
            for statement in schema.sequences:
                progress(0, len(schema.tables), "tables", "Creating the sequences")
                conn.exec_driver_sql(statement)
            for n, table in enumerate(schema.tables.values()):
                progress(n, len(schema.tables), "tables", f"Creating table {table.name}")
                conn.execute(CreateTable(table))
        tracker = _Tracker(progress, report.estimated_rows)
        tracker.progress(0, report.estimated_rows, "rows", "Copying rows")
        rows = _load_all(source_url, target_url, source, schema, report, tracker, cancel)
        check_cancel(cancel, "The copy")
        with tgt_engine.begin() as conn:
            steps = len(schema.indexes) + (len(schema.fks) if target != "sqlite" else 0)
            done = 0
            for index in schema.indexes:
                check_cancel(cancel, "The copy")
                with _heartbeat(progress, done, steps, f"Creating index {index.name}"):
                    conn.execute(CreateIndex(index))
                done += 1
            if target != "sqlite":
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
        raise CopyFailed(f"The copy stopped: {error_reason(exc)}. {partial}") from None
    finally:
        tgt_engine.dispose()
    seconds = monotonic() - started
    total = sum(rows.values())
    progress(total, total, "rows", f"Copied {len(rows)} tables, {total} rows in {seconds:.1f} s")
    logger.info("copied %s to %s: %d tables, %d rows, %.1f s", src, tgt, len(rows), total, seconds)
    return CopyResult(report, rows, seconds)


# ------------------------------------------------------------------------------------------------ the data


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).strip().replace("T", " ").replace("Z", "+00:00"))


def _to_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, timedelta):
        return (datetime.min + value).time()
    return time.fromisoformat(str(value))


def _duration_text(value: timedelta) -> str:
    """``[-]HH:MM:SS.ffffff``, hours past 24: what MySQL's TIME takes and verification renders."""
    micros = value // timedelta(microseconds=1)
    seconds, micro = divmod(abs(micros), 1_000_000)
    sign = "-" if micros < 0 else ""
    return f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{micro:06d}"


def _to_time_or_duration(value: Any) -> Any:
    """A time of day, or the duration itself when it is not one (an interval column takes it)."""
    if isinstance(value, timedelta) and not timedelta(0) <= value < timedelta(days=1):
        return value
    return _to_time(value)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


def _to_bytes(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bytes):  # MySQL BIT(1)
        return any(value)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "t", "true", "y", "yes")
    return bool(value)


def _to_text(value: Any) -> str:
    return bytes(value).decode("utf-8") if isinstance(value, bytes | bytearray | memoryview) else str(value)


Converter = Callable[[Any], Any]


def _converter(col: ColumnInfo, source: Engine, target: Engine) -> Converter | None:
    """How one source value becomes what the target's writer takes; None when it passes as it is."""
    steps: list[Converter] = []
    kind = col.kind
    if target == "postgresql":
        # COPY's text format: PostgreSQL parses each value by its column's type, so ISO text, 0/1 and
        # naive UTC timestamps (the session is in UTC) all go as they are.
        if kind == "time" and source == "mysql":
            return _to_time_or_duration  # PyMySQL gives a timedelta
        if kind == "bool" and source == "mysql":
            return _to_bool  # BIT(1) comes as bytes
        if kind == "bytes" and source == "sqlite":
            return _to_bytes
        return None
    if kind == "bool" and source != "postgresql":
        steps.append(_to_bool)
    elif kind == "int" and target == "sqlite" and getattr(col.type, "unsigned", False):
        steps.append(str)  # BIGINT UNSIGNED may not fit SQLite's integers: it goes as text (see typemap)
    elif kind == "datetime_tz":
        steps.append(lambda v: _as_utc(_parse_dt(v)))
        if target == "mysql":
            steps.append(lambda v: v.replace(tzinfo=None))
        elif target == "sqlite":
            steps.append(lambda v: v.strftime("%Y-%m-%d %H:%M:%S.%f+00:00"))
    elif kind == "datetime":
        if source == "sqlite":
            steps.append(lambda v: (lambda d: _as_utc(d).replace(tzinfo=None) if d.tzinfo else d)(_parse_dt(v)))
        if target == "sqlite":
            steps.append(lambda v: v.strftime("%Y-%m-%d %H:%M:%S.%f"))
    elif kind == "date":
        if source == "sqlite":
            steps.append(lambda v: v if isinstance(v, date) else date.fromisoformat(str(v)[:10]))
        if target == "sqlite":
            steps.append(lambda v: v.isoformat())
    elif kind == "time":
        if source != "postgresql":
            steps.append(_to_time_or_duration)
        if target == "sqlite":
            steps.append(lambda v: _duration_text(v) if isinstance(v, timedelta) else v.strftime("%H:%M:%S.%f"))
    elif kind == "decimal":
        if source == "sqlite":
            steps.append(_to_decimal)
        if target == "sqlite":
            steps.append(lambda v: decimal_text(v) if isinstance(v, Decimal) else v)
    elif kind == "bytes":
        steps.append(_to_bytes)
    elif kind in ("json", "text"):
        steps.append(_to_text)
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]
    first, second = steps

    def both(v: Any) -> Any:
        return second(first(v))

    return both


def _select_columns(
    engine: Engine, cols: list[ColumnInfo], target: Engine | None = None, odd: Collection[str] = ()
) -> list[str]:
    """The select list reading ``cols`` for ``target``; ``odd`` names the columns whose values need mapping
    (PostgreSQL's ±infinity is mapped wherever it may be: the driver cannot read it)."""
    parts = []
    for col in cols:
        q = quote(engine, col.name)
        text_kind = col.kind == "json" or (col.kind == "text" and not isinstance(base_type(col.type), sa.String))
        if engine == "postgresql" and text_kind:
            parts.append(f"{q}::text")
        elif engine == "postgresql" and col.kind in ("date", "datetime", "datetime_tz"):
            parts.append(_pg_finite(q, col.kind))
        elif engine == "mysql" and col.kind in ("date", "datetime", "datetime_tz") and col.name in odd:
            real = _mysql_real_date(q, col.kind, target)
            parts.append(
                real if target == "postgresql" else f"CAST({real} AS {'DATE' if col.kind == 'date' else 'DATETIME(6)'})"
            )
        else:
            parts.append(select_expression(engine, col))
    return parts


def _pg_finite(q: str, kind: str) -> str:
    """±infinity read as the far future / far past (no other engine, nor Python, has infinity)."""
    i = 0 if kind == "date" else 1
    cast = {"date": "date", "datetime": "timestamp", "datetime_tz": "timestamptz"}[kind]
    far = f"'{FAR_FUTURE[i]}{'+00' if kind == 'datetime_tz' else ''}'"
    past = f"'{FAR_PAST[i]}{'+00' if kind == 'datetime_tz' else ''}'"
    return (
        f"CASE WHEN {q} = 'infinity' THEN CAST({far} AS {cast}) WHEN {q} = '-infinity' THEN CAST({past} AS {cast}) "
        f"ELSE {q} END"
    )


def _mysql_real_date(q: str, kind: str, target: Engine | None) -> str:
    """A zero date (year 0) read as PostgreSQL's -infinity or the far past; a partial date as its first day."""
    i = 0 if kind == "date" else 1
    zero = "-infinity" if target == "postgresql" else FAR_PAST[i]
    fmt = "%Y-%m-%d" if kind == "date" else "%Y-%m-%d %H:%i:%s.%f"
    clock = "" if kind == "date" else f", DATE_FORMAT({q}, ' %H:%i:%s.%f')"
    first = (
        f"CONCAT(LPAD(YEAR({q}), 4, '0'), '-', LPAD(GREATEST(MONTH({q}), 1), 2, '0'), '-', "
        f"LPAD(GREATEST(DAYOFMONTH({q}), 1), 2, '0'){clock})"
    )
    odd = f"MONTH({q}) = 0 OR DAYOFMONTH({q}) = 0"
    return f"IF(YEAR({q}) = 0, '{zero}', IF({odd}, {first}, DATE_FORMAT({q}, '{fmt}')))"


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
    st: _SourceTable,
    target: Engine,
    cancel: threading.Event | None,
    abort: threading.Event,
) -> Generator[list[tuple[Any, ...]], None, None]:
    """The source table in converted batches (flat memory; cancel and abort checked before each)."""
    converters = [_converter(c, engine, target) for c in st.columns]
    active = [(i, f) for i, f in enumerate(converters) if f is not None]

    check = partial(_check, cancel, abort)
    for rows in read_batches(
        conn, st.name, _select_columns(engine, st.columns, target, st.odd), pk=st.pk, batch_rows=BATCH_ROWS, check=check
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


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _load_field(kind: str, value: Any) -> str:
    """One value as a field of a ``LOAD DATA`` file (tab-separated, backslash-escaped, ``\\N`` for NULL)."""
    if value is None:
        return "\\N"
    if kind == "bool":
        return "1" if value else "0"
    if kind == "bytes":
        return bytes(value).hex()
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, time):
        return value.strftime("%H:%M:%S.%f")
    if isinstance(value, timedelta):  # a PostgreSQL interval into a MySQL TIME: hours past 24, signed
        return _duration_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return str(value).translate(_ESCAPES)


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
    names = ", ".join(quote("postgresql", c.name) for c in cols)
    total = 0
    with raw.cursor() as cur, cur.copy(f"COPY {quote('postgresql', table)} ({names}) FROM STDIN") as pipe:
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
    q = quote("mysql", col.name)
    expr: str | None = {
        "bool": f"CASE WHEN {q} THEN 't' WHEN NOT {q} THEN 'f' END",
        "int": f"CAST({q} AS CHAR)",
        "decimal": f"CAST({q} AS CHAR)",
        "float": f"CAST({q} AS CHAR)",
        "bytes": f"CONCAT({_BS}, {_BS}, 'x', LOWER(HEX({q})))",
        "date": _mysql_real_date(q, "date", "postgresql"),
        "time": f"TIME_FORMAT({q}, '%H:%i:%s.%f')",
        "datetime": _mysql_real_date(q, "datetime", "postgresql"),
        "datetime_tz": f"CONCAT({_mysql_real_date(q, 'datetime', 'postgresql')}, IF(YEAR({q}) = 0, '', '+00'))",
    }.get(col.kind) or _copy_text_escaped(
        select_expression("mysql", col) if col.spatial else f"CONVERT({q} USING utf8mb4)"
    )
    return f"IFNULL({expr}, CONCAT({_BS}, 'N'))"


def _mysql_to_postgres(
    conn: Connection, raw: Any, st: _SourceTable, count: Callable[[int], None], check: Callable[[], None]
) -> int:
    """MariaDB renders whole pages of rows as COPY text (GROUP_CONCAT); they go to COPY as they come.

    No value is parsed or formatted in Python: this is what makes MariaDB → PostgreSQL fast. Pages follow
    the (single-column) primary key and size themselves to about :data:`PAGE_BYTES`.
    """
    conn.exec_driver_sql("SET SESSION group_concat_max_len = 4294967295")
    max_packet = int(conn.exec_driver_sql("SELECT @@max_allowed_packet").scalar_one())
    budget = min(PAGE_BYTES, max_packet // 2)
    key = quote("mysql", st.pk[0])
    line = f"CONCAT_WS(CHAR(9 USING utf8mb4), {', '.join(_mysql_copy_field(c) for c in st.columns)})"
    names = ", ".join(quote("postgresql", c.name) for c in st.columns)
    rows_per_page, last, total = 1000, None, 0
    with raw.cursor() as cur, cur.copy(f"COPY {quote('postgresql', st.name)} ({names}) FROM STDIN") as pipe:
        while True:
            check()
            where = f" WHERE {key} > :last" if last is not None else ""
            page = conn.execute(
                sa.text(
                    f"SELECT COUNT(*), MAX(k), GROUP_CONCAT(line SEPARATOR '\n') FROM "
                    f"(SELECT {key} AS k, {line} AS line FROM {quote('mysql', st.name)}{where} "
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
        q = quote("mysql", col.name)
        if col.kind == "bytes":
            targets.append(f"@v{i}")
            sets.append(f"{q} = UNHEX(@v{i})")
        else:
            targets.append(q)
    kinds = [c.kind for c in cols]
    total = 0
    fd, path = tempfile.mkstemp(prefix="changeover-", suffix=".tsv")
    statement = (
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {quote('mysql', table)} CHARACTER SET utf8mb4 "
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
                    out.write("\t".join(_load_field(k, v) for k, v in zip(kinds, row, strict=True)))
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
    marker = "%s" if engine == "mysql" else "?"
    names = ", ".join(quote(engine, c.name) for c in cols)
    sql = f"INSERT INTO {quote(engine, table)} ({names}) VALUES ({', '.join([marker] * len(cols))})"
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


def _load_all(
    source_url: URL,
    target_url: URL,
    source: _Source,
    schema: _TargetSchema,
    report: CopyReport,
    tracker: _Tracker,
    cancel: threading.Event | None,
) -> dict[str, int]:
    target = engine_of(target_url)
    mysql_local = report.bulk_path == BULK_PATH["mysql"]
    src_engine, tgt_engine = open_engine(source_url), open_engine(target_url)
    abort = threading.Event()

    def load(name: str) -> int:
        st = source.tables[name]
        message = f"Copying {name}"

        def count(rows: int) -> None:
            tracker.add(rows, message)

        with src_engine.connect() as conn, _raw(tgt_engine) as raw:
            if source.engine == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if source.engine == "mysql" and target == "postgresql" and len(st.pk) == 1:
                return _mysql_to_postgres(conn, raw, st, count, partial(_check, cancel, abort))
            batches = _batches(conn, source.engine, st, target, cancel, abort)
            try:
                if target == "postgresql":
                    return _write_postgres(raw, name, st.columns, batches, count)
                if target == "mysql" and mysql_local:
                    return _write_mysql_load(raw, name, st.columns, batches, count)
                return _write_insert(raw, target, name, st.columns, batches, count)
            finally:
                batches.close()  # a writer that failed leaves the source cursor open: close it while we can

    order = sorted(source.tables, key=lambda n: -source.tables[n].estimate)
    workers = 1 if target == "sqlite" else WORKERS
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


def _move_sequences(conn: Connection, target: Engine, source: _Source, progress: Progress) -> None:
    """Every auto-numbered column's next value is the source's (and past the highest id copied)."""
    for st in source.tables.values():
        auto = next((c for c in st.columns if c.autoincrement and c.name in st.pk and len(st.pk) == 1), None)
        if auto is None or target == "sqlite":
            continue
        progress(0, None, "", f"Moving the sequence of {st.name}")
        t, c = quote(target, st.name), quote(target, auto.name)
        top = conn.exec_driver_sql(f"SELECT max({c}) FROM {t}").scalar()
        following = max(int(top or 0) + 1, st.next_id or 0)  # the source's position, never behind the data
        if target == "postgresql":
            conn.execute(
                sa.text("SELECT setval(pg_get_serial_sequence(:t, :c), :v, false)"),
                {"t": t, "c": auto.name, "v": following},
            )
        else:
            conn.exec_driver_sql(f"ALTER TABLE {t} AUTO_INCREMENT = {following}")
