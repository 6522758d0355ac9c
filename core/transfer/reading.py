"""Reading a database for transfer work: its columns (with an engine-neutral kind each) and its rows.

Reflection (SQLAlchemy's inspector, plus the catalog where the inspector is silent, e.g. MariaDB's JSON
columns, which are ``LONGTEXT`` with a ``json_valid`` check) gives each column a :data:`Kind`: the
engine-neutral family its values belong to. Kinds drive verification (:mod:`.verify`, every value of a
kind rendered the same way on every engine) and the cross-engine copy (:mod:`.copy.typemap`).
:func:`read_batches` streams a table's rows with flat memory, whatever the engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine, UserDefinedType

from .. import engines
from ..engines import table_key

Kind = Literal["bool", "int", "decimal", "float", "text", "bytes", "date", "time", "datetime", "datetime_tz", "json"]


class Geometry(UserDefinedType[Any]):
    """A MariaDB/MySQL spatial column (GEOMETRY, POINT, POLYGON, ...), which SQLAlchemy does not reflect.

    Its values are read as their WKT text (``ST_AsText``) wherever they are verified or copied to another
    engine; a same-engine backup carries them as they are.
    """

    cache_ok = True
    type_name = "GEOMETRY"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__()

    def get_col_spec(self, **kw: Any) -> str:
        return self.type_name


SPATIAL_TYPES = (
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
)


for _name in SPATIAL_TYPES:
    # Registered once, like GeoAlchemy does: reflection then knows the spatial types instead of warning.
    mysql.base.ischema_names.setdefault(
        _name, type(f"Geometry_{_name}", (Geometry,), {"type_name": _name.upper(), "cache_ok": True})
    )


@dataclass(frozen=True)
class ColumnInfo:
    """One reflected column: its name, reflected type, engine-neutral kind and key facts."""

    name: str
    type: TypeEngine[Any]
    kind: Kind
    nullable: bool
    autoincrement: bool
    #: declared type text as the source engine shows it (for reports)
    declared: str
    #: the allowed values of an ENUM, else empty
    enum_values: tuple[str, ...] = ()
    #: decimal scale when known (kind ``decimal``)
    scale: int | None = None

    @property
    def spatial(self) -> bool:
        """A MariaDB/MySQL spatial column: read as WKT text (kind ``text``)."""
        return isinstance(self.type, Geometry)


def kind_of(type_: TypeEngine[Any], *, declared: str = "", json_check: bool = False) -> Kind:
    """The engine-neutral kind of a reflected type (``declared``: the type text the schema declares)."""
    type_ = base_type(type_)
    if json_check or isinstance(type_, sa.JSON):
        return "json"
    if isinstance(type_, sa.Boolean):
        return "bool"
    if isinstance(type_, mysql.TINYINT) and type_.display_width == 1:
        return "bool"
    if isinstance(type_, mysql.BIT) and (type_.length or 1) == 1:
        return "bool"
    if isinstance(type_, sa.Integer):
        return "int"
    if isinstance(type_, sa.Float):
        return "float"
    if isinstance(type_, sa.Numeric):
        if re.search(r"TIME ?ZONE|TIMESTAMPTZ", declared, re.I):  # SQLite: a declared name, numeric affinity
            return "datetime_tz"
        return "decimal"
    if isinstance(type_, mysql.TIMESTAMP):
        return "datetime_tz"  # stored as UTC instants; read with the session in UTC
    if isinstance(type_, sa.DateTime):
        return "datetime_tz" if getattr(type_, "timezone", False) else "datetime"
    if isinstance(type_, sa.Date):
        return "date"
    if isinstance(type_, sa.Time | sa.Interval | postgresql.INTERVAL):
        return "time"  # an interval is a signed duration, like MySQL's TIME (which goes past 24 hours)
    if isinstance(type_, sa.LargeBinary | sa.types._Binary):
        return "bytes"
    return "text"


def base_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """A PostgreSQL domain's underlying type (domains of domains too); any other type as it is."""
    while isinstance(type_, postgresql.DOMAIN):
        type_ = type_.data_type
    return type_


def reflect_tables(
    conn: Connection, tables: list[str] | None = None, *, every_schema: bool = False
) -> dict[str, list[ColumnInfo]]:
    """Every base table (or the ones named) with its columns, in the engine's column order.

    With ``every_schema``, the tables of the other schemas too (PostgreSQL), keyed ``schema.table``: what a
    same-engine backup carries, so what verification must check.
    """
    engine = engines.of(conn)
    inspector = sa.inspect(conn)
    located: list[tuple[str | None, str]] = [(None, n) for n in inspector.get_table_names()]
    if every_schema:
        for schema_name in engine.other_schemas(conn):
            located += [(schema_name, n) for n in inspector.get_table_names(schema=schema_name)]
    located.sort(key=lambda item: table_key(*item))
    if tables is not None:
        wanted = set(tables)
        located = [item for item in located if table_key(*item) in wanted]
    names = [table_key(*item) for item in located]
    where = {table_key(*item): item for item in located}
    json_checks = engine.json_columns(conn)
    declared_types = engine.declared_types(conn, names)
    result: dict[str, list[ColumnInfo]] = {}
    for name in names:
        in_schema, bare = where[name]
        pk = inspector.get_pk_constraint(bare, schema=in_schema)["constrained_columns"]
        single_key = pk[0] if len(pk) == 1 else None
        cols = []
        for col in inspector.get_columns(bare, schema=in_schema):
            declared = declared_types.get((name, col["name"]), "") or engine.render_type(col["type"])
            is_json = (name, col["name"]) in json_checks
            kind = kind_of(col["type"], declared=declared, json_check=is_json)
            if is_json:
                declared = "JSON"
            auto = kind == "int" and engine.auto_numbered(dict(col), declared, single_key)
            type_ = col["type"]
            cols.append(
                ColumnInfo(
                    name=col["name"],
                    type=type_,
                    kind=kind,
                    nullable=bool(col["nullable"]),
                    autoincrement=auto,
                    declared=declared,
                    enum_values=tuple(getattr(type_, "enums", ()) or ()) if isinstance(type_, sa.Enum) else (),
                    scale=getattr(type_, "scale", None) if kind == "decimal" else None,
                )
            )
        result[name] = cols
    return result


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
    engine = engines.of(conn)
    t = engine.quote_table(table)
    size = _BatchSize(batch_rows)
    if not engine.streams_reads and pk:
        keys = [engine.quote(c) for c in pk]
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
    cursor = engine.reading_cursor(raw)
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


def versioned_tables(conn: Connection) -> list[str]:
    """The tables of the connection's database created WITH SYSTEM VERSIONING (MariaDB)."""
    return [
        str(name)
        for (name,) in conn.exec_driver_sql(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_TYPE = 'SYSTEM VERSIONED' ORDER BY TABLE_NAME"
        )
    ]


def versioned_refusal(tables: list[str]) -> str:
    """Why a database with system-versioned ``tables`` is not copied, and the ways out."""
    names = ", ".join(tables)
    first = engines.MYSQL.quote(tables[0])
    return (
        f"{names} {'is' if len(tables) == 1 else 'are'} WITH SYSTEM VERSIONING: Changeover copies a table's "
        "current rows, not its history, so the history would be lost (and the copy would not match the "
        f"source). If the history may go, drop the versioning first (ALTER TABLE {first} DROP SYSTEM "
        "VERSIONING); to keep it, copy this database with mariadb-dump --dump-history instead."
    )
