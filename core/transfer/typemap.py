"""What a column *is* on each engine, and what it becomes on another.

Reflection (SQLAlchemy's inspector, plus the catalog where the inspector is silent, e.g. MariaDB's JSON
columns, which are ``LONGTEXT`` with a ``json_valid`` check) gives each column a :data:`Kind`: the
engine-neutral family its values belong to. Kinds drive two things:

* verification (:mod:`.verify`) renders every value of a kind the same way on every engine;
* the cross-engine copy (:mod:`.crossengine`) picks the target type with :func:`map_column`, which also
  says *why* when the target type is not the obvious twin of the source type (an :class:`Adaptation`).

The mapping is explicit on purpose: every rule is a line below, with its reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine, UserDefinedType

Engine = Literal["postgresql", "mysql", "sqlite"]
Kind = Literal["bool", "int", "decimal", "float", "text", "bytes", "date", "time", "datetime", "datetime_tz", "json"]

#: MySQL's TEXT and BLOB hold only 64 KiB; the LONG variants hold what the other engines hold.
_MYSQL_TEXT = mysql.LONGTEXT(charset="utf8mb4")
_MYSQL_INDEXABLE_TEXT = 255


def engine_of(conn_or_url: Connection | sa.engine.URL | str) -> Engine:
    """The engine family of a connection or URL: ``postgresql``, ``mysql`` (MariaDB too) or ``sqlite``."""
    if isinstance(conn_or_url, Connection):
        name = conn_or_url.dialect.name
    else:
        name = sa.engine.make_url(conn_or_url).get_backend_name()
    if name in ("postgresql", "postgres"):
        return "postgresql"
    if name in ("mysql", "mariadb"):
        return "mysql"
    if name == "sqlite":
        return "sqlite"
    raise ValueError(f"Unsupported database engine {name!r}: Changeover copies PostgreSQL, MariaDB/MySQL and SQLite.")


class TimestampTZ(UserDefinedType[Any]):
    """SQLite has no time-zone-aware type; this declared name keeps the intent for the way back."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "TIMESTAMP WITH TIME ZONE"


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


def dialect_for(engine: Engine) -> sa.engine.Dialect:
    """The SQLAlchemy dialect that renders DDL for ``engine`` (no connection needed)."""
    if engine == "postgresql":
        return postgresql.dialect()  # type: ignore[no-untyped-call]
    if engine == "mysql":
        return mysql.dialect()
    return sqlite.dialect()


def _declared(type_: TypeEngine[Any], engine: Engine) -> str:
    try:
        return str(type_.compile(dialect=dialect_for(engine)))
    except Exception:  # noqa: BLE001 - a type the dialect cannot render (NullType): show its class
        return type(type_).__name__


def kind_of(type_: TypeEngine[Any], engine: Engine, *, declared: str = "", json_check: bool = False) -> Kind:
    """The engine-neutral kind of a reflected type (``declared`` is SQLite's declared type text)."""
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
        if engine == "sqlite" and re.search(r"TIME ?ZONE|TIMESTAMPTZ", declared, re.I):
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


def _pg_other_schemas(conn: Connection) -> list[str]:
    """The PostgreSQL schemas, other than the current one, that hold user tables."""
    rows = conn.execute(
        sa.text(
            "SELECT nspname FROM pg_namespace WHERE nspname <> current_schema() "
            "AND nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%' ORDER BY 1"
        )
    ).all()
    return [str(r[0]) for r in rows]


def table_key(schema: str | None, table: str) -> str:
    """How a table is named throughout: bare in the current schema, ``schema.table`` in another one."""
    return f"{schema}.{table}" if schema else table


def split_key(key: str) -> tuple[str | None, str]:
    schema, dot, table = key.partition(".")
    return (schema, table) if dot else (None, key)


def quote_table(engine: Engine, key: str) -> str:
    """A table key (see :func:`table_key`) quoted for ``engine``: ``"schema"."table"`` for another schema."""
    schema, table = split_key(key) if engine == "postgresql" else (None, key)
    return (quote(engine, schema) + "." if schema else "") + quote(engine, table)


