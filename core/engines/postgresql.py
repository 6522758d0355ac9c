"""PostgreSQL: psycopg 3, double-quoted identifiers in schemas, the catalog (pg_class, pg_stat_activity)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from .base import FAR_FUTURE, FAR_PAST, Column, DatabaseInfo, Engine, OtherSession, SequenceState, TableInfo

_USER_SCHEMA = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"

#: the sequence a column draws from: owned (serial), identity, or named by its DEFAULT nextval(...)
#: without being owned (older schemas, many sample databases): the default's dependency on the sequence
_DEFAULT_SEQUENCE = """
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

_VIEW_WHY = "its SQL is written for the source engine: recreate it on the target by hand"
_TRIGGER_WHY = "trigger bodies are engine-specific code: recreate it on the target by hand"
_ROUTINE_WHY = "stored code is engine-specific: port it by hand"

#: (what, why, SQL listing the names) of what a copy to another engine leaves behind
_NOT_CARRIED = (
    ("view", _VIEW_WHY, "SELECT table_name FROM information_schema.views WHERE table_schema = current_schema()"),
    (
        "view",
        "materialized view: " + _VIEW_WHY,
        "SELECT matviewname FROM pg_matviews WHERE schemaname = current_schema()",
    ),
    (
        "trigger",
        _TRIGGER_WHY,
        "SELECT DISTINCT trigger_name || ' on ' || event_object_table FROM information_schema.triggers "
        "WHERE trigger_schema = current_schema()",
    ),
    (
        "routine",
        _ROUTINE_WHY,
        "SELECT p.proname || '()' FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')",
    ),
    (
        "extension",
        "its types, functions and operators exist only on PostgreSQL (citext columns, for one, compare "
        "case-sensitively on the target)",
        "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'",
    ),
    (
        "domain",
        "its CHECK is not carried: the column gets the domain's base type",
        "SELECT t.typname || ' ' || string_agg(pg_get_constraintdef(c.oid), ' ') FROM pg_type t "
        "JOIN pg_constraint c ON c.contypid = t.oid WHERE t.typnamespace = current_schema()::regnamespace "
        "AND t.typtype = 'd' GROUP BY t.typname",
    ),
    (
        "partitioning",
        "carried as one table holding every partition's rows; each partition is carried as its own table "
        "with its rows too (the same rows as before under every name), with no routing between them: write "
        "to the parent only, or drop the partition tables",
        "SELECT c.relname || ' ' || pg_get_partkeydef(c.oid) FROM pg_class c "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'p'",
    ),
    (
        "inheritance",
        "the parent is carried holding its children's rows too (what a query on it returns), each child as "
        "its own table; the inheritance is not",
        "SELECT p.relname || ' (children: ' || string_agg(c.relname, ', ' ORDER BY c.relname) || ')' "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE c.relnamespace = current_schema()::regnamespace AND NOT c.relispartition GROUP BY p.relname",
    ),
    (
        "table",
        "it lives in another schema than the current one, and a copy across engines carries the current "
        "schema only (a same-engine upgrade carries every schema)",
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname <> current_schema() "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%' "
        "AND NOT c.relispartition",
    ),
    (
        "collation",
        "explicit column collation: the target sorts and compares this text with its own rules",
        "SELECT table_name || '.' || column_name || ' (' || collation_name || ')' FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND collation_name IS NOT NULL",
    ),
)


def _infinite(q: str, expr: str, datetime_: bool) -> str:
    i = 1 if datetime_ else 0
    return (
        f"CASE WHEN {q} = 'infinity' THEN '{FAR_FUTURE[i]}' WHEN {q} = '-infinity' THEN '{FAR_PAST[i]}' ELSE {expr} END"
    )


