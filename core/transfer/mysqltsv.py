"""The fast MariaDB/MySQL backup format: schema files plus one tab-separated file per table.

``mariadb-dump | mariadb`` spends most of its time parsing INSERT statements; ``LOAD DATA`` of the same
rows is about twice as fast. ``mariadb-dump --tab`` would give such files but makes the *server* write
them, so it only works on the server's own machine with the FILE privilege. Here the ``mariadb``
client reads every table in one consistent snapshot (``--batch --raw --quick``) with the escaping
``LOAD DATA`` expects done inside the server (text escaped, blobs in hex, NULL as ``\\N``), and the
stream is split into one file per table. The artifact folder holds:

- ``schema.sql``: tables and views (``mariadb-dump --no-data --skip-triggers``), AUTO_INCREMENT kept;
- ``post.sql``: triggers, routines and events, created after the data so no trigger fires on it;
- ``data/NNNN.tsv`` and ``columns.json`` (table, file, columns and how each is encoded).

A load runs ``schema.sql``, then ``LOAD DATA LOCAL INFILE`` for each table with foreign key and
unique checks off, then ``post.sql``, each through the ``mariadb`` client with credentials in a 0600
option file. DEFINER clauses are rewritten to CURRENT_USER so a non-SUPER user can load.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..hooks import redact
from ..jobs import Progress, check_cancel
from ..providers import base as providers
from ..providers.mysql import connect
from . import tools

logger = logging.getLogger(__name__)

FORMAT = "mariadb-tsv"
COLUMNS_FILE = "columns.json"

_TEXT = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json"})
_BINARY = frozenset(
    {
        "binary",
        "varbinary",
        "tinyblob",
        "blob",
        "mediumblob",
        "longblob",
        "geometry",
        "point",
        "linestring",
        "polygon",
        "multipoint",
        "multilinestring",
        "multipolygon",
        "geometrycollection",
    }
)
# Literals built from CHAR() so neither the sql_mode (NO_BACKSLASH_ESCAPES) nor quoting can change them.
_BS = "CHAR(92 USING utf8mb4)"
_NULL = f"CONCAT({_BS}, 'N')"


@dataclass(frozen=True)
class Column:
    name: str
    how: str  # text | hex | bit | nullword | plain


@dataclass(frozen=True)
class TableFile:
    table: str
    file: str
    columns: tuple[Column, ...]


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def select_expression(column: Column) -> str:
    """What to SELECT so the client prints a field ``LOAD DATA`` reads back as the same value."""
    q = _q(column.name)
    if column.how == "text":
        escaped = q
        for char, code in (
            ("92", f"CONCAT({_BS}, {_BS})"),
            ("9", f"CONCAT({_BS}, 't')"),
            ("10", f"CONCAT({_BS}, 'n')"),
        ):
            escaped = f"REPLACE({escaped}, CHAR({char} USING utf8mb4), {code})"
        escaped = f"REPLACE({escaped}, CHAR(0 USING utf8mb4), CONCAT({_BS}, '0'))"
        return f"IFNULL({escaped}, {_NULL})"
    if column.how == "hex":
        return f"IFNULL(HEX({q}), {_NULL})"
    if column.how == "bit":
        return f"IFNULL(CAST({q} AS UNSIGNED), {_NULL})"
    return q  # numbers, dates, times: the client prints NULL as the word NULL, which no such value is


def load_statement(path: Path, spec: TableFile) -> str:
    """``LOAD DATA LOCAL INFILE`` for one table's file (the session has NO_BACKSLASH_ESCAPES off)."""
    targets: list[str] = []
    sets: list[str] = []
    for i, column in enumerate(spec.columns):
        if column.how in ("text", "plain"):
            targets.append(_q(column.name))
            continue
        var = f"@c{i}"
        targets.append(var)
        value = {"hex": f"UNHEX({var})", "bit": f"CAST({var} AS UNSIGNED)", "nullword": f"NULLIF({var}, 'NULL')"}
        sets.append(f"{_q(column.name)} = {value[column.how]}")
    literal = "'" + str(path).replace("\\", "\\\\").replace("'", "''") + "'"
    statement = (
        f"LOAD DATA LOCAL INFILE {literal} INTO TABLE {_q(spec.table)} CHARACTER SET utf8mb4 ({', '.join(targets)})"
    )
    return statement + (f" SET {', '.join(sets)}" if sets else "") + ";"


