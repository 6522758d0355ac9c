"""MariaDB/MySQL: PyMySQL, backquoted identifiers, one schema per database, information_schema."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from .base import FAR_PAST, Column, DatabaseInfo, Engine, OtherSession, SequenceState, TableInfo

SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})

_VIEW_WHY = "its SQL is written for the source engine: recreate it on the target by hand"
_ROUTINE_WHY = "stored code is engine-specific: port it by hand"

#: (what, why, SQL listing the names) of what a copy to another engine leaves behind
_NOT_CARRIED = (
    ("view", _VIEW_WHY, "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()"),
    (
        "trigger",
        "trigger bodies are engine-specific code: recreate it on the target by hand",
        "SELECT CONCAT(TRIGGER_NAME, ' on ', EVENT_OBJECT_TABLE) FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = DATABASE()",
    ),
    (
        "routine",
        _ROUTINE_WHY,
        "SELECT CONCAT(ROUTINE_NAME, '()') FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()",
    ),
    (
        "index",
        "no such index on the target (PostgreSQL: a tsvector GIN index, or PostGIS, does this)",
        "SELECT DISTINCT CONCAT(TABLE_NAME, '.', INDEX_NAME, ' (', INDEX_TYPE, ')') "
        "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
        "AND INDEX_TYPE IN ('FULLTEXT', 'SPATIAL')",
    ),
    ("event", _ROUTINE_WHY, "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()"),
    (
        "collation",
        "MySQL collation: the target compares this text with its own rules (PostgreSQL and SQLite: "
        "case- and accent-sensitive), so case-insensitive uniqueness and sorting are not carried",
        "SELECT CONCAT(COLLATION_NAME, ' (', COUNT(*), ' columns)') FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL "
        "AND COLLATION_NAME NOT LIKE '%%\\_bin' AND COLLATION_NAME <> 'binary' GROUP BY COLLATION_NAME",
    ),
)


def real_date(q: str, kind: str, *, infinity: bool) -> str:
    """A zero date (year 0) read as ``-infinity`` (for an engine that has it) or the far past; a partial
    date (month or day 0) as its first day."""
    i = 0 if kind == "date" else 1
    zero = "-infinity" if infinity else FAR_PAST[i]
    fmt = "%Y-%m-%d" if kind == "date" else "%Y-%m-%d %H:%i:%s.%f"
    clock = "" if kind == "date" else f", DATE_FORMAT({q}, ' %H:%i:%s.%f')"
    first = (
        f"CONCAT(LPAD(YEAR({q}), 4, '0'), '-', LPAD(GREATEST(MONTH({q}), 1), 2, '0'), '-', "
        f"LPAD(GREATEST(DAYOFMONTH({q}), 1), 2, '0'){clock})"
    )
    odd = f"MONTH({q}) = 0 OR DAYOFMONTH({q}) = 0"
    return f"IF(YEAR({q}) = 0, '{zero}', IF({odd}, {first}, DATE_FORMAT({q}, '{fmt}')))"


class MySQL(Engine):
    name = "mysql"
    label = "MariaDB/MySQL"
    admin_example = "mysql://root@db.internal:3306/mysql"
    driver = "mysql+pymysql"
    backends = ("mysql", "mariadb")
    quote_char = "`"
    has_sequences = True  # MariaDB's CREATE SEQUENCE
    snapshot_sql = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
    bulk_path = "LOAD DATA LOCAL INFILE"
    times_as_durations = True
    bits_as_bytes = True
    naive_datetimes = True
    binary_collation = "utf8mb4_bin"
    lists_special_indexes = True
    streams_reads = False  # a half-read stream blocks its connection until every row was read

    def probe(self, url: URL, timeout: float) -> sa.Engine:
        """PyMySQL's connect timeout ends at the TCP connect: a port that never greets would hang without a
        read timeout too."""
        seconds = max(int(timeout), 1)
        return sa.create_engine(
            self.url(url),
            connect_args={"connect_timeout": seconds, "read_timeout": seconds},
            poolclass=sa.NullPool,
        )

    def dialect(self) -> sa.engine.Dialect:
        from sqlalchemy.dialects import mysql  # loaded when first asked for, not at start-up

        return mysql.dialect()

    def nextval_sql(self, sequence: str) -> str:
        return f"(NEXT VALUE FOR {self.quote(sequence)})"

    def table_options(self) -> dict[str, Any]:
        return {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": self.binary_collation}

    def admin_args(self) -> dict[str, Any]:
        return {"connect_timeout": 15, "charset": "utf8mb4"}

    def session_args(self) -> dict[str, Any]:
        # UTC, so TIMESTAMP values read and write as UTC instants; LOAD DATA LOCAL allowed on the client side
        return {"init_command": "SET time_zone = '+00:00'", "charset": "utf8mb4", "local_infile": True}

    #: the bulk path when the server has ``local_infile`` off
    insert_path = "multi-row INSERT (the server has local_infile off)"

    def bulk_path_on(self, conn: sa.Connection) -> str:
        """``LOAD DATA LOCAL INFILE`` where the server takes it (its ``local_infile`` setting), else INSERTs."""
        local = bool(conn.exec_driver_sql("SELECT @@GLOBAL.local_infile").scalar())
        return self.bulk_path if local else self.insert_path

    def other_sessions(self, conn: sa.Connection, database: str | None = None) -> list[OtherSession]:
        who = (
            "DB = :d" if database is not None else "DB = DATABASE() AND USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1)"
        )
        rows = conn.execute(
            sa.text(
                "SELECT CAST(ID AS CHAR), USER, HOST, '', COALESCE(COMMAND, '') FROM information_schema.PROCESSLIST "
                f"WHERE {who} AND ID <> CONNECTION_ID()"
            ),
            {"d": database},
        ).all()
        return [
            OtherSession(str(i), str(u or ""), str(h or "").rsplit(":", 1)[0], "", str(c)) for i, u, h, _a, c in rows
        ]

    def last_changes(self, conn: sa.Connection) -> tuple[str, dict[str, str | None]] | None:
        # MariaDB: InnoDB sets a table's UPDATE_TIME at each commit that changed it (in memory: NULL after a
        # restart until the next change), MyISAM and Aria from the file's time. MySQL 8 caches the column for a
        # day (information_schema_stats_expiry): no use there.
        if not conn.dialect.is_mariadb:  # type: ignore[attr-defined]
            return None
        conn.exec_driver_sql("SET SESSION time_zone = '+00:00'")
        now = str(conn.exec_driver_sql("SELECT CAST(NOW() AS CHAR)").scalar_one())
        rows = conn.exec_driver_sql(
            "SELECT TABLE_NAME, CAST(UPDATE_TIME AS CHAR) FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        ).all()
        return now, {str(name): None if at is None else str(at) for name, at in rows}

    def describe(self, url: URL) -> DatabaseInfo:
        with self.connect(url, f"describe the database '{url.database}'") as conn:
            version = str(conn.execute(sa.text("SELECT VERSION()")).scalar_one())
            rows = conn.execute(
                sa.text(
                    "SELECT table_name, coalesce(table_rows, 0), "
                    "coalesce(data_length, 0) + coalesce(index_length, 0) FROM information_schema.tables "
                    "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name"
                )
            ).all()
        tables = tuple(TableInfo(str(name), int(est), int(size)) for name, est, size in rows)
        return DatabaseInfo(self.name, version, sum(t.size_bytes for t in tables), tables)

    def contents(self, url: URL) -> list[str]:
        with self.connect(url, f"look into the database '{url.database}'") as conn:
            found = conn.execute(
                sa.text(
                    """
                    SELECT CONCAT(CASE table_type WHEN 'VIEW' THEN 'view ' ELSE 'table ' END, table_name)
                      FROM information_schema.tables WHERE table_schema = DATABASE()
                    UNION ALL SELECT CONCAT('routine ', routine_name)
                      FROM information_schema.routines WHERE routine_schema = DATABASE()
                    UNION ALL SELECT CONCAT('event ', event_name)
                      FROM information_schema.events WHERE event_schema = DATABASE()
                    """
                )
            ).all()
        return sorted(str(row[0]) for row in found)

    def json_columns(self, conn: sa.Connection) -> set[tuple[str, str]]:
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

    def check_constraints(self, conn: sa.Connection, tables: list[str]) -> dict[str, list[tuple[str, str]]]:
        found: dict[str, list[tuple[str, str]]] = {}
        rows = conn.exec_driver_sql(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = DATABASE()"
        )
        for table, name, clause in rows:
            if not str(clause).startswith("json_valid("):  # that check *is* MariaDB's JSON type
                found.setdefault(str(table), []).append((str(name), str(clause)))
        return found

    def odd_value_probes(self, col: Column) -> list[tuple[str, str]]:
        q = self.quote(col.name)
        if col.kind in ("date", "datetime", "datetime_tz"):
            return [
                ("zero", f"YEAR({q}) = 0"),
                ("partial", f"YEAR({q}) <> 0 AND (MONTH({q}) = 0 OR DAYOFMONTH({q}) = 0)"),
            ]
        if col.kind == "time":
            return [("wide", f"{q} < '00:00:00' OR {q} >= '24:00:00'")]
        return []

    def nextval_defaults(self, conn: sa.Connection) -> dict[tuple[str, str], str]:
        # SQLAlchemy does not reflect MariaDB's DEFAULT nextval(...): the catalog does
        return {
            (str(t), str(c)): str(d)
            for t, c, d in conn.exec_driver_sql(
                "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_DEFAULT LIKE 'nextval(%%'"
            )
        }

    def default_sequence(self, conn: sa.Connection, table: str, column: str, default: str) -> str | None:
        match = re.search(r"nextval\((?:`(?:[^`]|``)+`\.)?`((?:[^`]|``)+)`\)", default, re.I)
        return match.group(1).replace("``", "`") if match else None

    def estimate_rows(self, conn: sa.Connection, tables: list[str]) -> dict[str, int]:
        rows = conn.exec_driver_sql(
            "SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        ).all()
        found = {str(r[0]): int(r[1] or 0) for r in rows}
        return {t: found.get(t, 0) for t in tables}

    def sequences(self, conn: sa.Connection) -> dict[str, SequenceState]:
        names = conn.exec_driver_sql(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_TYPE = 'SEQUENCE' ORDER BY TABLE_NAME"
        ).scalars()
        found: dict[str, SequenceState] = {}
        for name in list(names):
            value, step = conn.exec_driver_sql(
                f"SELECT next_not_cached_value, increment FROM {self.quote(str(name))}"
            ).one()
            found[str(name)] = SequenceState(str(name), int(value), int(step))
        return found

    def next_auto_value(
        self, conn: sa.Connection, table: str, column: str, max_value: int | None
    ) -> tuple[int | None, str | None]:
        value = conn.execute(
            sa.text(
                "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
            ),
            {"t": table},
        ).scalar()
        return (None if value is None else int(value)), None

    def set_next_auto_value(self, conn: sa.Connection, table: str, column: str, value: int) -> None:
        conn.exec_driver_sql(f"ALTER TABLE {self.quote(table)} AUTO_INCREMENT = {int(value)}")

    def not_carried(self, conn: sa.Connection) -> list[tuple[str, str, str]]:
        return [(what, str(row[0]), why) for what, why, sql in _NOT_CARRIED for row in conn.exec_driver_sql(sql)]

    def empty(self, url: URL) -> None:
        engine = sa.create_engine(self.url(url), poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 0"))
                for name, kind in conn.execute(
                    sa.text(
                        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                    )
                ).all():
                    keyword = "VIEW" if kind == "VIEW" else "TABLE"
                    conn.execute(sa.text(f"DROP {keyword} IF EXISTS {self.quote(name)}"))
                for name, kind in conn.execute(
                    sa.text(
                        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
                        "WHERE ROUTINE_SCHEMA = DATABASE()"
                    )
                ).all():
                    conn.execute(sa.text(f"DROP {kind} IF EXISTS {self.quote(name)}"))
                for (name,) in conn.execute(
                    sa.text("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()")
                ).all():
                    conn.execute(sa.text(f"DROP EVENT IF EXISTS {self.quote(name)}"))
        finally:
            engine.dispose()

    def copy_select(self, col: Column, *, as_text: bool, odd: bool, target: Engine) -> str:
        if odd and col.kind in ("date", "datetime", "datetime_tz"):
            real = real_date(self.quote(col.name), col.kind, infinity=target.has_infinity)
            if target.loads_text:
                return real
            return f"CAST({real} AS {'DATE' if col.kind == 'date' else 'DATETIME(6)'})"
        return self.select_expression(col)

    def select_expression(self, col: Column) -> str:
        q = self.quote(col.name)
        return f"ST_AsText({q})" if col.spatial else q

    def checksum_field(self, col: Column) -> str:
        """One column's canonical text (``+text``, or ``-`` for NULL), in SQL."""
        q = self.quote(col.name)

        def trimmed(e: str) -> str:
            return f"TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {e}))"

        # A zero date (or year 0) is MariaDB's "no date": the far past; a partial date (month or day 0) its
        # first day. The common case stays one DATE_FORMAT.
        partial = (
            f"CONCAT(LPAD(YEAR({q}), 4, '0'), '-', LPAD(GREATEST(MONTH({q}), 1), 2, '0'), '-', "
            f"LPAD(GREATEST(DAYOFMONTH({q}), 1), 2, '0'))"
        )
        odd = f"MONTH({q}) = 0 OR DAYOFMONTH({q}) = 0"
        day = f"IF(YEAR({q}) = 0, '{FAR_PAST[0]}', IF({odd}, {partial}, DATE_FORMAT({q}, '%Y-%m-%d')))"
        moment = (
            f"IF(YEAR({q}) = 0, '{FAR_PAST[1]}', IF({odd}, CONCAT({partial}, DATE_FORMAT({q}, ' %H:%i:%s.%f')), "
            f"DATE_FORMAT({q}, '%Y-%m-%d %H:%i:%s.%f')))"
        )
        decimal = f"CAST({q} AS CHAR)"
        if col.scale:
            decimal = f"IF({q} = 0, '0', {trimmed(decimal)})"
        expr = {
            "bool": f"CASE WHEN {q} THEN '1' WHEN NOT {q} THEN '0' END",  # NULL stays NULL
            "int": f"CAST({q} AS CHAR)",
            "decimal": decimal,
            "float": f"IF(ROUND({q}, 6) = 0, '0', {trimmed(f'CAST(CAST({q} AS DECIMAL(65,6)) AS CHAR)')})",
            "text": f"ST_AsText({q})" if col.spatial else f"CONVERT({q} USING utf8mb4)",
            "bytes": f"LOWER(HEX({q}))",
            "date": day,
            "time": f"TIME_FORMAT({q}, '%H:%i:%s.%f')",
            "datetime": moment,
            "datetime_tz": moment,
        }[col.kind]
        return f"COALESCE(CONCAT('+', {expr}), '-')"  # text is converted above; the rest is ASCII

    def hashes_in_sql(self, cols: Sequence[Column]) -> bool:
        return not any(c.kind == "json" for c in cols)  # MariaDB has no canonical JSON text

    def checksum_sql(self, table: str, cols: Sequence[Column], where: str, key: str | None, chunk_rows: int) -> str:
        page = f" ORDER BY {key} LIMIT {chunk_rows}" if key else ""
        top = ", max(k)" if key else ""
        k = f"{key} AS k, " if key else ""
        row = (
            "CONCAT_WS(CHAR(30 USING utf8mb4), " + ", ".join(self.checksum_field(c) for c in cols) + ")"
            if cols
            else "''"
        )
        inner = f"SELECT {k}MD5({row}) AS h FROM {self.quote_table(table)}{where}{page}"
        part = "CAST(CONV(SUBSTRING(h, {}, 15), 16, 10) AS UNSIGNED)"
        return f"SELECT COUNT(*), SUM({part.format(1)}), SUM({part.format(16)}){top} FROM ({inner}) s"