def _duration(q: str) -> str:
    """A time or interval as ``[-]HH:MM:SS.ffffff`` with hours past 24 (MySQL's TIME_FORMAT does the same)."""
    e = f"abs(extract(epoch from {q}::interval))"
    hours = f"floor({e} / 3600)"
    return (
        f"(CASE WHEN extract(epoch from {q}::interval) < 0 THEN '-' ELSE '' END "
        f"|| CASE WHEN {hours} < 10 THEN '0' ELSE '' END || {hours}::bigint::text || ':' "
        f"|| lpad((floor({e} / 60)::bigint % 60)::text, 2, '0') || ':' || to_char(mod({e}, 60), 'FM00.000000'))"
    )


_ANY_ARRAY = re.compile(r"^\(*\s*\(?(\w+)\)?(?:::[\w ]+)?\s*=\s*ANY\s*\(+ARRAY\[(.*?)\](?:::[\w ]+\[\])?\)+\s*$", re.S)
_CAST = re.compile(r"::[a-z][a-z ]*(\[\])?", re.I)


def finite(q: str, kind: str) -> str:
    """±infinity read as the far future / far past (no other engine, nor Python, has infinity)."""
    i = 0 if kind == "date" else 1
    cast = {"date": "date", "datetime": "timestamp", "datetime_tz": "timestamptz"}[kind]
    far = f"'{FAR_FUTURE[i]}{'+00' if kind == 'datetime_tz' else ''}'"
    past = f"'{FAR_PAST[i]}{'+00' if kind == 'datetime_tz' else ''}'"
    return (
        f"CASE WHEN {q} = 'infinity' THEN CAST({far} AS {cast}) WHEN {q} = '-infinity' THEN CAST({past} AS {cast}) "
        f"ELSE {q} END"
    )