def read_columns(url: URL) -> dict[str, tuple[Column, ...]]:
    """Every base table's stored (not generated) columns in order, with how each is encoded."""
    with connect(url, f"read the columns of '{url.database}'") as conn:
        rows = conn.execute(
            sa.text(
                "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable "
                "FROM information_schema.columns c JOIN information_schema.tables t "
                "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
                "WHERE c.table_schema = DATABASE() AND t.table_type = 'BASE TABLE' "
                "AND COALESCE(c.generation_expression, '') = '' "
                "ORDER BY c.table_name, c.ordinal_position"
            )
        ).all()
    found: dict[str, list[Column]] = {}
    for table, name, data_type, nullable in rows:
        kind = str(data_type).lower()
        if kind in _TEXT:
            how = "text"
        elif kind in _BINARY:
            how = "hex"
        elif kind == "bit":
            how = "bit"
        else:
            how = "nullword" if nullable == "YES" else "plain"
        found.setdefault(str(table), []).append(Column(str(name), how))
    return {table: tuple(cols) for table, cols in found.items()}


class _Splitter:
    """Writes the client's output into one file per table, cut at the marker lines between tables."""

    def __init__(self, folder: Path, marker: bytes, files: list[str]) -> None:
        self.folder = folder
        self.marker = marker
        self.files = files
        self.current: BinaryIO | None = None
        self.carry = b""
        self.index = -1

    def _switch(self, index: int) -> None:
        if self.current is not None:
            self.current.close()
        self.index = index
        self.current = (self.folder / self.files[index]).open("wb")

    def write(self, block: bytes, /) -> int:
        data = self.carry + block
        start = 0
        while True:
            # The marker holds 128 random bits: it cannot occur in the data by chance.
            at = data.find(self.marker, start)
            if at < 0:
                cut = max(start, len(data) - len(self.marker) - 24)
                self._emit(data[start:cut])
                self.carry = data[cut:]
                return len(block)
            end = data.find(b"\n", at)
            if end < 0:
                self._emit(data[start:at])
                self.carry = data[at:]
                return len(block)
            self._emit(data[start:at])
            self._switch(int(data[at + len(self.marker) : end]))
            start = end + 1

    def _emit(self, data: bytes) -> None:
        if data:
            if self.current is None:
                raise tools.TransferError("The table export began without a table marker.")
            self.current.write(data)

    def close(self) -> None:
        self._emit(self.carry)
        self.carry = b""
        if self.current is not None:
            self.current.close()
            self.current = None


def export(
    url: URL,
    info: providers.DatabaseInfo,
    artifact: Path,
    dump: tools.Tool,
    client: tools.Tool,
    progress: Progress,
    cancel: threading.Event | None,
) -> None:
    """Write the artifact folder for ``url`` (see the module docstring)."""
    data = artifact / "data"
    data.mkdir(parents=True)
    columns = read_columns(url)
    specs = [TableFile(table, f"data/{i:04d}.tsv", cols) for i, (table, cols) in enumerate(sorted(columns.items()))]
    marker = f"changeover-split-{secrets.token_hex(16)}:".encode()
    script = [
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;",
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;",
    ]
    for i, spec in enumerate(specs):
        script.append(f"SELECT '{marker.decode()}{i}';")
        script.append(f"SELECT {', '.join(select_expression(c) for c in spec.columns)} FROM {_q(spec.table)};")
    script.append("COMMIT;")
    for spec in specs:  # tables with no rows still get their (empty) file
        (artifact / spec.file).touch()
    secrets_ = providers.url_secrets(url)
    total = max(1, info.size_bytes)
    message = f"Exporting {url.database} with {client.name} {client.version_text}"
    with tools.mysql_options_for(url) as options:
        base = [
            dump.path,
            f"--defaults-extra-file={options}",
            "--single-transaction",
            "--no-tablespaces",
            "--default-character-set=utf8mb4",
            "--skip-dump-date",
        ]
        progress(0, total, "bytes", f"Dumping the schema of {url.database}")
        tools.run(
            [
                *base,
                "--no-data",
                "--skip-triggers",
                f"--result-file={artifact / 'schema.sql'}",
                "--",
                url.database or "",
            ],
            what="The backup",
            secrets=secrets_,
            cancel=cancel,
        )
        _unqualify_file(artifact / "schema.sql", url.database or "")
        tools.run(
            [
                *base,
                "--no-data",
                "--no-create-info",
                "--triggers",
                "--routines",
                "--events",
                f"--result-file={artifact / 'post.sql'}",
                "--",
                url.database or "",
            ],
            what="The backup",
            secrets=secrets_,
            cancel=cancel,
        )
        splitter = _Splitter(artifact, marker, [spec.file for spec in specs])
        progress(0, total, "bytes", message)
        try:
            tools.run(
                [
                    client.path,
                    f"--defaults-extra-file={options}",
                    "--batch",
                    "--raw",
                    "--skip-column-names",
                    "--quick",
                    "--default-character-set=utf8mb4",
                    f"--database={url.database}",
                ],
                what="The backup",
                secrets=secrets_,
                cancel=cancel,
                source=io.BytesIO("\n".join(script).encode()),
                sink=splitter,
                on_bytes=lambda n: progress(min(n, total), max(n, total), "bytes", message),
            )
        finally:
            splitter.close()
    _write_specs(artifact, specs)


