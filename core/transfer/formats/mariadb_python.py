"""The MariaDB tab-separated format written and loaded through PyMySQL alone: slower than the client tools,
for machines without them. The artifact folder is the one :mod:`.mariadb_tsv` describes, plus the schema
and post-data statements as JSON (``schema.json``, ``post.json``) instead of ``mariadb-dump`` SQL."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from ...engines import MYSQL, DatabaseInfo, driver_message, url_secrets
from ...hooks import redact
from ...jobs import Progress, check_cancel
from .. import tools
from .mariadb_tsv import (
    UTC,
    TableFile,
    load_statement,
    read_columns,
    read_specs,
    rewrite_definer,
    select_expression,
    unqualify_sequences,
    write_specs,
)

logger = logging.getLogger(__name__)

SCHEMA_JSON = "schema.json"
POST_JSON = "post.json"
FETCH = 5000


def _raw_connection(url: URL, *, local_infile: bool = False) -> Any:
    """A PyMySQL connection that hands back every value as the text the server sent (no conversion)."""
    import pymysql
    import pymysql.converters

    socket = url.query.get("unix_socket")
    try:
        return pymysql.connect(
            host=url.host or "localhost",
            port=url.port or 3306,
            user=url.username or "",
            password=tools.url_password(url) or "",
            database=url.database,
            unix_socket=socket if isinstance(socket, str) else None,
            charset="utf8mb4",
            # Encoders only (keyed by Python type), no decoders (keyed by field type): values stay text.
            conv={k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)},
            local_infile=local_infile,
            connect_timeout=15,
        )
    except pymysql.MySQLError as exc:
        raise tools.TransferError(
            f"MariaDB/MySQL could not be reached: {redact(driver_message(exc), url_secrets(url))}"
        ) from None


def _definer(statement: str) -> str:
    return rewrite_definer(statement.encode()).decode()


def export_python(
    url: URL, info: DatabaseInfo, artifact: Path, progress: Progress, cancel: threading.Event | None
) -> None:
    """The artifact folder written through PyMySQL alone (slower; for machines without the client tools)."""
    import pymysql.cursors

    (artifact / "data").mkdir(parents=True)
    columns = read_columns(url)
    specs = [TableFile(table, f"data/{i:04d}.tsv", cols) for i, (table, cols) in enumerate(sorted(columns.items()))]
    conn = _raw_connection(url)
    total = max(1, info.estimated_rows)
    done = 0
    try:
        cur = conn.cursor()  # buffered, for the catalog; rows come through an unbuffered cursor
        rows_cur = conn.cursor(pymysql.cursors.SSCursor)
        cur.execute(UTC.rstrip(";"))  # TIMESTAMPs as their UTC instants (see .mariadb_tsv)
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        schema: list[str] = []
        post: list[str] = []
        cur.execute(
            # sequences first: a table's DEFAULT may draw from one
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = DATABASE() "
            "ORDER BY FIELD(table_type, 'SEQUENCE', 'BASE TABLE', 'SYSTEM VERSIONED', 'VIEW'), table_name"
        )
        for name, kind in list(cur.fetchall()):
            what = {"VIEW": "VIEW", "SEQUENCE": "SEQUENCE"}.get(kind, "TABLE")
            cur.execute(f"SHOW CREATE {what} {MYSQL.quote(name)}")
            created = unqualify_sequences(str(cur.fetchone()[1]).encode(), url.database or "").decode()
            schema.append(_definer(created))
            if what == "SEQUENCE":  # its position, as mariadb-dump writes it
                cur.execute(f"SELECT next_not_cached_value FROM {MYSQL.quote(name)}")
                schema.append(f"DO SETVAL({MYSQL.quote(name)}, {int(cur.fetchone()[0])}, 0)")
        for query, show, index in (
            ("SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()", "TRIGGER", 2),
            (
                "SELECT routine_name FROM information_schema.routines WHERE routine_schema = DATABASE() "
                "AND routine_type = 'PROCEDURE'",
                "PROCEDURE",
                2,
            ),
            (
                "SELECT routine_name FROM information_schema.routines WHERE routine_schema = DATABASE() "
                "AND routine_type = 'FUNCTION'",
                "FUNCTION",
                2,
            ),
            ("SELECT event_name FROM information_schema.events WHERE event_schema = DATABASE()", "EVENT", 3),
        ):
            cur.execute(query)
            for (name,) in list(cur.fetchall()):
                cur.execute(f"SHOW CREATE {show} {MYSQL.quote(name)}")
                post.append(_definer(str(cur.fetchone()[index])))
        for spec in specs:
            check_cancel(cancel, "The backup")
            message = f"Exporting {spec.table} (built-in, no mariadb client)"
            rows_cur.execute(
                f"SELECT {', '.join(select_expression(c) for c in spec.columns)} FROM {MYSQL.quote(spec.table)}"
            )
            with (artifact / spec.file).open("w", encoding="utf-8", newline="\n") as out:
                while rows := rows_cur.fetchmany(FETCH):
                    out.writelines("\t".join("NULL" if v is None else v for v in row) + "\n" for row in rows)
                    done += len(rows)
                    progress(min(done, total), max(done, total), "rows", message)
                    check_cancel(cancel, "The backup")
        cur.execute("COMMIT")
    except pymysql.MySQLError as exc:
        raise tools.TransferError(f"The backup failed: {redact(driver_message(exc), url_secrets(url))}") from None
    finally:
        conn.close()
    (artifact / SCHEMA_JSON).write_text(json.dumps(schema, ensure_ascii=False, indent=1), encoding="utf-8")
    (artifact / POST_JSON).write_text(json.dumps(post, ensure_ascii=False, indent=1), encoding="utf-8")
    write_specs(artifact, specs)


def load_python(url: URL, artifact: Path, progress: Progress, cancel: threading.Event | None) -> None:
    """Load an artifact folder through PyMySQL alone (``LOAD DATA LOCAL`` still does the data)."""
    import pymysql

    if not (artifact / SCHEMA_JSON).exists():
        raise tools.ToolMissing(
            "This backup was made by mariadb-dump and needs the mariadb client to load: install the MariaDB client "
            "tools (Debian: mariadb-client).",
        )
    schema: list[str] = json.loads((artifact / SCHEMA_JSON).read_text(encoding="utf-8"))
    post: list[str] = json.loads((artifact / POST_JSON).read_text(encoding="utf-8"))
    specs = read_specs(artifact)
    sizes = [(artifact / s.file).stat().st_size for s in specs]
    total = max(1, sum(sizes))
    conn = _raw_connection(url, local_infile=True)
    try:
        cur = conn.cursor()
        for statement in (
            UTC.rstrip(";"),
            "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
            "SET SESSION foreign_key_checks = 0",
            "SET SESSION unique_checks = 0",
        ):
            cur.execute(statement)
        progress(0, total, "bytes", f"Creating the tables of {url.database}")
        tools.run_in_order(cur.execute, schema, (pymysql.MySQLError,))
        conn.begin()
        done = 0
        for spec, size in zip(specs, sizes, strict=True):
            check_cancel(cancel, "The load")
            progress(done, total, "bytes", f"Loading {spec.table} with LOAD DATA (built-in, no mariadb client)")
            if size:
                cur.execute(load_statement(artifact / spec.file, spec).rstrip(";"))
            done += size
        conn.commit()
        progress(total, total, "bytes", f"Creating triggers, routines and events in {url.database}")
        tools.run_in_order(cur.execute, post, (pymysql.MySQLError,))
    except pymysql.MySQLError as exc:
        raise tools.TransferError(f"The load failed: {redact(driver_message(exc), url_secrets(url))}") from None
    finally:
        conn.close()