class PostgreSQL(Engine):
    name = "postgresql"
    label = "PostgreSQL"
    admin_example = "postgresql://postgres@db.internal:5432/postgres"
    driver = "postgresql+psycopg"
    backends = ("postgresql", "postgres")
    has_sequences = True
    has_schemas = True
    snapshot_sql = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
    bulk_path = "COPY FROM STDIN"
    has_infinity = True
    gives_bools = True
    gives_times = True
    loads_text = True
    name_bytes = 63  # NAMEDATALEN - 1

    def dialect(self) -> sa.engine.Dialect:
        from sqlalchemy.dialects import postgresql  # loaded when first asked for, not at start-up

        return postgresql.dialect()  # type: ignore[no-untyped-call]

    def bool_literal(self, value: bool) -> str:
        return "true" if value else "false"

    def nextval_sql(self, sequence: str) -> str:
        return "nextval('" + self.quote(sequence).replace("'", "''") + "'::regclass)"

    def plain_check(self, sql: str) -> str:
        """``x::text = ANY (ARRAY['a'::text, ...])`` as ``x IN ('a', ...)``; every ``::type`` cast dropped."""
        match = _ANY_ARRAY.match(sql)
        if match:
            values = ", ".join(_CAST.sub("", v).strip() for v in match.group(2).split(","))
            sql = f"{match.group(1)} IN ({values})"
        return _CAST.sub("", sql)

    def copy_select(self, col: Column, *, as_text: bool, odd: bool, target: Engine) -> str:
        q = self.quote(col.name)
        if as_text:
            return f"{q}::text"
        if col.kind in ("date", "datetime", "datetime_tz"):
            return finite(q, col.kind)  # the driver cannot read ±infinity, wherever it may be
        return q

    def admin_args(self) -> dict[str, Any]:
        return {"connect_timeout": 15, "application_name": "changeover"}

    def session_args(self) -> dict[str, Any]:
        return {"options": "-c timezone=UTC"}

    def other_sessions(self, conn: sa.Connection, database: str | None = None) -> list[OtherSession]:
        who = "datname = :d" if database is not None else "datname = current_database() AND usename = current_user"
        rows = conn.execute(
            sa.text(
                "SELECT pid::text, coalesce(usename, ''), coalesce(host(client_addr), ''), "
                f"coalesce(application_name, ''), coalesce(state, '') FROM pg_stat_activity "
                f"WHERE {who} AND pid <> pg_backend_pid() AND backend_type <> 'walsender'"
            ),
            {"d": database},
        ).all()
        return [OtherSession(*(str(v) for v in row)) for row in rows]

    def describe(self, url: URL) -> DatabaseInfo:
        with self.connect(url, f"describe the database '{url.database}'") as conn:
            version = str(conn.execute(sa.text("SHOW server_version")).scalar_one())
            size = int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())
            rows = conn.execute(
                sa.text(
                    "SELECT n.nspname, c.relname, GREATEST(c.reltuples, 0)::bigint, pg_total_relation_size(c.oid) "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    f"WHERE c.relkind IN ('r', 'p') AND {_USER_SCHEMA} ORDER BY 1, 2"
                )
            ).all()
        tables = tuple(
            TableInfo(name if schema == "public" else f"{schema}.{name}", int(est), int(size_bytes))
            for schema, name, est, size_bytes in rows
        )
        return DatabaseInfo(self.name, version, size, tables)

    def contents(self, url: URL) -> list[str]:
        with self.connect(url, f"look into the database '{url.database}'") as conn:
            found = conn.execute(
                sa.text(
                    f"""
                    SELECT kind || ' ' || name FROM (
                      SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'view' WHEN 'S' THEN 'sequence'
                             ELSE 'table' END AS kind, n.nspname || '.' || c.relname AS name
                      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {_USER_SCHEMA}
                      UNION ALL
                      SELECT 'routine', n.nspname || '.' || p.proname
                      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE {_USER_SCHEMA}
                        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
                    ) AS things ORDER BY 1
                    """
                )
            ).all()
        return [str(row[0]) for row in found]

    def other_schemas(self, conn: sa.Connection) -> list[str]:
        rows = conn.execute(
            sa.text(
                "SELECT nspname FROM pg_namespace WHERE nspname <> current_schema() "
                "AND nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%' ORDER BY 1"
            )
        ).all()
        return [str(r[0]) for r in rows]

    def auto_numbered(self, column: dict[str, Any], declared: str, single_key: str | None) -> bool:
        default = column.get("default")
        return default is not None and "nextval(" in str(default) or bool(column.get("identity"))

    def reading_cursor(self, raw: Any) -> Any:
        return raw.cursor(name="changeover_read")  # inside the connection's transaction

    def odd_value_probes(self, col: Column) -> list[tuple[str, str]]:
        if col.kind in ("date", "datetime", "datetime_tz"):
            q = self.quote(col.name)
            return [("infinity", f"{q} IN ('infinity', '-infinity')")]
        return []

    def default_sequence(self, conn: sa.Connection, table: str, column: str, default: str) -> str | None:
        found = self.column_sequence(conn, table, column)
        return found[1] if found else None

    def estimate_rows(self, conn: sa.Connection, tables: list[str]) -> dict[str, int]:
        rows = conn.exec_driver_sql(
            "SELECT CASE WHEN n.nspname = current_schema() THEN c.relname ELSE n.nspname || '.' || c.relname END, "
            "c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).all()
        found = {str(r[0]): int(r[1]) for r in rows}
        unknown = [t for t in tables if found.get(t, -1) < 0]  # never analysed (reltuples = -1): count it
        found |= super().estimate_rows(conn, unknown)
        return {t: found.get(t, 0) for t in tables}

    def column_sequence(self, conn: sa.Connection, table: str, column: str) -> tuple[str, str] | None:
        """The sequence a column takes its values from: (its name as SQL, quoted and qualified when needed;
        its bare name), or None."""
        row = conn.execute(sa.text(_DEFAULT_SEQUENCE), {"t": self.quote_table(table), "c": column}).first()
        return None if row is None else (str(row[0]), str(row[1]))

    def _next_value(self, conn: sa.Connection, seq: str) -> int:
        last, called = conn.exec_driver_sql(f"SELECT last_value, is_called FROM {seq}").one()
        step = conn.execute(
            sa.text("SELECT seqincrement FROM pg_sequence WHERE seqrelid = CAST(:seq AS regclass)"), {"seq": seq}
        ).scalar_one()
        return int(last) + int(step) if called else int(last)

    def sequences(self, conn: sa.Connection) -> dict[str, SequenceState]:
        rows = conn.exec_driver_sql(
            "SELECT c.relname, s.seqincrement FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_sequence s ON s.seqrelid = c.oid WHERE c.relkind = 'S' AND n.nspname = current_schema() "
            "ORDER BY c.relname"
        ).all()
        return {
            str(name): SequenceState(str(name), self._next_value(conn, self.quote(str(name))), int(step))
            for name, step in rows
        }

    def next_auto_value(
        self, conn: sa.Connection, table: str, column: str, max_value: int | None
    ) -> tuple[int | None, str | None]:
        seq = self.column_sequence(conn, table, column)
        return (None, None) if seq is None else (self._next_value(conn, seq[0]), seq[1])

    def set_next_auto_value(self, conn: sa.Connection, table: str, column: str, value: int) -> None:
        conn.execute(
            sa.text("SELECT setval(pg_get_serial_sequence(:t, :c), :v, false)"),
            {"t": self.quote(table), "c": column, "v": value},
        )

    def not_carried(self, conn: sa.Connection) -> list[tuple[str, str, str]]:
        return [(what, str(row[0]), why) for what, why, sql in _NOT_CARRIED for row in conn.exec_driver_sql(sql)]

    def empty(self, url: URL) -> None:
        """Every schema and extension the load made goes, whatever its name; ``public`` comes back empty.

        The database was empty when the run took it, so nothing here predates the run.
        """
        engine = sa.create_engine(self.url(url), poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                owner = conn.execute(sa.text("SELECT current_user")).scalar_one()
                for (extension,) in conn.execute(
                    sa.text("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")
                ).all():
                    conn.execute(sa.text(f"DROP EXTENSION IF EXISTS {self.quote(extension)} CASCADE"))
                schemas = conn.execute(
                    sa.text(
                        "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') "
                        "AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'"
                    )
                ).all()
                for (schema,) in schemas:
                    conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {self.quote(schema)} CASCADE"))
                conn.execute(sa.text(f"CREATE SCHEMA public AUTHORIZATION {self.quote(owner)}"))
        finally:
            engine.dispose()

    def checksum_field(self, col: Column) -> str:
        """One column's canonical text (``+text``, or ``-`` for NULL), in SQL."""
        q = self.quote(col.name)
        expr = {
            "bool": f"CASE WHEN {q} THEN '1' WHEN NOT {q} THEN '0' END",  # NULL stays NULL
            "int": f"{q}::text",
            "decimal": f"trim_scale({q}::numeric)::text",
            "float": f"trim_scale(round({q}::numeric, 6))::text",
            "text": f"{q}::text",
            "bytes": f"encode({q}, 'hex')",
            "date": _infinite(q, f"to_char({q}, 'YYYY-MM-DD')", False),
            "time": _duration(q),
            "datetime": _infinite(q, f"to_char({q}, 'YYYY-MM-DD HH24:MI:SS.US')", True),
            "datetime_tz": _infinite(q, f"to_char({q} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')", True),
            "json": f"{q}::jsonb::text",
        }[col.kind]
        return f"coalesce('+' || {expr}, '-')"

    def hashes_in_sql(self, cols: Sequence[Column]) -> bool:
        return True

    def checksum_sql(self, table: str, cols: Sequence[Column], where: str, key: str | None, chunk_rows: int) -> str:
        page = f" ORDER BY {key} LIMIT {chunk_rows}" if key else ""
        top = ", max(k)" if key else ""
        k = f"{key} AS k, " if key else ""
        row = " || chr(30) || ".join(self.checksum_field(c) for c in cols) if cols else "''"
        inner = f"SELECT {k}md5({row}) AS h FROM {self.quote_table(table)}{where}{page}"
        part = "('x' || lpad(substr(h, {}, 15), 16, '0'))::bit(64)::bigint"
        return f"SELECT count(*), sum({part.format(1)}), sum({part.format(16)}){top} FROM ({inner}) s"
