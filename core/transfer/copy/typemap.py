"""What a column becomes on another engine, and why when it is not the obvious twin.

The cross-engine copy picks each target type with :func:`map_column`, which also says *why* when the
target type is not the obvious twin of the source type (an :class:`Adaptation`). The mapping is explicit
on purpose: one table of rules per engine (:class:`_Types` and its three children), every rule a line
with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.types import TypeEngine, UserDefinedType

from ...engines import MYSQL, POSTGRESQL, SQLITE, Engine
from ..reading import ColumnInfo, base_type

#: MySQL's TEXT and BLOB hold only 64 KiB; the LONG variants hold what the other engines hold.
_MYSQL_TEXT = mysql.LONGTEXT(charset="utf8mb4")
_MYSQL_INDEXABLE_TEXT = 255
#: the longest VARCHAR MySQL keeps in utf8mb4
_MYSQL_VARCHAR = 16383

Typed = tuple[TypeEngine[Any], str]


class TimestampTZ(UserDefinedType[Any]):
    """SQLite has no time-zone-aware type; this declared name keeps the intent for the way back."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "TIMESTAMP WITH TIME ZONE"


@dataclass(frozen=True)
class Adaptation:
    """A column whose type changes meaning or shape on the way to another engine."""

    table: str
    column: str
    from_type: str
    to_type: str
    why: str

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.table != "*" else f"all {self.column}"
        return f"{where}: {self.from_type} → {self.to_type} ({self.why})"


def _sized(size: int) -> TypeEngine[Any]:
    return {2: sa.SmallInteger(), 4: sa.Integer(), 8: sa.BigInteger()}[size]


def _is_interval(t: TypeEngine[Any]) -> bool:
    return isinstance(t, sa.Interval | postgresql.INTERVAL)


class _Types:
    """One engine's types, as a target (the methods) and as a source (the notes). The defaults are what
    PostgreSQL and SQLite share."""

    #: as a source: why booleans change shape on another engine
    bool_source_note = ""
    #: as a source: why its time-zone-aware values need no conversion on PostgreSQL
    utc_source_note = ""
    #: as a source: its REAL is 8 bytes (a double), whatever the declared name
    real_is_double = False

    def boolean(self, source: _Types) -> Typed:
        return sa.Boolean(), source.bool_source_note

    def integer(self, type_: TypeEngine[Any], size: int, unsigned: bool, why: str) -> Typed:
        if size == 16:
            return sa.Numeric(20, 0), "BIGINT UNSIGNED exceeds every signed integer: stored as NUMERIC(20,0)"
        return _sized(size), why

    def real(self) -> TypeEngine[Any]:
        return sa.REAL()

    def double(self) -> TypeEngine[Any]:
        raise NotImplementedError

    def decimal(self, precision: int | None, scale: int | None) -> Typed:
        return sa.Numeric(precision, scale), ""

    def datetime(self) -> TypeEngine[Any]:
        return sa.DateTime()

    def datetime_tz(self, source: _Types) -> Typed:
        raise NotImplementedError

    def time(self, t: TypeEngine[Any], wide: bool) -> Typed:
        why = "interval: stored as its duration text ([-]HH:MM:SS.ffffff, months as 30 days)" if _is_interval(t) else ""
        return sa.Time(), why

    def json(self) -> Typed:
        return sa.JSON(), ""

    def binary(self, t: TypeEngine[Any], indexed: bool) -> TypeEngine[Any]:
        return sa.LargeBinary()

    def varchar(self, length: int) -> Typed:
        return sa.String(length), ""

    def unbounded(self, indexed: bool) -> TypeEngine[Any]:
        return sa.Text()

    def unbounded_indexed(self) -> Typed | None:
        """Unbounded text in a key or index, where the engine cannot index it (else None)."""
        return None

    def auto_key(self, new: TypeEngine[Any]) -> TypeEngine[Any]:
        """The type of an auto-numbered key."""
        return new