def reflect_tables(
    conn: Connection, tables: list[str] | None = None, *, every_schema: bool = False
) -> dict[str, list[ColumnInfo]]:
    """Every base table (or the ones named) with its columns, in the engine's column order.

    With ``every_schema``, PostgreSQL tables of the other schemas too, keyed ``schema.table``: what a
    same-engine backup carries, so what verification must check.
    """
    engine = engine_of(conn)
    inspector = sa.inspect(conn)
    located: list[tuple[str | None, str]] = [(None, n) for n in inspector.get_table_names()]
    if every_schema and engine == "postgresql":
        for schema_name in _pg_other_schemas(conn):
            located += [(schema_name, n) for n in inspector.get_table_names(schema=schema_name)]
    located.sort(key=lambda item: table_key(*item))
    if tables is not None:
        wanted = set(tables)
        located = [item for item in located if table_key(*item) in wanted]
    names = [table_key(*item) for item in located]
    where = {table_key(*item): item for item in located}
    json_checks = _mysql_json_columns(conn) if engine == "mysql" else set()
    declared_sqlite = _sqlite_declared(conn, names) if engine == "sqlite" else {}
    pk_single_int: dict[str, str | None] = {}
    result: dict[str, list[ColumnInfo]] = {}
    for name in names:
        in_schema, bare = where[name]
        pk = inspector.get_pk_constraint(bare, schema=in_schema)["constrained_columns"]
        pk_single_int[name] = pk[0] if len(pk) == 1 else None
        cols = []
        for col in inspector.get_columns(bare, schema=in_schema):
            declared = declared_sqlite.get((name, col["name"]), "") or _declared(col["type"], engine)
            is_json = (name, col["name"]) in json_checks
            kind = kind_of(col["type"], engine, declared=declared, json_check=is_json)
            if is_json:
                declared = "JSON"
            auto = bool(col.get("autoincrement")) and kind == "int"
            if engine == "sqlite":
                # INTEGER PRIMARY KEY is the rowid: it takes max(rowid)+1 when no value is given.
                auto = pk_single_int[name] == col["name"] and declared.upper() == "INTEGER"
            elif engine == "postgresql":
                auto = (
                    col.get("default") is not None
                    and "nextval(" in str(col.get("default"))
                    or bool(col.get("identity"))
                )
            elif engine == "mysql":
                auto = auto and pk_single_int[name] == col["name"]
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


def _mysql_json_columns(conn: Connection) -> set[tuple[str, str]]:
    rows = conn.execute(
        sa.text(
            "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = DATABASE() AND CHECK_CLAUSE LIKE 'json_valid(%'"
        )
    ).all()
    found = set()
    for table, clause in rows:
        match = re.fullmatch(r"json_valid\(`([^`]+)`\)", str(clause))
        if match:
            found.add((str(table), match.group(1)))
    return found


def _sqlite_declared(conn: Connection, names: list[str]) -> dict[tuple[str, str], str]:
    declared: dict[tuple[str, str], str] = {}
    for name in names:
        quoted = name.replace('"', '""')
        for row in conn.exec_driver_sql(f'PRAGMA table_info("{quoted}")'):
            declared[(name, str(row[1]))] = str(row[2])
    return declared


def _int_type(type_: TypeEngine[Any], target: Engine) -> tuple[TypeEngine[Any], str]:
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
    if size == 16 and target == "sqlite":
        return sa.String(20), "BIGINT UNSIGNED exceeds SQLite's 64-bit integers: stored as its decimal text"
    if size == 16:
        return sa.Numeric(20, 0), "BIGINT UNSIGNED exceeds every signed integer: stored as NUMERIC(20,0)"
    if target == "mysql" and not unsigned:
        back = {2: sa.SmallInteger(), 4: sa.Integer(), 8: sa.BigInteger()}[size]
        if isinstance(type_, mysql.TINYINT | mysql.MEDIUMINT):
            return type_, ""
        return back, why
    return {2: sa.SmallInteger(), 4: sa.Integer(), 8: sa.BigInteger()}[size], why


