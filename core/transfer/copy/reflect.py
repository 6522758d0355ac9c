"""The source side of a cross-engine copy: tables, keys, checks, defaults, sequences, odd values, and
the objects (views, triggers, routines...) no other engine runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ... import engines
from ...engines import Engine, SequenceState
from ..reading import ColumnInfo, reflect_tables
from ..verify.sequences import auto_positions
from .report import NotCarried


@dataclass
class SourceTable:
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
class Source:
    engine: Engine
    tables: dict[str, SourceTable]
    not_carried: list[NotCarried]
    #: sequence objects not behind an auto-numbered column: carried as sequences, at their position
    sequences: list[SequenceState] = field(default_factory=list)
    #: column default -> sequence it draws from, for columns that are not the auto-numbered key
    sequence_defaults: dict[tuple[str, str], str] = field(default_factory=dict)


def reflect_source(conn: Connection) -> Source:
    engine = engines.of(conn)
    inspector = sa.inspect(conn)
    columns = reflect_tables(conn)
    estimates = engine.estimate_rows(conn, list(columns))
    checks = engine.check_constraints(conn, list(columns))
    tables: dict[str, SourceTable] = {}
    for name, cols in columns.items():
        pk = list(inspector.get_pk_constraint(name)["constrained_columns"])
        uniques = [list(u["column_names"]) for u in inspector.get_unique_constraints(name)]
        defaults = {
            str(c["name"]): str(c["default"])
            for c in inspector.get_columns(name)
            if c.get("default") is not None and str(c["default"]).upper() != "NULL"
        }
        tables[name] = SourceTable(
            name=name,
            columns=cols,
            pk=pk,
            uniques=uniques,
            indexes=[dict(ix) for ix in inspector.get_indexes(name)],
            fks=[dict(fk) for fk in inspector.get_foreign_keys(name)],
            checks=checks.get(name, []),
            defaults=defaults,
            estimate=estimates.get(name, 0),
            generated={
                str(c["name"]): str(c["computed"]["sqltext"]) for c in inspector.get_columns(name) if c.get("computed")
            },
        )
    source = Source(engine, tables, [NotCarried(*found) for found in engine.not_carried(conn)])
    _scan_values(conn, engine, tables)
    if engine.has_sequences:
        _reflect_sequences(conn, source)
    return source


def _scan_values(conn: Connection, engine: Engine, tables: dict[str, SourceTable]) -> None:
    """Count the values no other engine holds as they are (one pass per table that may have them; see
    ``Engine.odd_value_probes``: PostgreSQL's ±infinity; MariaDB's zero and partial dates, and TIME beyond
    24 hours or negative)."""
    for st in tables.values():
        # (column, what, SQL condition)
        probes = [(col.name, what, cond) for col in st.columns for what, cond in engine.odd_value_probes(col)]
        if not probes:
            continue
        sums = ", ".join(f"COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0)" for _c, _w, cond in probes)
        counts = conn.exec_driver_sql(f"SELECT {sums} FROM {engine.quote(st.name)}").one()
        for (column, what, _cond), count in zip(probes, counts, strict=True):
            if int(count):
                st.odd.setdefault(column, []).append((what, int(count)))


def _reflect_sequences(conn: Connection, source: Source) -> None:
    """Sequence objects and where they stand; which back an auto-numbered key; which a column default uses."""
    engine = source.engine
    states = engine.sequences(conn)
    schema = {name: st.columns for name, st in source.tables.items()}
    positions = auto_positions(conn, schema)
    backing: set[str] = set()
    for name, st in source.tables.items():
        position = positions.get(name)
        if position is not None and position.column in st.pk and len(st.pk) == 1:
            st.next_id = position.next_value
            if position.sequence:
                backing.add(position.sequence)
    defaults = {(st.name, c): d for st in source.tables.values() for c, d in st.defaults.items()}
    defaults |= engine.nextval_defaults(conn)
    for (table, column), default in defaults.items():
        owner = source.tables.get(table)
        if owner is None or "nextval" not in default.lower() or owner.pk == [column]:
            continue
        seq = engine.default_sequence(conn, table, column, default)
        if seq is not None:
            source.sequence_defaults[(table, column)] = seq
    source.sequences = [state for name, state in states.items() if name not in backing]