class _PostgreSQLTypes(_Types):
    def double(self) -> TypeEngine[Any]:
        return postgresql.DOUBLE_PRECISION()

    def datetime_tz(self, source: _Types) -> Typed:
        return postgresql.TIMESTAMP(timezone=True), source.utc_source_note

    def time(self, t: TypeEngine[Any], wide: bool) -> Typed:
        if wide:
            return postgresql.INTERVAL(), (
                "holds durations beyond 24 hours or negative, which a PostgreSQL time cannot: interval"
            )
        return (postgresql.INTERVAL(), "") if _is_interval(t) else (sa.Time(), "")

    def json(self) -> Typed:
        return postgresql.JSONB(), "jsonb: keys are stored sorted and duplicate keys keep the last value"

    def binary(self, t: TypeEngine[Any], indexed: bool) -> TypeEngine[Any]:
        return postgresql.BYTEA()


class _MySQLTypes(_Types):
    bool_source_note = "MySQL stores booleans as TINYINT(1)"
    utc_source_note = "MySQL TIMESTAMP holds UTC instants"

    def boolean(self, source: _Types) -> Typed:
        return sa.Boolean(), "MySQL has no boolean type: TINYINT(1) holding 0/1"

    def integer(self, type_: TypeEngine[Any], size: int, unsigned: bool, why: str) -> Typed:
        if size == 16 or unsigned:
            return super().integer(type_, size, unsigned, why)
        if isinstance(type_, mysql.TINYINT | mysql.MEDIUMINT):
            return type_, ""
        return _sized(size), why

    def real(self) -> TypeEngine[Any]:
        return mysql.FLOAT()

    def double(self) -> TypeEngine[Any]:
        return mysql.DOUBLE()

    def decimal(self, precision: int | None, scale: int | None) -> Typed:
        if precision is None:
            return sa.Numeric(65, 30), "unbounded NUMERIC: MySQL's widest DECIMAL(65,30)"
        if precision > 65:
            return sa.Numeric(65, min(scale or 0, 30)), "MySQL DECIMAL holds at most 65 digits"
        return sa.Numeric(precision, scale), ""

    def datetime(self) -> TypeEngine[Any]:
        return mysql.DATETIME(fsp=6)

    def datetime_tz(self, source: _Types) -> Typed:
        return mysql.DATETIME(fsp=6), "MySQL has no time-zone-aware type: values stored in UTC"

    def time(self, t: TypeEngine[Any], wide: bool) -> Typed:
        why = "interval: MySQL TIME (a signed duration up to 838:59:59, no months or days)" if _is_interval(t) else ""
        return mysql.TIME(fsp=6), why

    def binary(self, t: TypeEngine[Any], indexed: bool) -> TypeEngine[Any]:
        length = getattr(t, "length", None)
        return mysql.VARBINARY(length) if length and indexed else mysql.LONGBLOB()

    def varchar(self, length: int) -> Typed:
        if length > _MYSQL_VARCHAR:
            return _MYSQL_TEXT, "longer than MySQL's VARCHAR in utf8mb4: LONGTEXT"
        return sa.String(length), ""

    def unbounded(self, indexed: bool) -> TypeEngine[Any]:
        return sa.String(_MYSQL_INDEXABLE_TEXT) if indexed else _MYSQL_TEXT

    def unbounded_indexed(self) -> Typed | None:
        return sa.String(_MYSQL_INDEXABLE_TEXT), "MySQL cannot index unbounded text: VARCHAR(255)"


class _SQLiteTypes(_Types):
    real_is_double = True

    def integer(self, type_: TypeEngine[Any], size: int, unsigned: bool, why: str) -> Typed:
        if size == 16:
            return sa.String(20), "BIGINT UNSIGNED exceeds SQLite's 64-bit integers: stored as its decimal text"
        return super().integer(type_, size, unsigned, why)

    def double(self) -> TypeEngine[Any]:
        return sa.REAL()

    def decimal(self, precision: int | None, scale: int | None) -> Typed:
        if precision is None or precision > 15:
            return sa.Text(), "more digits than SQLite's 8-byte floats keep: stored exactly, as decimal text"
        return sa.Numeric(precision, scale), "SQLite keeps decimals as 8-byte floats (about 15 significant digits)"

    def datetime_tz(self, source: _Types) -> Typed:
        return TimestampTZ(), "SQLite stores it as text with its UTC offset"

    def auto_key(self, new: TypeEngine[Any]) -> TypeEngine[Any]:
        return sa.Integer()  # only INTEGER PRIMARY KEY is SQLite's auto-numbered rowid


#: the type rules of each engine
_TYPES: dict[Engine, _Types] = {POSTGRESQL: _PostgreSQLTypes(), MYSQL: _MySQLTypes(), SQLITE: _SQLiteTypes()}


