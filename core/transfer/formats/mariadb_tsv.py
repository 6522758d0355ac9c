"""The fast MariaDB/MySQL backup format: schema files plus one tab-separated file per table.

``mariadb-dump | mariadb`` spends most of its time parsing INSERT statements; ``LOAD DATA`` of the same
rows is about twice as fast. ``mariadb-dump --tab`` would give such files but makes the *server* write
them, so it only works on the server's own machine with the FILE privilege. Here the ``mariadb``
client reads every table in one consistent snapshot (``--batch --quick``) and the stream is split into
one file per table. The client itself escapes what ``LOAD DATA`` reads back (backslash, tab, newline and
NUL), in C, beside the server; the server only wraps each text value in double quotes (any inner quote
doubled) and prints blobs in hex, so that a bare ``NULL`` is the NULL and ``"NULL"`` the word: the files
are read with ``FIELDS OPTIONALLY ENCLOSED BY '"'`` (:attr:`TableFile.enclosed`). Backups written before
this (and by the PyMySQL path, :mod:`.mariadb_python`) had the server do all the escaping, with NULL as
``\\N``, and load as they were written. The artifact folder holds:

- ``schema.sql``: tables and views (``mariadb-dump --no-data --skip-triggers``), AUTO_INCREMENT kept;
- ``post.sql``: triggers, routines and events, created after the data so no trigger fires on it;
- ``data/NNNN.tsv`` and ``columns.json`` (table, file, columns and how each is encoded).

A load runs ``schema.sql`` without the secondary indexes and foreign keys it can build later
(:func:`defer_keys`), then ``LOAD DATA LOCAL INFILE`` for each table with foreign key checks off, then
those indexes (one ALTER TABLE per table, tables in parallel) and foreign keys, then ``post.sql``,
each through the ``mariadb`` client with credentials in a 0600 option file. DEFINER clauses are
rewritten to CURRENT_USER so a non-SUPER user can load.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import URL

from ...engines import MYSQL, DatabaseInfo, url_secrets
from ...errors import Cancelled
from ...jobs import Progress
from .. import tools
from ..reading import SPATIAL_TYPES, versioned_refusal, versioned_tables

logger = logging.getLogger(__name__)

FORMAT = "mariadb-tsv"

COLUMNS_FILE = "columns.json"

#: the session time zone of every export and load: TIMESTAMP values pass as the UTC instants they are stored as
UTC = "SET SESSION time_zone = '+00:00';"

_TEXT = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json"})

_BINARY = frozenset({"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", *SPATIAL_TYPES})


# Literals built from CHAR() so neither the sql_mode (NO_BACKSLASH_ESCAPES) nor quoting can change them.
_BS = "CHAR(92 USING utf8mb4)"

_NULL = f"CONCAT({_BS}, 'N')"


@dataclass(frozen=True)
class Column:
    name: str
    #: escaped in the server (the older files): text | hex | bit | nullword | plain;
    #: escaped by the client (:attr:`TableFile.enclosed`): quoted | hex | bit | plain
    how: str


@dataclass(frozen=True)
class TableFile:
    table: str
    file: str
    columns: tuple[Column, ...]
    #: written by the client's own escaping, text in double quotes: read with ``OPTIONALLY ENCLOSED BY '"'``
    enclosed: bool = False


#: how each column kind of :func:`read_columns` is written when the client escapes (a NULL of any kind is the
#: bare word NULL, which only a quoted field can otherwise hold)
_ENCLOSED = {"text": "quoted", "nullword": "plain", "plain": "plain", "hex": "hex", "bit": "bit"}


def enclosed(columns: tuple[Column, ...]) -> tuple[Column, ...]:
    """``columns`` (as :func:`read_columns` gives them) as a client-escaped, quoted file holds them."""
    return tuple(Column(c.name, _ENCLOSED[c.how]) for c in columns)


_q = MYSQL.quote


def select_expression(column: Column, *, enclosed: bool = False) -> str:
    """What to SELECT so the client prints a field ``LOAD DATA`` reads back as the same value: escaped by the
    server, for a client with ``--raw``; or, ``enclosed``, by the client itself, text in double quotes and any
    NULL printed as the bare word NULL."""
    q = _q(column.name)
    if enclosed:
        if column.how == "quoted":
            return f"CONCAT('\"', REPLACE({q}, '\"', '\"\"'), '\"')"
        return {"hex": f"HEX({q})", "bit": f"CAST({q} AS UNSIGNED)"}.get(column.how, q)
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
        if column.how in ("text", "plain", "quoted"):
            targets.append(_q(column.name))
            continue
        var = f"@c{i}"
        targets.append(var)
        value = {"hex": f"UNHEX({var})", "bit": f"CAST({var} AS UNSIGNED)", "nullword": f"NULLIF({var}, 'NULL')"}
        sets.append(f"{_q(column.name)} = {value[column.how]}")
    literal = "'" + str(path).replace("\\", "\\\\").replace("'", "''") + "'"
    fields = " FIELDS OPTIONALLY ENCLOSED BY '\"'" if spec.enclosed else ""
    statement = (
        f"LOAD DATA LOCAL INFILE {literal} INTO TABLE {_q(spec.table)} CHARACTER SET utf8mb4{fields} "
        f"({', '.join(targets)})"
    )
    return statement + (f" SET {', '.join(sets)}" if sets else "") + ";"


def read_columns(url: URL) -> dict[str, tuple[Column, ...]]:
    """Every base table's stored (not generated) columns in order, with how each is encoded. A database with a
    system-versioned table is refused: its history cannot be carried (:func:`~..reading.versioned_refusal`)."""
    with MYSQL.connect(url, f"read the columns of '{url.database}'") as conn:
        versioned = versioned_tables(conn)
        if versioned:
            raise tools.TransferError(f"The backup of '{url.database}' cannot be made: {versioned_refusal(versioned)}")
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


class Splitter:
    """Writes the client's output into one file per table, cut at the marker lines between tables."""

    def __init__(
        self, folder: Path, marker: bytes, files: list[str], on_switch: Callable[[int], None] | None = None
    ) -> None:
        self.folder = folder
        self.marker = marker
        self.files = files
        self.on_switch = on_switch  # told each table's index as its rows begin
        self.current: BinaryIO | None = None
        self.carry = b""
        self.index = -1

    def _switch(self, index: int) -> None:
        if self.current is not None:
            self.current.close()
        self.index = index
        self.current = (self.folder / self.files[index]).open("wb")
        if self.on_switch is not None:
            self.on_switch(index)

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
    info: DatabaseInfo,
    artifact: Path,
    dump: tools.Tool,
    client: tools.Tool,
    progress: Progress,
    cancel: threading.Event | None,
    on_table: Callable[[str], None] | None = None,
) -> None:
    """Write the artifact folder for ``url`` (see the module docstring). ``on_table(name)`` is told as each
    table's export begins, tables in name order."""
    data = artifact / "data"
    data.mkdir(parents=True)
    columns = read_columns(url)
    specs = [
        TableFile(table, f"data/{i:04d}.tsv", enclosed(cols), enclosed=True)
        for i, (table, cols) in enumerate(sorted(columns.items()))
    ]
    marker = f"changeover-split-{secrets.token_hex(16)}:".encode()
    script = [
        # TIMESTAMPs in UTC, read and written (the load's preamble too): in a zone with summer time, two instants
        # of the hour that repeats print as the same local time
        UTC,
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;",
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;",
    ]
    for i, spec in enumerate(specs):
        script.append(f"SELECT '{marker.decode()}{i}';")
        fields = ", ".join(select_expression(c, enclosed=spec.enclosed) for c in spec.columns)
        script.append(f"SELECT {fields} FROM {_q(spec.table)};")
    script.append("COMMIT;")
    for spec in specs:  # tables with no rows still get their (empty) file
        (artifact / spec.file).touch()
    secrets_ = url_secrets(url)
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
        argv = [
            client.path,
            f"--defaults-extra-file={options}",
            "--batch",  # without --raw: the client escapes each field as LOAD DATA reads it
            "--skip-column-names",
            "--quick",
            "--default-character-set=utf8mb4",
            f"--database={url.database}",
        ]
        began = None if on_table is None else (lambda index: on_table(specs[index].table))
        splitter = Splitter(artifact, marker, [spec.file for spec in specs], began)
        progress(0, total, "bytes", message)
        try:
            tools.run(
                argv,
                what="The backup",
                secrets=secrets_,
                cancel=cancel,
                source=io.BytesIO("\n".join(script).encode()),
                sink=splitter,
                on_bytes=lambda n: progress(min(n, total), max(n, total), "bytes", message),
            )
        finally:
            splitter.close()
    write_specs(artifact, specs)