def read_specs(artifact: Path) -> list[TableFile]:
    raw = json.loads((artifact / COLUMNS_FILE).read_text(encoding="utf-8"))
    return [
        TableFile(str(t["table"]), str(t["file"]), tuple(Column(str(n), str(h)) for n, h in t["columns"])) for t in raw
    ]


_DEFINER = re.compile(rb"DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*`")
_DATA_LINE = (b"INSERT INTO ", b"INSERT  INTO ")


def rewrite_definer(line: bytes) -> bytes:
    """A dump line with its DEFINER made CURRENT_USER (data lines are passed through untouched)."""
    if line.startswith(_DATA_LINE) or b"DEFINER=" not in line:
        return line
    return _DEFINER.sub(b"DEFINER=CURRENT_USER", line)


#: MariaDB stores a column's ``DEFAULT NEXT VALUE FOR seq`` as ``nextval(`db`.`seq`)``, naming the database:
#: loaded as it is, the new database's column would go on drawing from the *old* database's sequence
_QUALIFIED_SEQUENCE = re.compile(rb"\b(nextval|lastval|setval)\(`((?:[^`]|``)+)`\.", re.I)
_DUMP_DATABASE = re.compile(rb"^-- Host: .*\sDatabase: (.+?)\s*$")


def unqualify_sequences(line: bytes, database: str) -> bytes:
    """``nextval(`database`.`seq`)`` made ``nextval(`seq`)`` (the database the statement runs in); a sequence
    of another database keeps its name. Data lines pass untouched."""
    if line.startswith(_DATA_LINE) or b"`." not in line:
        return line
    name = database.replace("`", "``").encode()
    return _QUALIFIED_SEQUENCE.sub(lambda m: m.group(1) + b"(" if m.group(2) == name else m.group(0), line)


def dump_rewriter() -> Callable[[bytes], bytes]:
    """The transform for loading one ``mariadb-dump`` file: DEFINERs made CURRENT_USER, and the dumped
    database's own sequences no longer named by database (which it reads from the dump's header line)."""
    state = {"database": ""}

    def rewrite(line: bytes) -> bytes:
        if not state["database"] and line.startswith(b"-- Host: "):
            match = _DUMP_DATABASE.match(line.rstrip(b"\r\n"))
            if match:
                state["database"] = match.group(1).decode("utf-8", errors="replace")
        line = rewrite_definer(line)
        return unqualify_sequences(line, state["database"]) if state["database"] else line

    return rewrite


def _unqualify_file(path: Path, database: str) -> None:
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    fixed = [unqualify_sequences(line, database) for line in lines]
    if fixed != lines:
        path.write_bytes(b"".join(fixed))


class _Statements:
    """Counts the statements the client finished (``-vvv`` prints 'Query OK' after each)."""

    def __init__(self) -> None:
        self.done = 0
        self.tail = b""

    def write(self, block: bytes, /) -> int:
        data = self.tail + block
        self.done += data.count(b"Query OK")
        self.tail = data[-8:]
        return len(block)