def _int_type(type_: TypeEngine[Any], target: _Types) -> Typed:
    """Integers keep their width; MySQL's unsigned ones widen to the next signed size."""
    unsigned = bool(getattr(type_, "unsigned", False))
    order = [mysql.TINYINT, sa.SmallInteger, mysql.MEDIUMINT, sa.BigInteger, sa.Integer]
    width = next((i for i, cls in enumerate(order) if isinstance(type_, cls)), 4)
    size = {0: 1, 1: 2, 2: 3, 3: 8, 4: 4}[width]
    if unsigned:
        size = {1: 2, 2: 4, 3: 4, 4: 8, 8: 16}[size]
    elif size in (1, 3):
        size = {1: 2, 3: 4}[size]
    why = "unsigned values need the next signed size" if unsigned else ""
    return target.integer(type_, size, unsigned, why)


def map_column(
    table: str, col: ColumnInfo, source: Engine, target: Engine, *, indexed: bool, wide_time: bool = False
) -> tuple[TypeEngine[Any], Adaptation | None]:
    """The target type for ``col`` and, when it is not a faithful twin, an :class:`Adaptation` saying why.

    ``indexed`` says whether the column is in a key or index (MySQL cannot index unbounded text);
    ``wide_time`` that a time column holds values a time of day cannot (MySQL TIME beyond 24 hours, or
    negative): PostgreSQL gets an ``interval``.
    """
    to, of = _TYPES[target], _TYPES[source]
    t = base_type(col.type)
    why = ""
    new: TypeEngine[Any]
    if isinstance(col.type, postgresql.DOMAIN):
        why = f"domain {col.type.name}: its base type (its CHECK is listed apart)"
    if col.spatial:
        new = to.unbounded(indexed)
        why = (
            f"{col.declared}: carried as its WKT text (ST_AsText); the SRID, the spatial type and spatial "
            f"functions are not: {target} has no such type here"
        )
        return new, Adaptation(table, col.name, col.declared, target.render_type(new), why)
    note = ""  # a rule's reason; a domain's keeps its own where the rule has none
    if col.kind == "bool":
        new, note = to.boolean(of)
    elif col.kind == "int":
        new, why = _int_type(t, to)
        if getattr(t, "zerofill", False):
            why = "ZEROFILL pads only the display: the values are carried, the padding is not" + (
                f"; {why}" if why else ""
            )
    elif col.kind == "float":
        single = isinstance(t, sa.REAL | mysql.FLOAT) and not isinstance(t, mysql.DOUBLE) and not of.real_is_double
        new = to.real() if single else to.double()
    elif col.kind == "decimal":
        new, note = to.decimal(getattr(t, "precision", None), getattr(t, "scale", None))
    elif col.kind == "datetime":
        new = to.datetime()
    elif col.kind == "datetime_tz":
        new, note = to.datetime_tz(of)
    elif col.kind == "date":
        new = sa.Date()
    elif col.kind == "time":
        new, note = to.time(t, wide_time)
    elif col.kind == "json":
        new, note = to.json()
    elif col.kind == "bytes":
        new = to.binary(t, indexed)
    else:  # text and everything without a twin
        new, why = _text_type(col, to, target, indexed)
    if col.autoincrement:
        new = to.auto_key(new)
    why = note or why
    if not why:
        return new, None
    return new, Adaptation(table, col.name, col.declared, target.render_type(new), why)


def _text_type(col: ColumnInfo, to: _Types, target: Engine, indexed: bool) -> Typed:
    t = base_type(col.type)
    length = getattr(t, "length", None)
    why = ""
    if col.enum_values:
        width = max((len(v) for v in col.enum_values), default=1)
        return sa.String(width), "ENUM: text with a check constraint listing its values"
    if not isinstance(t, sa.String):
        why = f"no {type(t).__name__} type on {target}: stored as its text form"
        length = None
    elif isinstance(t, mysql.SET):
        return to.unbounded(indexed), "SET: stored as its comma-separated text"
    if isinstance(t, sa.CHAR | sa.NCHAR) and length:
        return sa.CHAR(length), why
    if length:
        new, longer = to.varchar(length)
        return new, longer or why
    keyed = to.unbounded_indexed() if indexed else None
    if keyed is not None:
        return keyed[0], why or keyed[1]
    return to.unbounded(indexed), why
