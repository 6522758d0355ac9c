"""PostgreSQL backup and load without pg_dump: the catalog's own DDL plus COPY, through psycopg.

For machines without the PostgreSQL client tools (or with ones older than the server). The schema is
rebuilt from the catalog (``format_type``, ``pg_get_constraintdef``, ``pg_get_indexdef``,
``pg_get_viewdef``, ``pg_get_functiondef``, ``pg_get_triggerdef``); rows travel as ``COPY ... TO
STDOUT`` text, one file per table, read in one REPEATABLE READ snapshot, and are loaded with
``COPY ... FROM STDIN``: bulk, never row by row. Before the data: schemas, enum types, sequences,
functions and tables with their primary key, unique and check constraints; after it: foreign keys,
indexes, views, triggers and sequence positions, so nothing fires or is checked row by row.

Not carried (pg_dump carries them): domains, composite and range types, partitioned tables, materialized
views, extensions, comments, privileges.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import URL

from ...engines import POSTGRESQL, DatabaseInfo, driver_message, url_secrets
from ...hooks import redact
from ...jobs import Progress, check_cancel
from .. import tools

logger = logging.getLogger(__name__)

FORMAT = "postgres-copy"
SCHEMA_FILE = "schema.json"
TABLES_FILE = "tables.json"
BLOCK = 1 << 20
_USER = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
_NOT_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"


def _connect(url: URL, **kwargs: Any) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=tools.url_password(url),
            dbname=url.database,
            application_name="changeover",
            connect_timeout=15,
            **kwargs,
        )
    except psycopg.Error as exc:
        raise _failure(exc, url, "be reached") from None


def _failure(exc: Exception, url: URL, doing: str) -> tools.TransferError:
    line = driver_message(exc)
    return tools.TransferError(f"PostgreSQL could not {doing}: {redact(line, url_secrets(url))}")


_ident = POSTGRESQL.quote


def _rows(cur: psycopg.Cursor[Any], sql: str) -> list[tuple[Any, ...]]:
    cur.execute(sql)
    return list(cur.fetchall())


def schema_statements(cur: psycopg.Cursor[Any]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(statements before the data, statements after it, tables with their copied columns)."""
    pre: list[str] = []
    post: list[str] = []
    for (schema,) in _rows(cur, f"SELECT n.nspname FROM pg_namespace n WHERE {_USER} AND n.nspname <> 'public'"):
        pre.append(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}")
    for qualified, labels in _rows(
        cur,
        "SELECT format('%I.%I', n.nspname, t.typname), array_agg(e.enumlabel ORDER BY e.enumsortorder) "
        f"FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid "
        f"WHERE {_USER} GROUP BY 1 ORDER BY 1",
    ):
        quoted = ", ".join("'" + label.replace("'", "''") + "'" for label in labels)
        pre.append(f"CREATE TYPE {qualified} AS ENUM ({quoted})")
    # Sequences not made by an identity column (serial ones included); positions are set after the data.
    for qualified, start, inc, low, high, cycle, last, owner in _rows(
        cur,
        "SELECT format('%I.%I', s.schemaname, s.sequencename), s.start_value, s.increment_by, s.min_value, "
        "s.max_value, s.cycle, s.last_value, "
        "(SELECT format('%I.%I.%I', tn.nspname, tc.relname, a.attname) FROM pg_depend d "
        " JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace "
        " JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
        " WHERE d.objid = format('%I.%I', s.schemaname, s.sequencename)::regclass AND d.deptype = 'a') "
        "FROM pg_sequences s WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema') "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = format('%I.%I', s.schemaname, "
        "s.sequencename)::regclass AND d.deptype = 'i') ORDER BY 1",
    ):
        pre.append(
            f"CREATE SEQUENCE {qualified} INCREMENT {inc} MINVALUE {low} MAXVALUE {high} START {start}"
            + (" CYCLE" if cycle else "")
        )
        if owner:
            post.append(f"ALTER SEQUENCE {qualified} OWNED BY {owner}")
        if last is not None:
            post.append(f"SELECT setval('{qualified.replace(chr(39), chr(39) * 2)}', {last}, true)")
    for (definition,) in _rows(
        cur,
        "SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        f"WHERE {_USER} AND p.prokind IN ('f', 'p') AND {_NOT_EXTENSION.format(oid='p.oid')} ORDER BY p.oid",
    ):
        pre.append(str(definition))
    tables: list[dict[str, Any]] = []
    for oid, qualified in _rows(
        cur,
        "SELECT c.oid, format('%I.%I', n.nspname, c.relname) FROM pg_class c "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND {_USER} "
        f"AND NOT c.relispartition AND {_NOT_EXTENSION.format(oid='c.oid')} ORDER BY 2",
    ):
        parts: list[str] = []
        copied: list[str] = []
        for name, type_, notnull, default, identity, generated in _rows(
            cur,
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated FROM pg_attribute a "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            f"WHERE a.attrelid = {int(oid)} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        ):
            column = f"{_ident(name)} {type_}"
            if generated == "s":
                column += f" GENERATED ALWAYS AS ({default}) STORED"
            else:
                copied.append(name)
                if identity in ("a", "d"):
                    column += f" GENERATED {'ALWAYS' if identity == 'a' else 'BY DEFAULT'} AS IDENTITY"
                elif default is not None:
                    column += f" DEFAULT {default}"
            if notnull:
                column += " NOT NULL"
            parts.append(column)
        for name, definition, kind in _rows(
            cur,
            "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
            f"WHERE conrelid = {int(oid)} AND contype IN ('p', 'u', 'c', 'x', 'f') ORDER BY contype, conname",
        ):
            clause = f"CONSTRAINT {_ident(name)} {definition}"
            if kind == "f":
                post.append(f"ALTER TABLE {qualified} ADD {clause}")
            else:
                parts.append(clause)
        pre.append(f"CREATE TABLE {qualified} (\n    " + ",\n    ".join(parts) + "\n)")
        for (definition,) in _rows(
            cur,
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = "
            f"{int(oid)} AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
        ):
            post.append(str(definition))
        for column, last in _rows(
            cur,
            "SELECT a.attname, s.last_value FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_sequences s ON format('%I.%I', s.schemaname, s.sequencename)::regclass = "
            "pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname)::regclass "
            f"WHERE a.attrelid = {int(oid)} AND a.attidentity IN ('a', 'd')",
        ):
            if last is not None:
                post.append(
                    f"SELECT setval(pg_get_serial_sequence('{qualified.replace(chr(39), chr(39) * 2)}', "
                    f"'{str(column).replace(chr(39), chr(39) * 2)}'), {last}, true)"
                )
        tables.append({"table": qualified, "columns": copied})
    for qualified, definition in _rows(
        cur,
        "SELECT format('%I.%I', n.nspname, c.relname), pg_get_viewdef(c.oid, true) FROM pg_class c "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'v' AND {_USER} ORDER BY c.oid",
    ):
        post.append(f"CREATE VIEW {qualified} AS {definition}")
    for (definition,) in _rows(
        cur,
        "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND {_USER} ORDER BY t.oid",
    ):
        post.append(str(definition))
    return pre, post, tables


def export(url: URL, info: DatabaseInfo, artifact: Path, progress: Progress, cancel: threading.Event | None) -> None:
    """Write ``schema.json``, ``tables.json`` and ``data/NNNN.copy`` for the database at ``url``."""
    (artifact / "data").mkdir(parents=True)
    total = max(1, info.size_bytes)
    done = 0
    with _connect(url) as conn:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        try:
            with conn.cursor() as cur:
                pre, post, tables = schema_statements(cur)
                for i, table in enumerate(tables):
                    table["file"] = f"data/{i:04d}.copy"
                    columns = ", ".join(_ident(c) for c in table["columns"])
                    message = f"Copying {table['table']} out (built-in, no pg_dump)"
                    with (
                        (artifact / table["file"]).open("wb") as out,
                        cur.copy(f"COPY (SELECT {columns} FROM {table['table']}) TO STDOUT") as copy,
                    ):
                        for block in copy:
                            out.write(block)
                            done += len(block)
                            progress(min(done, total), max(done, total), "bytes", message)
                            check_cancel(cancel, "The backup")
        except psycopg.Error as exc:
            raise _failure(exc, url, "be backed up") from None
    (artifact / SCHEMA_FILE).write_text(json.dumps({"pre": pre, "post": post}, indent=1), encoding="utf-8")
    (artifact / TABLES_FILE).write_text(json.dumps(tables, indent=1), encoding="utf-8")


def load(url: URL, artifact: Path, progress: Progress, cancel: threading.Event | None) -> None:
    """Load an artifact folder into the empty database at ``url``, in one transaction."""
    schema = json.loads((artifact / SCHEMA_FILE).read_text(encoding="utf-8"))
    tables = json.loads((artifact / TABLES_FILE).read_text(encoding="utf-8"))
    total = max(1, sum((artifact / t["file"]).stat().st_size for t in tables))
    done = 0
    with _connect(url) as conn:
        try:
            with conn.cursor() as cur:
                cur.execute("SET check_function_bodies = off")
                progress(0, total, "bytes", f"Creating the tables of {url.database}")
                tools.run_in_order(_in_savepoint(conn), schema["pre"], (psycopg.Error,))
                for table in tables:
                    check_cancel(cancel, "The load")
                    columns = ", ".join(_ident(c) for c in table["columns"])
                    message = f"Copying into {table['table']} (built-in, no pg_restore)"
                    with (
                        (artifact / table["file"]).open("rb") as source,
                        cur.copy(f"COPY {table['table']} ({columns}) FROM STDIN") as copy,
                    ):
                        while block := source.read(BLOCK):
                            copy.write(block)
                            done += len(block)
                            progress(min(done, total), total, "bytes", message)
                            check_cancel(cancel, "The load")
                progress(total, total, "bytes", f"Creating keys, indexes, views and triggers in {url.database}")
                tools.run_in_order(_in_savepoint(conn), schema["post"], (psycopg.Error,))
        except psycopg.Error as exc:
            raise _failure(exc, url, "load the backup") from None


def _in_savepoint(conn: psycopg.Connection[Any]) -> Callable[[str], None]:
    def execute(statement: str) -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(statement)

    return execute
