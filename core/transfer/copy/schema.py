"""The target side of a cross-engine copy: tables, constraints, indexes, foreign keys and sequences built
for the target engine from the reflected source, with every adaptation and everything left behind."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ...engines import FAR_FUTURE, FAR_PAST, Engine, SequenceState
from ..reading import ColumnInfo
from .reflect import Source, SourceTable
from .report import NotCarried
from .typemap import Adaptation, map_column

_CHECK_TOKENS = re.compile(
    r"\s*(?:'(?:[^']|'')*'|\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*|`[^`]+`|\"[^\"]+\"|<>|!=|>=|<=|[=<>(),+\-*/%])"
)


_CHECK_WORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "LIKE", "TRUE", "FALSE"}


def portable_check(sql: str, source: Engine, target: Engine) -> str | None:
    """``sql`` rewritten for ``target`` if it uses only columns, literals, comparisons and logic; else None."""
    text = source.plain_check(sql.strip())
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
            out.append(target.quote(word))
        elif word[:1] in '`"':
            out.append(target.quote(word[1:-1]))
        else:
            out.append(word)
    return " ".join(out) if out else None


_NOW = re.compile(r"^(now\(\)|current_timestamp(\(\d*\))?|localtimestamp(\(\d*\))?)$", re.I)

_LITERAL = re.compile(r"^\(?('(?:[^']|'')*'|-?\d+(?:\.\d+)?)\)?(::[\w ]+)?$")


def _portable_default(text: str, col: ColumnInfo, target: Engine) -> sa.TextClause | None:
    value = text.strip()
    if col.kind in ("date", "datetime", "datetime_tz") and re.search(r"infinity|0000-00-00|-00", value, re.I):
        return None  # no twin on the other engine (see the values' adaptations)
    if _NOW.match(value) and col.kind in ("datetime", "datetime_tz"):
        return sa.text("CURRENT_TIMESTAMP")
    if value.lower() in ("true", "false") and col.kind == "bool":
        return sa.text(target.bool_literal(value.lower() == "true"))
    match = _LITERAL.match(value)
    if match is None:
        return None
    literal = match.group(1)
    if col.kind == "bool" and literal in ("0", "1", "'0'", "'1'"):
        return sa.text(target.bool_literal(literal.strip("'") == "1"))
    if col.kind == "json":
        return None  # MySQL does not take literal JSON defaults
    return sa.text(literal)


@dataclass
class TargetSchema:
    metadata: sa.MetaData
    tables: dict[str, sa.Table]
    indexes: list[sa.Index]
    fks: list[tuple[str, sa.ForeignKeyConstraint]]
    adaptations: list[Adaptation]
    not_carried: list[NotCarried]
    #: CREATE SEQUENCE statements, run before the tables (a column default may draw from one)
    sequences: list[str] = field(default_factory=list)


def truncated(name: str, limit: int) -> str:
    """``name`` as an engine that keeps ``limit`` bytes of it keeps it: cut on a character boundary."""
    raw = name.encode("utf-8")
    return name if len(raw) <= limit else raw[:limit].decode("utf-8", errors="ignore")


_SPECIAL_INDEX = {"FULLTEXT", "SPATIAL"}


def _special_index(ix: dict[str, Any]) -> str | None:
    """A full-text, spatial, GIN, GiST... index: no twin on another engine (its kind), else None."""
    options = ix.get("dialect_options") or {}
    prefix = str(options.get("mysql_prefix") or "").upper()
    if prefix in _SPECIAL_INDEX:
        return prefix
    using = str(options.get("postgresql_using") or "btree").lower()
    return None if using == "btree" else using.upper()


def _odd_adaptations(st: SourceTable, col: ColumnInfo, to_type: str, target: Engine) -> list[Adaptation]:
    found = []
    for what, count in st.odd.get(col.name, []):
        if what == "infinity":
            i = 0 if col.kind == "date" else 1
            why = f"{count} value(s) ±infinity, which {target} has no twin for: stored as "
            why += f"{FAR_FUTURE[i]} / {FAR_PAST[i]}"
        elif what == "zero":
            far = "-infinity" if target.has_infinity else FAR_PAST[0]
            why = f"{count} zero date(s) (year 0), which {target} has no twin for: stored as {far}"
        elif what == "partial":
            why = f"{count} date(s) with month or day 0, which {target} has no twin for: stored as the first day"
        else:
            continue  # "wide" TIME values: the column type itself says it (see map_column)
        found.append(Adaptation(st.name, col.name, col.declared, to_type, why))
    return found


def _sequence_ddl(target: Engine, state: SequenceState) -> str:
    name = target.quote(state.name)
    return f"CREATE SEQUENCE {name} INCREMENT BY {state.increment} START WITH {state.next_value}"


def build_target(source: Source, target: Engine) -> TargetSchema:
    md = sa.MetaData()
    schema = TargetSchema(md, {}, [], [], [], [])
    can_sequence = target.has_sequences
    for state in source.sequences:
        if can_sequence:
            schema.sequences.append(_sequence_ddl(target, state))
        else:
            schema.not_carried.append(NotCarried("sequence", state.name, f"{target} has no sequences"))
    limit = target.name_bytes or 0
    for st in source.tables.values():
        for name in [st.name, *(c.name for c in st.columns)] if limit else []:
            if truncated(name, limit) != name:
                where = "table name" if name == st.name else "column name"
                schema.adaptations.append(
                    Adaptation(
                        st.name,
                        f"({where} {name})" if name != st.name else "(table name)",
                        name,
                        truncated(name, limit),
                        f"{len(name.encode())} bytes, longer than {target.label}'s {limit}: truncated",
                    )
                )
    kw = target.table_options()
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
            schema.adaptations += _odd_adaptations(st, col, target.render_type(type_), target)
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
                default = sa.text(target.nextval_sql(sequence))
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
                cols.append(sa.CheckConstraint(f"{target.quote(col.name)} IN ({allowed})"))
        for unique in st.uniques:
            cols.append(sa.UniqueConstraint(*unique))
        for name, sql in st.checks:
            portable = portable_check(sql, source.engine, target)
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
                if not source.engine.lists_special_indexes:  # else listed with the source's objects
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
            if name in index_names or target.names_indexes:
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
            if not target.alters_constraints:  # SQLite cannot add a key later; it checks none unless asked to
                schema.tables[st.name].append_constraint(constraint)
    if target.binary_collation:
        schema.adaptations += [
            Adaptation(
                "*",
                "text columns",
                "text",
                target.binary_collation,
                "compared byte-wise and case-sensitively, as in the source",
            )
            for st in source.tables.values()
            if any(c.kind in ("text", "json") for c in st.columns)
        ][:1]
    return schema