def load(
    url: URL,
    artifact: Path,
    client: tools.Tool,
    progress: Progress,
    cancel: threading.Event | None,
) -> None:
    """Load an artifact folder into the empty database at ``url``."""
    specs = read_specs(artifact)
    sizes = [(artifact / s.file).stat().st_size for s in specs]
    total = max(1, sum(sizes))
    secrets_ = providers.url_secrets(url)
    with tools.mysql_options_for(url) as options:
        argv = [
            client.path,
            f"--defaults-extra-file={options}",
            "--default-character-set=utf8mb4",
            "--binary-mode",
            f"--database={url.database}",
        ]
        progress(0, total, "bytes", f"Creating the tables of {url.database}")
        with (artifact / "schema.sql").open("rb") as schema:
            tools.run(argv, what="The load", secrets=secrets_, cancel=cancel, source=schema, transform=dump_rewriter())
        preamble = [
            "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '');",
            "SET SESSION foreign_key_checks = 0;",
            "SET SESSION unique_checks = 0;",
            # One transaction into empty tables lets InnoDB bulk-load them (about a third faster here).
            "SET SESSION autocommit = 0;",
        ]
        statements = [load_statement(artifact / s.file, s) for s, size in zip(specs, sizes, strict=True) if size]
        loaded = [size for size in sizes if size]
        counter = _Statements()
        message = f"Loading into {url.database} with LOAD DATA ({client.name} {client.version_text})"

        def tick() -> None:
            finished = max(0, counter.done - len(preamble))
            progress(min(sum(loaded[:finished]), total), total, "bytes", message)

        progress(0, total, "bytes", message)
        tools.run(
            [*argv, "--local-infile=1", "-vvv"],
            what="The load",
            secrets=secrets_,
            cancel=cancel,
            source=io.BytesIO("\n".join([*preamble, *statements, "COMMIT;"]).encode()),
            sink=counter,
            tick=tick,
        )
        progress(total, total, "bytes", f"Creating triggers, routines and events in {url.database}")
        with (artifact / "post.sql").open("rb") as post:
            tools.run(argv, what="The load", secrets=secrets_, cancel=cancel, source=post, transform=dump_rewriter())


# -- without the native tools: the same format through PyMySQL ---------------------------------------

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
            f"MariaDB/MySQL could not be reached: {redact(providers.driver_message(exc), providers.url_secrets(url))}"
        ) from None


def _definer(statement: str) -> str:
    return rewrite_definer(statement.encode()).decode()


def export_python(
    url: URL, info: providers.DatabaseInfo, artifact: Path, progress: Progress, cancel: threading.Event | None
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
            cur.execute(f"SHOW CREATE {what} {_q(name)}")
            created = unqualify_sequences(str(cur.fetchone()[1]).encode(), url.database or "").decode()
            schema.append(_definer(created))
            if what == "SEQUENCE":  # its position, as mariadb-dump writes it
                cur.execute(f"SELECT next_not_cached_value FROM {_q(name)}")
                schema.append(f"DO SETVAL({_q(name)}, {int(cur.fetchone()[0])}, 0)")
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
                cur.execute(f"SHOW CREATE {show} {_q(name)}")
                post.append(_definer(str(cur.fetchone()[index])))
        for spec in specs:
            check_cancel(cancel, "The backup")
            message = f"Exporting {spec.table} (built-in, no mariadb client)"
            rows_cur.execute(f"SELECT {', '.join(select_expression(c) for c in spec.columns)} FROM {_q(spec.table)}")
            with (artifact / spec.file).open("w", encoding="utf-8", newline="\n") as out:
                while rows := rows_cur.fetchmany(FETCH):
                    out.writelines("\t".join("NULL" if v is None else v for v in row) + "\n" for row in rows)
                    done += len(rows)
                    progress(min(done, total), max(done, total), "rows", message)
                    check_cancel(cancel, "The backup")
        cur.execute("COMMIT")
    except pymysql.MySQLError as exc:
        raise tools.TransferError(
            f"The backup failed: {redact(providers.driver_message(exc), providers.url_secrets(url))}"
        ) from None
    finally:
        conn.close()
    (artifact / SCHEMA_JSON).write_text(json.dumps(schema, ensure_ascii=False, indent=1), encoding="utf-8")
    (artifact / POST_JSON).write_text(json.dumps(post, ensure_ascii=False, indent=1), encoding="utf-8")
    _write_specs(artifact, specs)


def _write_specs(artifact: Path, specs: list[TableFile]) -> None:
    (artifact / COLUMNS_FILE).write_text(
        json.dumps(
            [{"table": s.table, "file": s.file, "columns": [[c.name, c.how] for c in s.columns]} for s in specs],
            indent=1,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )


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
        raise tools.TransferError(
            f"The load failed: {redact(providers.driver_message(exc), providers.url_secrets(url))}"
        ) from None
    finally:
        conn.close()
