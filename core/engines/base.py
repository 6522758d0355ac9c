"""What every database engine answers, and the few rules that are the same for all of them.

An :class:`Engine` is one object per database engine (PostgreSQL, MariaDB/MySQL, SQLite), like a
SQLAlchemy dialect: the driver Changeover ships, identifier quoting, session settings, catalog reads
(describe, contents, row estimates, sessions of others), sequences, checksum field expressions and what
cannot be carried to another engine. The rest of Changeover asks the engine object instead of comparing
engine names. One rule for all: a driver error is shown by its first line (:func:`driver_message`), a URL
by :func:`display_url` (password as ``•••``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..errors import ChangeoverError, Conflict
from ..hooks import redact

EngineName = Literal["postgresql", "mysql", "sqlite"]

MASK = "•••"
#: query parameters of a URL that hold a secret (shown masked): handles' rule, plus libpq's ``sslpassword``
_SECRET_PARAM = re.compile(r"(^|_|ssl)(key|apikey|api_key|token|secret|password|passwd|pass|signature|sig)$", re.I)

#: PostgreSQL's ±infinity and MariaDB's zero dates have no twin on the other engine: a copy stores them as
#: the extremes every engine holds (date, timestamp), and verification renders them so on every side
FAR_FUTURE = ("9999-12-31", "9999-12-31 23:59:59.999999")
FAR_PAST = ("0001-01-01", "0001-01-01 00:00:00.000000")


class ProviderError(ChangeoverError):
    """A server refused or failed an operation (connect, create, drop, describe)."""

    title = "Database server problem"


class TargetNotEmpty(Conflict):
    """A load was aimed at a database that already holds something."""

    title = "Target database is not empty"


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int  # an estimate from the catalog
    size_bytes: int = 0


@dataclass(frozen=True)
class DatabaseInfo:
    engine: str  # postgresql | mysql | sqlite
    server_version: str
    size_bytes: int
    tables: tuple[TableInfo, ...]

    @property
    def estimated_rows(self) -> int:
        return sum(t.rows for t in self.tables)


@dataclass(frozen=True)
class OtherSession:
    """Someone else's session on a database, as the server lists it."""

    id: str
    user: str
    client: str
    application: str = ""
    state: str = ""


@dataclass(frozen=True)
class SequenceState:
    """One sequence object of a database (PostgreSQL or MariaDB ``CREATE SEQUENCE``), owned or not.

    ``next_value`` is the value its next ``nextval`` hands out (MariaDB: the first value not cached yet,
    which is what a restarted server, or a loaded copy, hands out next), ``increment`` its step.
    """

    name: str
    next_value: int
    increment: int


class Column(Protocol):
    """What the engine needs to know of a reflected column (see ``transfer.reflect.ColumnInfo``)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def spatial(self) -> bool: ...
    @property
    def scale(self) -> int | None: ...


def driver_message(exc: BaseException) -> str:
    """The first line of a driver error's own text: never the SQL statement or its parameters."""
    orig = getattr(exc, "orig", None) or exc
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    text = str(args[1]) if len(args) >= 2 and isinstance(args[0], int) else str(orig)
    return (text.strip().splitlines() or [type(orig).__name__])[0][:300]


def url_secrets(url: URL) -> tuple[str, ...]:
    """The secrets a URL holds (its password), for redacting messages."""
    return tuple(s for s in [url.password] if isinstance(s, str) and s)


def display_url(url: URL | str) -> str:
    """A URL for messages, reports and manifests: the engine's scheme without driver, every secret as ``•••``."""
    url = sa.engine.make_url(url)
    url = url.set(drivername=url.get_backend_name())
    hidden = "changeover-secret-hidden"
    if any(_SECRET_PARAM.search(k) for k in url.query):
        url = url.set(query={k: (hidden if _SECRET_PARAM.search(k) else v) for k, v in url.query.items()})
    text = url.set(password=hidden if url.password else None).render_as_string(hide_password=False)
    return text.replace(hidden, MASK)


def table_key(schema: str | None, table: str) -> str:
    """How a table is named throughout: bare in the current schema, ``schema.table`` in another one."""
    return f"{schema}.{table}" if schema else table