def read_specs(artifact: Path) -> list[TableFile]:
    raw = json.loads((artifact / COLUMNS_FILE).read_text(encoding="utf-8"))
    return [
        TableFile(
            str(t["table"]),
            str(t["file"]),
            tuple(Column(str(n), str(h)) for n, h in t["columns"]),
            enclosed=bool(t.get("enclosed", False)),
        )
        for t in raw
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


_CREATE_TABLE = re.compile(rb"^CREATE TABLE (`(?:[^`]|``)+`) \($")
_SECONDARY_KEY = re.compile(rb"^  (?:UNIQUE )?KEY `")
_FOREIGN_KEY = re.compile(rb"^  CONSTRAINT `(?:[^`]|``)+` FOREIGN KEY ")
_PRIMARY_KEY = re.compile(rb"^  PRIMARY KEY \(`((?:[^`]|``)+)`")
_COLUMN = re.compile(rb"^  `((?:[^`]|``)+)` ")


@dataclass
class DeferredKeys:
    """What a load builds after the data: each InnoDB table's secondary indexes, then every foreign key.

    Building an index once from sorted data is much faster than maintaining it row by row while the rows go
    in (pg_restore does the same). FULLTEXT and SPATIAL indexes stay in the CREATE TABLE (InnoDB would
    rebuild a table to add its first FULLTEXT index), as does everything of a table whose AUTO_INCREMENT
    column is not its primary key's first column (it needs that key to exist), that has no primary key
    (InnoDB would cluster it by a unique key instead), or that is system-versioned.
    """

    indexes: list[str]  # one ALTER TABLE per table, all its keys at once
    foreign_keys: list[str]


def defer_keys(schema: bytes) -> tuple[bytes, DeferredKeys]:
    """``schema.sql`` without the secondary keys and foreign keys it can build after the data, and those."""
    out: list[bytes] = []
    deferred = DeferredKeys([], [])
    lines = schema.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        match = _CREATE_TABLE.match(lines[i].rstrip(b"\r\n"))
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith(b") ")), None) if match else None
        if match is None or end is None:
            out.append(lines[i])
            i += 1
            continue
        table = match.group(1).decode("utf-8")
        body = [line.rstrip(b"\r\n").removesuffix(b",") for line in lines[i + 1 : end]]
        tail = lines[end]
        primary = next((m.group(1) for m in map(_PRIMARY_KEY.match, body) if m), None)
        auto = next((m.group(1) for line in body if (m := _COLUMN.match(line)) and b" AUTO_INCREMENT" in line), None)
        movable = (
            b"ENGINE=InnoDB" in tail
            and b"WITH SYSTEM VERSIONING" not in tail
            and primary is not None
            and (auto is None or auto == primary)
            and not any(b"PERIOD FOR" in line for line in body)
        )
        keys = [line for line in body if movable and _SECONDARY_KEY.match(line)]
        foreign = [line for line in body if movable and _FOREIGN_KEY.match(line)]
        kept = [line for line in body if line not in keys and line not in foreign]
        out.append(lines[i])
        out.extend(line + (b",\n" if n < len(kept) - 1 else b"\n") for n, line in enumerate(kept))
        out.append(tail)
        if keys:
            adds = ", ".join("ADD " + line.strip().decode("utf-8") for line in keys)
            deferred.indexes.append(f"ALTER TABLE {table} {adds};")
        deferred.foreign_keys += [f"ALTER TABLE {table} ADD {line.strip().decode('utf-8')};" for line in foreign]
        i = end + 1
    return b"".join(out), deferred


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
    jobs: int = 1,
) -> None:
    """Load an artifact folder into the empty database at ``url``, the tables' data by ``jobs`` clients at once
    (each in one transaction of its own: InnoDB bulk-loads an empty table)."""
    specs = read_specs(artifact)
    sizes = [(artifact / s.file).stat().st_size for s in specs]
    total = max(1, sum(sizes))
    secrets_ = url_secrets(url)
    with tools.mysql_options_for(url) as options:
        argv = [
            client.path,
            f"--defaults-extra-file={options}",
            "--default-character-set=utf8mb4",
            "--binary-mode",
            f"--database={url.database}",
        ]
        progress(0, total, "bytes", f"Creating the tables of {url.database}")
        schema, deferred = defer_keys((artifact / "schema.sql").read_bytes())
        tools.run(
            argv, what="The load", secrets=secrets_, cancel=cancel, source=io.BytesIO(schema), transform=dump_rewriter()
        )
        preamble = [
            UTC,
            "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '');",
            "SET SESSION foreign_key_checks = 0;",
            # One transaction per client. unique_checks stays on: off, it turns on InnoDB's bulk insert into an
            # empty table, which sorts every index of it at commit; that was a quarter slower here than plain
            # inserts, and the secondary keys are built after the data anyway (:func:`defer_keys`).
            "SET SESSION autocommit = 0;",
        ]
        # The tables in up to ``jobs`` groups of about equal bytes, each loaded by its own client at once
        loads = sorted(
            ((size, load_statement(artifact / s.file, s)) for s, size in zip(specs, sizes, strict=True) if size),
            reverse=True,
        )
        groups: list[list[tuple[int, str]]] = [[] for _ in range(max(1, min(jobs, len(loads))))]
        for item in loads:
            min(groups, key=lambda g: sum(size for size, _ in g)).append(item)
        counters = [_Statements() for _ in groups]
        message = (
            f"Loading into {url.database} with LOAD DATA, {len(groups)} at once ({client.name} {client.version_text})"
        )
        stop = threading.Event()  # the user's cancel, or a sibling that failed: every client stops

        def tick() -> None:
            if cancel is not None and cancel.is_set():
                stop.set()
            done = 0
            for group, counter in zip(groups, counters, strict=True):
                finished = max(0, counter.done - len(preamble))
                done += sum(size for size, _ in group[:finished])
            progress(min(done, total), total, "bytes", message)

        def one(group: list[tuple[int, str]], counter: _Statements) -> None:
            try:
                tools.run(
                    [*argv, "--local-infile=1", "-vvv"],
                    what="The load",
                    secrets=secrets_,
                    cancel=stop,
                    source=io.BytesIO("\n".join([*preamble, *(sql for _, sql in group), "COMMIT;"]).encode()),
                    sink=counter,
                    tick=tick,
                )
            except BaseException:
                stop.set()
                raise

        progress(0, total, "bytes", message)
        with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="load-data") as pool:
            futures = [pool.submit(one, g, c) for g, c in zip(groups, counters, strict=True)]
            wait(futures)
        errors = [e for e in (f.exception() for f in futures) if e is not None]
        if cancel is not None and cancel.is_set():
            raise Cancelled("The load was cancelled by the user.")
        if errors:  # the client that failed first, not the siblings it stopped
            raise next((e for e in errors if not isinstance(e, Cancelled)), errors[0])
        _build_keys(argv, deferred, jobs, url, secrets_, progress, cancel)
        progress(total, total, "bytes", f"Creating triggers, routines and events in {url.database}")
        with (artifact / "post.sql").open("rb") as post:
            tools.run(argv, what="The load", secrets=secrets_, cancel=cancel, source=post, transform=dump_rewriter())


