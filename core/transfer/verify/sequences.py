"""Where auto-numbered columns and sequence objects stand, on any engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from ... import engines
from ...engines import SequenceState, display_url, driver_message
from ..reading import ColumnInfo, reflect_tables
from .checksums import DatabaseError

_T = TypeVar("_T")


@dataclass(frozen=True)
class SequencePosition:
    """Where a table's auto-numbered column stands: the next id it will hand out, and the highest id used."""

    table: str
    column: str
    next_value: int | None
    max_value: int | None
    #: the sequence object behind the column, where the engine has one (owned, identity, or only named by its default)
    sequence: str | None = None

    @property
    def ok(self) -> bool:
        return self.max_value is None or (self.next_value is not None and self.next_value > self.max_value)


def _read(url: URL | str, read: Callable[[Connection], _T]) -> _T:
    """``read`` on a fresh connection to ``url``; a driver error becomes :class:`DatabaseError`."""
    url = sa.engine.make_url(url)
    engine_ = engines.open_engine(url)
    try:
        with engine_.connect() as conn:
            return read(conn)
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"Could not read {display_url(url)}: {driver_message(exc)}") from None
    finally:
        engine_.dispose()


def sequence_positions(url: URL | str, *, tables: list[str] | None = None) -> dict[str, SequencePosition]:
    """For every table with an auto-numbered column: the next value it hands out and the current maximum."""
    return _read(url, lambda conn: auto_positions(conn, reflect_tables(conn, tables, every_schema=True)))


def auto_positions(conn: Connection, schema: dict[str, list[ColumnInfo]]) -> dict[str, SequencePosition]:
    """:func:`sequence_positions` of the tables in ``schema``, on an open connection."""
    engine = engines.of(conn)
    found: dict[str, SequencePosition] = {}
    for table, cols in schema.items():
        auto = next((c for c in cols if c.autoincrement), None)
        if auto is None:
            continue
        t, c = engine.quote_table(table), engine.quote(auto.name)
        top = conn.exec_driver_sql(f"SELECT max({c}) FROM {t}").scalar()
        max_value = None if top is None else int(top)
        next_value, sequence = engine.next_auto_value(conn, table, auto.name, max_value)
        found[table] = SequencePosition(table, auto.name, next_value, max_value, sequence)
    return found


def sequence_states(url: URL | str) -> dict[str, SequenceState]:
    """Every sequence of the database at ``url`` with its position, keyed by name (SQLite: none)."""
    return _read(url, lambda conn: engines.of(conn).sequences(conn))