def split_key(key: str) -> tuple[str | None, str]:
    schema, dot, table = key.partition(".")
    return (schema, table) if dot else (None, key)


class Engine:
    """One database engine. Subclasses fill in the class attributes and the catalog reads."""

    name: ClassVar[EngineName]
    #: how the engine is named to people
    label: ClassVar[str]
    #: an admin handle to show as an example where a server is registered ("" for a folder of files)
    admin_example: ClassVar[str] = ""
    #: the SQLAlchemy driver Changeover ships for it
    driver: ClassVar[str]
    #: URL backend names that mean this engine
    backends: ClassVar[tuple[str, ...]]
    #: identifier quote character
    quote_char: ClassVar[str] = '"'
    #: whether the engine has sequence objects
    has_sequences: ClassVar[bool] = False
    #: whether table keys carry a schema (``schema.table``)
    has_schemas: ClassVar[bool] = False
    #: the statement that makes a transaction one consistent, read-only snapshot (None: the engine has none)
    snapshot_sql: ClassVar[str | None] = None
    #: the parameter marker of the driver's own cursor
    paramstyle_marker: ClassVar[str] = "%s"
    #: how the engine's bulk load path is named in reports
    bulk_path: ClassVar[str] = ""
    # What the driver hands over and takes (the copy's value conversions ask these):
    #: dates, times, decimals as Python objects (SQLite: as text and numbers)
    driver_typed: ClassVar[bool] = True
    #: booleans as ``bool`` and times as ``time``
    gives_bools: ClassVar[bool] = False
    gives_times: ClassVar[bool] = False
    #: TIME values as ``timedelta`` (MySQL's TIME is a duration) and BIT(1) as bytes
    times_as_durations: ClassVar[bool] = False
    bits_as_bytes: ClassVar[bool] = False
    #: time-zone-aware values stored as naive UTC (MySQL DATETIME)
    naive_datetimes: ClassVar[bool] = False
    #: the bulk path parses each value's text by its column type (PostgreSQL's COPY): values go as read
    loads_text: ClassVar[bool] = False
    #: PostgreSQL's ±infinity: an engine that keeps infinite dates
    has_infinity: ClassVar[bool] = False
    #: the longest identifier the engine keeps, in UTF-8 bytes (None: no limit Changeover needs to mind)
    name_bytes: ClassVar[int | None] = None
    #: the collation text columns get on this engine as a copy's target (None: the engine's own rules)
    binary_collation: ClassVar[str | None] = None
    #: True where index names share one namespace per database and the copy names them itself (SQLite)
    names_indexes: ClassVar[bool] = False
    #: True where the catalog's list of what is not carried already names its special (full-text, spatial)
    #: indexes (MariaDB)
    lists_special_indexes: ClassVar[bool] = False
    #: a database is a file (SQLite): no server, no users, a folder where a server would be
    file_based: ClassVar[bool] = False
    #: False where the engine has no sessions to list (SQLite)
    has_sessions: ClassVar[bool] = True
    #: False where constraints cannot be added to a table after it was made (SQLite): made with the table
    alters_constraints: ClassVar[bool] = True
    #: False where one writer at a time is all the engine takes (SQLite)
    parallel_writes: ClassVar[bool] = True
    #: False where a half-read stream blocks the connection (MySQL): reads page along the primary key
    streams_reads: ClassVar[bool] = True

    def __repr__(self) -> str:
        return f"<engine {self.name}>"

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        """An engine equals itself and its name (``"mysql"``), so reports and tables keyed by name still match."""
        if isinstance(other, str):
            return other == self.name
        return other is self

    def __hash__(self) -> int:
        return hash(self.name)

    # ------------------------------------------------------------------------------------- names and URLs

    def quote(self, name: str) -> str:
        """An identifier quoted for this engine."""
        q = self.quote_char
        return q + name.replace(q, q + q) + q

    def quote_table(self, key: str) -> str:
        """A table key (see :func:`table_key`) quoted: ``"schema"."table"`` for another schema."""
        schema, table = split_key(key) if self.has_schemas else (None, key)
        return (self.quote(schema) + "." if schema else "") + self.quote(table)

    def url(self, url: URL | str) -> URL:
        """``url`` with the driver Changeover ships."""
        return sa.engine.make_url(url).set(drivername=self.driver)

    def dialect(self) -> sa.engine.Dialect:
        """The SQLAlchemy dialect that renders DDL for this engine (no connection needed)."""
        raise NotImplementedError

    def bool_literal(self, value: bool) -> str:
        """A boolean as a literal of this engine (a default, a check)."""
        return "1" if value else "0"

    def nextval_sql(self, sequence: str) -> str:
        """A column default drawing from ``sequence`` (engines with sequences)."""
        raise NotImplementedError

    def table_options(self) -> dict[str, Any]:
        """SQLAlchemy ``Table`` keyword options for the tables a copy makes on this engine."""
        return {}

    def plain_check(self, sql: str) -> str:
        """A CHECK clause of this engine with its own casting syntax taken out (the rest is judged portable
        or not by the copy)."""
        return sql

    def render_type(self, type_: sa.types.TypeEngine[Any]) -> str:
        """A column type as this engine declares it (its class name when the dialect cannot render it)."""
        try:
            return str(type_.compile(dialect=self.dialect()))
        except Exception:  # noqa: BLE001 - a type the dialect cannot render (NullType): show its class
            return type(type_).__name__

    # ---------------------------------------------------------------------------------------- sessions

    def admin_args(self) -> dict[str, Any]:
        """Driver arguments for a short admin or catalog connection."""
        return {}

    def session_args(self) -> dict[str, Any]:
        """Driver arguments of a transfer session (time zone in UTC, character set...)."""
        return {}

    def open(self, url: URL | str, **kw: Any) -> sa.Engine:
        """An engine with the session settings transfer work relies on; nothing pooled beyond one job."""
        return sa.create_engine(
            sa.engine.make_url(url), connect_args=self.session_args(), poolclass=sa.pool.NullPool, **kw
        )

    @contextmanager
    def connect(self, url: URL, doing: str, *, autocommit: bool = False) -> Iterator[sa.Connection]:
        """A short-lived connection; driver errors become :class:`ProviderError` saying what failed (redacted)."""
        engine = sa.create_engine(
            self.url(url),
            poolclass=sa.NullPool,
            connect_args=self.admin_args(),
            **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
        )
        try:
            with engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            message = redact(driver_message(exc), url_secrets(url))
            raise ProviderError(f"{self.label} could not {doing}: {message}") from None
        finally:
            engine.dispose()

    def bulk_path_on(self, conn: sa.Connection) -> str:
        """How rows are loaded into this server, as reports name it (a server setting may rule out the fast path)."""
        return self.bulk_path

    def probe(self, url: URL, timeout: float) -> sa.Engine:
        """An engine for a quick reachability check that never creates or changes anything; raises
        :class:`ProviderError` when there is plainly nothing to reach."""
        return sa.create_engine(self.url(url), connect_args={"connect_timeout": int(timeout)}, poolclass=sa.NullPool)

    def begin_snapshot(self, conn: sa.Connection) -> None:
        """Start a consistent read-only snapshot on ``conn`` where the engine has one."""
        if self.snapshot_sql:
            conn.exec_driver_sql(self.snapshot_sql)

    def other_sessions(self, conn: sa.Connection, database: str | None = None) -> list[OtherSession]:
        """Sessions on ``database`` (None: the connection's database, of its own user only) other than ours."""
        return []

    def last_changes(self, conn: sa.Connection) -> tuple[str, dict[str, str | None]] | None:
        """The server's clock now and when each table of the connection's database last changed, both in UTC
        to the second (None: never since the server started), where the server keeps that exactly; else None."""
        return None

    # ----------------------------------------------------------------------------------------- catalog

    def describe(self, url: URL) -> DatabaseInfo:
        """Server version, size in bytes and tables with estimated row counts, from the catalog."""
        raise NotImplementedError

    def contents(self, url: URL) -> list[str]:
        """What the database holds (``table x``, ``view y``, ``routine z``...); empty when nothing."""
        raise NotImplementedError

    def other_schemas(self, conn: sa.Connection) -> list[str]:
        """Schemas other than the current one that hold user tables (engines without schemas: none)."""
        return []

    def declared_types(self, conn: sa.Connection, tables: list[str]) -> dict[tuple[str, str], str]:
        """(table, column) -> the type text the schema declares, where reflection loses it (SQLite)."""
        return {}

    def json_columns(self, conn: sa.Connection) -> set[tuple[str, str]]:
        """(table, column) of JSON columns reflection does not see as JSON (MariaDB's ``json_valid`` checks)."""
        return set()

    def auto_numbered(self, column: dict[str, Any], declared: str, single_key: str | None) -> bool:
        """Whether a reflected integer column is numbered by the engine (``single_key``: the table's one-column
        primary key, if it has one)."""
        return bool(column.get("autoincrement")) and column["name"] == single_key

    def reading_cursor(self, raw: Any) -> Any:
        """The driver's own cursor that streams a big SELECT (PostgreSQL: a named, server-side one)."""
        return raw.cursor()

    def check_constraints(self, conn: sa.Connection, tables: list[str]) -> dict[str, list[tuple[str, str]]]:
        """table -> its CHECK constraints as (name, SQL)."""
        inspector = sa.inspect(conn)
        return {
            t: [(str(c.get("name") or ""), str(c["sqltext"])) for c in inspector.get_check_constraints(t)]
            for t in tables
        }

    def odd_value_probes(self, col: Column) -> list[tuple[str, str]]:
        """(what, SQL condition) for the values of ``col`` no other engine holds as they are."""
        return []

    def nextval_defaults(self, conn: sa.Connection) -> dict[tuple[str, str], str]:
        """(table, column) -> ``DEFAULT nextval(...)`` text where reflection does not give it."""
        return {}

    def default_sequence(self, conn: sa.Connection, table: str, column: str, default: str) -> str | None:
        """The sequence a column's ``DEFAULT nextval(...)`` draws from, or None."""
        return None

    def estimate_rows(self, conn: sa.Connection, tables: list[str]) -> dict[str, int]:
        """Row counts from the catalog where it keeps them, else exact counts."""
        return {
            t: int(conn.exec_driver_sql(f"SELECT count(*) FROM {self.quote_table(t)}").scalar_one()) for t in tables
        }

    def sequences(self, conn: sa.Connection) -> dict[str, SequenceState]:
        """Every sequence object with its position, keyed by name (none where the engine has none)."""
        return {}

    def next_auto_value(
        self, conn: sa.Connection, table: str, column: str, max_value: int | None
    ) -> tuple[int | None, str | None]:
        """The next value an auto-numbered column hands out, and the sequence behind it (if one is)."""
        raise NotImplementedError

    def set_next_auto_value(self, conn: sa.Connection, table: str, column: str, value: int) -> None:
        """Make the auto-numbered ``column`` of ``table`` (a bare name in the current schema) hand out ``value``
        next."""

    def not_carried(self, conn: sa.Connection) -> list[tuple[str, str, str]]:
        """What a copy to another engine leaves behind: (what, name, why) for views, triggers, routines..."""
        return []

    def empty(self, url: URL) -> None:
        """Drop everything in the database at ``url`` (one this run made), so a load can start again."""
        raise NotImplementedError

    # --------------------------------------------------------------------------------------- checksums

    def checksum_sql(self, table: str, cols: Sequence[Column], where: str, key: str | None, chunk_rows: int) -> str:
        """count and the two 60-bit sums of the rows' MD5 (see ``transfer.verify``); with ``key`` (a quoted
        single-column primary key) only the next ``chunk_rows`` rows along it, and their highest key.
        Engines that cannot hash in SQL raise ``NotImplementedError`` (their rows are hashed in Python)."""
        raise NotImplementedError

    def hashes_in_sql(self, cols: Sequence[Column]) -> bool:
        """Whether :meth:`checksum_sql` renders these columns canonically."""
        return False

    def copy_select(self, col: Column, *, as_text: bool, odd: bool, target: Engine) -> str:
        """What to SELECT to read ``col`` for a copy to ``target``: ``as_text`` for values the driver cannot
        read but their text can carry, ``odd`` for a column holding values without a twin elsewhere."""
        return self.select_expression(col)

    def select_expression(self, col: Column) -> str:
        """What to SELECT to read ``col``'s values in their engine-neutral form."""
        return self.quote(col.name)