def map_column(
    table: str, col: ColumnInfo, source: Engine, target: Engine, *, indexed: bool, wide_time: bool = False
) -> tuple[TypeEngine[Any], Adaptation | None]:
    """The target type for ``col`` and, when it is not a faithful twin, an :class:`Adaptation` saying why.

    ``indexed`` says whether the column is in a key or index (MySQL cannot index unbounded text);
    ``wide_time`` that a time column holds values a time of day cannot (MySQL TIME beyond 24 hours, or
    negative): PostgreSQL gets an ``interval``.
    """
    t = base_type(col.type)
    why = ""
    new: TypeEngine[Any]
    if isinstance(col.type, postgresql.DOMAIN):
        why = f"domain {col.type.name}: its base type (its CHECK is listed apart)"
    if col.spatial:
        new = _unbounded(target, indexed)
        why = (
            f"{col.declared}: carried as its WKT text (ST_AsText); the SRID, the spatial type and spatial "
            f"functions are not: {target} has no such type here"
        )
        return new, Adaptation(table, col.name, col.declared, _declared(new, target), why)
    if col.kind == "bool":
        new = sa.Boolean()
        if source == "mysql":
            why = "MySQL stores booleans as TINYINT(1)" if target != "mysql" else ""
        if target == "mysql" and source != "mysql":
            why = "MySQL has no boolean type: TINYINT(1) holding 0/1"
    elif col.kind == "int":
        new, why = _int_type(t, target)
        if getattr(t, "zerofill", False):
            why = "ZEROFILL pads only the display: the values are carried, the padding is not" + (
                f"; {why}" if why else ""
            )
    elif col.kind == "float":
        single = isinstance(t, sa.REAL | mysql.FLOAT) and not isinstance(t, mysql.DOUBLE)
        if source == "sqlite":
            single = False  # SQLite's REAL is 8 bytes
        if single:
            new = mysql.FLOAT() if target == "mysql" else sa.REAL()
        else:
            doubles: dict[Engine, TypeEngine[Any]] = {
                "mysql": mysql.DOUBLE(),
                "postgresql": postgresql.DOUBLE_PRECISION(),
                "sqlite": sa.REAL(),
            }
            new = doubles[target]
    elif col.kind == "decimal":
        precision, scale = getattr(t, "precision", None), getattr(t, "scale", None)
        if precision is None and target == "mysql":
            new, why = sa.Numeric(65, 30), "unbounded NUMERIC: MySQL's widest DECIMAL(65,30)"
        elif precision is not None and precision > 65 and target == "mysql":
            new, why = sa.Numeric(65, min(scale or 0, 30)), "MySQL DECIMAL holds at most 65 digits"
        elif target == "sqlite" and (precision is None or precision > 15):
            new, why = sa.Text(), "more digits than SQLite's 8-byte floats keep: stored exactly, as decimal text"
        else:
            new = sa.Numeric(precision, scale)
            if target == "sqlite":
                why = "SQLite keeps decimals as 8-byte floats (about 15 significant digits)"
    elif col.kind == "datetime":
        new = mysql.DATETIME(fsp=6) if target == "mysql" else sa.DateTime()
    elif col.kind == "datetime_tz":
        if target == "mysql":
            new, why = mysql.DATETIME(fsp=6), "MySQL has no time-zone-aware type: values stored in UTC"
        elif target == "sqlite":
            new, why = TimestampTZ(), "SQLite stores it as text with its UTC offset"
        else:
            new = postgresql.TIMESTAMP(timezone=True)
            if source == "mysql":
                why = "MySQL TIMESTAMP holds UTC instants"
    elif col.kind == "date":
        new = sa.Date()
    elif col.kind == "time":
        if target == "mysql":
            new = mysql.TIME(fsp=6)
            if isinstance(t, sa.Interval | postgresql.INTERVAL):
                why = "interval: MySQL TIME (a signed duration up to 838:59:59, no months or days)"
        elif target == "postgresql" and (wide_time or isinstance(t, sa.Interval | postgresql.INTERVAL)):
            new = postgresql.INTERVAL()
            if wide_time:
                why = "holds durations beyond 24 hours or negative, which a PostgreSQL time cannot: interval"
        else:
            new = sa.Time()
            if isinstance(t, sa.Interval | postgresql.INTERVAL):
                why = "interval: stored as its duration text ([-]HH:MM:SS.ffffff, months as 30 days)"
    elif col.kind == "json":
        new = postgresql.JSONB() if target == "postgresql" else sa.JSON()
        if target == "postgresql":
            why = "jsonb: keys are stored sorted and duplicate keys keep the last value"
    elif col.kind == "bytes":
        if target == "mysql":
            length = getattr(t, "length", None)
            new = mysql.VARBINARY(length) if length and indexed else mysql.LONGBLOB()
        elif target == "postgresql":
            new = postgresql.BYTEA()
        else:
            new = sa.LargeBinary()
    else:  # text and everything without a twin
        new, why = _text_type(col, source, target, indexed)
    if target == "sqlite" and col.autoincrement:
        new = sa.Integer()  # only INTEGER PRIMARY KEY is SQLite's auto-numbered rowid
    if not why:
        return new, None
    return new, Adaptation(table, col.name, col.declared, _declared(new, target), why)