def _build_keys(
    argv: list[str],
    deferred: DeferredKeys,
    jobs: int,
    url: URL,
    secrets_: tuple[str, ...],
    progress: Progress,
    cancel: threading.Event | None,
) -> None:
    """The indexes deferred by :func:`defer_keys`, by up to ``jobs`` clients at once, then the foreign keys
    (unchecked: the rows come from a database that enforced them)."""
    total = len(deferred.indexes) + len(deferred.foreign_keys)
    if not total:
        return
    message = f"Building the indexes and foreign keys of {url.database} after the data"
    done = [0]
    lock = threading.Lock()

    def run(statements: list[str]) -> None:
        script = ["SET SESSION foreign_key_checks = 0;", *statements]
        tools.run(argv, what="The load", secrets=secrets_, cancel=cancel, source=io.BytesIO("\n".join(script).encode()))
        with lock:
            done[0] += len(statements)
            progress(done[0], total, "indexes", message)

    progress(0, total, "indexes", message)
    groups = [deferred.indexes[k :: max(1, jobs)] for k in range(max(1, min(jobs, len(deferred.indexes))))]
    with ThreadPoolExecutor(max_workers=max(1, len(groups)), thread_name_prefix="load-keys") as pool:
        for future in [pool.submit(run, g) for g in groups if g]:
            future.result()
    if deferred.foreign_keys:
        run(deferred.foreign_keys)


def write_specs(artifact: Path, specs: list[TableFile]) -> None:
    (artifact / COLUMNS_FILE).write_text(
        json.dumps(
            [
                {
                    "table": s.table,
                    "file": s.file,
                    "columns": [[c.name, c.how] for c in s.columns],
                    **({"enclosed": True} if s.enclosed else {}),
                }
                for s in specs
            ],
            indent=1,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