def _text_type(col: ColumnInfo, source: Engine, target: Engine, indexed: bool) -> tuple[TypeEngine[Any], str]:
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
        return _unbounded(target, indexed), "SET: stored as its comma-separated text"
    if isinstance(t, sa.CHAR | sa.NCHAR) and length:
        return sa.CHAR(length), why
    if length:
        if target == "mysql" and length > 16383:
            return _MYSQL_TEXT, "longer than MySQL's VARCHAR in utf8mb4: LONGTEXT"
        return sa.String(length), why
    if target == "mysql" and indexed:
        return sa.String(_MYSQL_INDEXABLE_TEXT), why or "MySQL cannot index unbounded text: VARCHAR(255)"
    return _unbounded(target, indexed), why


def _unbounded(target: Engine, indexed: bool) -> TypeEngine[Any]:
    if target == "mysql":
        return sa.String(_MYSQL_INDEXABLE_TEXT) if indexed else _MYSQL_TEXT
    return sa.Text()


def open_engine(url: sa.engine.URL | str, **kw: Any) -> sa.Engine:
    """An engine with the session settings transfer work relies on.

    MySQL sessions run in UTC (so ``TIMESTAMP`` values read and write as UTC instants) with utf8mb4 and
    ``LOAD DATA LOCAL`` allowed on the client side; nothing is pooled beyond what one job uses.
    """
    url = sa.engine.make_url(url)
    engine = engine_of(url)
    connect_args: dict[str, Any] = {}
    if engine == "mysql":
        connect_args = {"init_command": "SET time_zone = '+00:00'", "charset": "utf8mb4", "local_infile": True}
    elif engine == "postgresql":
        connect_args = {"options": "-c timezone=UTC"}
    return sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool, **kw)


def display_url(url: sa.engine.URL | str) -> str:
    """A URL for messages: the password, if any, shown as ``•••``."""
    url = sa.engine.make_url(url)
    text = url.render_as_string(hide_password=True)
    return text.replace(":***@", ":•••@") if url.password else text


def select_expression(engine: Engine, col: ColumnInfo) -> str:
    """What to SELECT to read ``col``'s values in their engine-neutral form (spatial values as WKT)."""
    q = quote(engine, col.name)
    return f"ST_AsText({q})" if engine == "mysql" and col.spatial else q


def quote(engine: Engine, name: str) -> str:
    """An identifier quoted for ``engine``."""
    if engine == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'
