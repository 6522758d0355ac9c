"""The MariaDB tab-separated format: its pieces that need no server (splitting and SQL), and the awkward values
its client-escaped files must carry through a real server."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from changeover.core.transfer.backup import BackupParams, backup
from changeover.core.transfer.formats.mariadb_tsv import (
    Column,
    Splitter,
    TableFile,
    load_statement,
    read_specs,
    rewrite_definer,
)
from changeover.core.transfer.load import LoadParams, load
from changeover.core.transfer.preflight import check_source
from changeover.core.transfer.tools import TransferError

MARKER = b"changeover-split-0123456789abcdef0123456789abcdef:"


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_the_stream_is_cut_into_one_file_per_table_whatever_the_chunks(tmp_path: Path, chunk: int) -> None:
    tables = {
        "a.tsv": b"1\tx\n2\ty\\tz\n",
        "b.tsv": b"",
        "c.tsv": b"3\t\\N\n" * 50 + b"4\tchangeover-split-not-ours:1\n",
    }
    stream = b"".join(MARKER + str(i).encode() + b"\n" + body for i, body in enumerate(tables.values()))
    splitter = Splitter(tmp_path, MARKER, list(tables))
    rng = random.Random(chunk)
    at = 0
    while at < len(stream):
        size = rng.randint(1, chunk)
        splitter.write(stream[at : at + size])
        at += size
    splitter.close()

    assert {name: (tmp_path / name).read_bytes() for name in tables} == tables


def test_load_statement_decodes_each_column_kind() -> None:
    spec = TableFile(
        "we`ird",
        "data/0000.tsv",
        (
            Column("id", "plain"),
            Column("body", "text"),
            Column("blob", "hex"),
            Column("n", "nullword"),
            Column("b", "bit"),
        ),
    )

    sql = load_statement(Path("/tmp/it's/0000.tsv"), spec)

    assert sql.startswith("LOAD DATA LOCAL INFILE '/tmp/it''s/0000.tsv' INTO TABLE `we``ird` CHARACTER SET utf8mb4")
    assert "(`id`, `body`, @c2, @c3, @c4)" in sql
    assert "`blob` = UNHEX(@c2)" in sql and "`n` = NULLIF(@c3, 'NULL')" in sql and "`b` = CAST(@c4 AS UNSIGNED)" in sql


def test_definers_become_the_loading_user_but_data_is_untouched() -> None:
    trigger = b"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER t BEFORE INSERT ON x */;;\n"
    data = b"INSERT INTO `x` VALUES ('DEFINER=`root`@`localhost`');\n"

    assert rewrite_definer(trigger) == trigger.replace(b"`root`@`localhost`", b"CURRENT_USER")
    assert rewrite_definer(data) == data


#: text values the client's escaping and the double quotes must carry as they are: quotes inside, before, after
#: and doubled, the word NULL and ``\N`` as text, every escape LOAD DATA knows, and bytes a blob may start with
AWKWARD_TEXT = [
    "NULL",
    "\\N",
    "null",
    '"',
    '""',
    '"NULL"',
    'a"',
    '"a',
    'a""b',
    "\\",
    '\\"',
    'x\\\t"',
    "tab\tnew\nline\r\ncr",
    "nul\x00byte",
    "",
    " ",
    "Ünïcødé ✓ 😀",
]
AWKWARD_BLOBS = [b'"', b'""x', b"\\", b"\x00\t\n", b"NULL", b'\xff\xfe"\\N', b""]


@pytest.mark.servers
def test_client_escaped_files_carry_every_awkward_value(make_mysql_db: Any, tmp_path: Path) -> None:
    """The fast export leaves the escaping to the client and quotes text: a NULL and the word 'NULL', a quote
    and two quotes, a backslash before a quote, every escape, in text, latin1 text, blobs and nullable numbers,
    all load back as they were."""
    source, target = make_mysql_db(), make_mysql_db()
    engine = sa.create_engine(source, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE awkward (id int PRIMARY KEY, t text, v varchar(40) NOT NULL, l varchar(40) "
            "CHARACTER SET latin1, b blob, n int, d datetime(6), f bit(5), e enum('a', '\"b\"', 'NULL'))"
        )
        rows = []
        for i, text in enumerate(AWKWARD_TEXT):
            blob = AWKWARD_BLOBS[i % len(AWKWARD_BLOBS)]
            latin = text if text.isascii() else 'Ünï"\\'
            rows.append(
                {"id": i, "t": text, "v": text[:40], "l": latin, "b": blob, "n": i, "d": "2024-02-29 12:00:00.5"}
            )
        rows.append({"id": 100, "t": None, "v": "NULL", "l": None, "b": None, "n": None, "d": None})
        conn.execute(sa.text("INSERT INTO awkward (id, t, v, l, b, n, d) VALUES (:id, :t, :v, :l, :b, :n, :d)"), rows)
        conn.exec_driver_sql("UPDATE awkward SET f = b'10101', e = '\"b\"' WHERE id = 1")
        conn.exec_driver_sql("UPDATE awkward SET e = 'NULL' WHERE id = 2")
    engine.dispose()

    result = backup(BackupParams(source, folder=tmp_path / "b"))
    specs = read_specs(result.artifact)
    assert all(spec.enclosed for spec in specs)
    assert [c.how for c in specs[0].columns] == [
        "plain",
        "quoted",
        "quoted",
        "quoted",
        "hex",
        "plain",
        "plain",
        "bit",
        "quoted",
    ]
    load(LoadParams(result.folder, target))  # the checksums of the backup, compared after the load

    def read_all(url: Any) -> list[Any]:
        eng = sa.create_engine(url, poolclass=sa.NullPool)
        try:
            with eng.connect() as conn:
                return list(
                    conn.exec_driver_sql("SELECT id, t, v, l, b, n, d, f + 0, e, t IS NULL FROM awkward ORDER BY id")
                )
        finally:
            eng.dispose()

    assert read_all(target) == read_all(source)
    assert read_all(target)[-1][-1] == 1 and read_all(target)[0][1] == "NULL"  # the NULL and the word stay apart


@pytest.mark.servers
def test_a_system_versioned_table_is_refused_before_anything_is_copied(make_mysql_db: Any, tmp_path: Path) -> None:
    """Its history would not be carried (the export reads current rows): pre-flight says so, with the ways out,
    and a backup refuses rather than write an artifact without that table's rows."""
    source = make_mysql_db()
    engine = sa.create_engine(source, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE prices (id int PRIMARY KEY, amount int) WITH SYSTEM VERSIONING")
        conn.exec_driver_sql("INSERT INTO prices VALUES (1, 10)")
        conn.exec_driver_sql("UPDATE prices SET amount = 11 WHERE id = 1")  # one row of history
        conn.exec_driver_sql("CREATE TABLE plain (id int PRIMARY KEY)")
    engine.dispose()

    findings = {f.name: f for f in check_source(source)}
    assert not findings["no system-versioned tables"].ok
    assert "prices is WITH SYSTEM VERSIONING" in findings["no system-versioned tables"].detail
    assert "DROP SYSTEM VERSIONING" in findings["no system-versioned tables"].detail

    with pytest.raises(TransferError, match=r"cannot be made: prices is WITH SYSTEM VERSIONING.*--dump-history"):
        backup(BackupParams(source, folder=tmp_path / "b"))
    assert not (tmp_path / "b").exists()


@pytest.mark.servers
@pytest.mark.parametrize("client_tools", [True, False], ids=["client tools", "PyMySQL only"])
def test_timestamps_in_the_repeated_hour_of_a_dst_zone_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client_tools: bool
) -> None:
    """A server whose time zone has summer time prints 00:30 and 01:30 UTC of 2024-10-27 both as 02:30 in
    Berlin: the export and the load read and write TIMESTAMPs in UTC, so both instants come back as they were."""
    from changeover.core.transfer import tools
    from tests.replication.conftest import _start, _stop

    server = _start(31 if client_tools else 32)
    try:
        tz = subprocess.run(
            ["mariadb-tzinfo-to-sql", "/usr/share/zoneinfo/Europe/Berlin", "Europe/Berlin"],
            capture_output=True,
            check=True,
        ).stdout
        port = str(server.url.port)
        subprocess.run(["mariadb", "-uroot", "-h127.0.0.1", "-P", port, "mysql"], input=tz, check=True)
        server.execute("SET GLOBAL time_zone = 'Europe/Berlin'", "CREATE DATABASE src", "CREATE DATABASE dst")
        server.execute(
            "CREATE TABLE src.events (id int PRIMARY KEY, at timestamp(0) NULL)",
            "SET time_zone = '+00:00'",
            "INSERT INTO src.events VALUES (1, '2024-10-27 00:30:00'), (2, '2024-10-27 01:30:00')",
        )
        assert server.scalar("SELECT COUNT(DISTINCT CAST(at AS char)) FROM src.events") == 1  # both print 02:30

        if not client_tools:
            monkeypatch.setattr(tools, "find_tool", lambda name: None)  # as on a machine without them
        result = backup(BackupParams(server.url.set(database="src"), folder=tmp_path / "b"))
        assert (result.artifact / "schema.json").exists() != client_tools  # the path under test was taken
        load(LoadParams(result.folder, server.url.set(database="dst")))

        utc = "SELECT id, UNIX_TIMESTAMP(at) FROM {}.events ORDER BY id"
        assert server.rows(utc.format("dst")) == server.rows(utc.format("src"))
    finally:
        _stop(server)


def test_the_source_checksums_follow_the_export_table_by_table(
    make_mysql_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the client tools, each table is hashed only once its export has begun (one read from disk serves
    both scans), in the export's order; the checksums are those of an unpaced hash."""
    from changeover.core.transfer import backup as backup_module
    from changeover.core.transfer.verify.native import checksum_native, form_of

    url = make_mysql_db()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in ("b_second", "a_first", "c_third"):
            conn.execute(sa.text(f"CREATE TABLE {name} (id int PRIMARY KEY, v varchar(20))"))
            conn.execute(sa.text(f"INSERT INTO {name} SELECT seq, CONCAT('v', seq) FROM seq_1_to_2000"))
    engine.dispose()
    events: list[tuple[str, str]] = []
    started, wait_for = backup_module.ScanPacer.started, backup_module.ScanPacer.wait_for

    def record_start(self: backup_module.ScanPacer, table: str) -> None:
        events.append(("export", table))
        started(self, table)

    def record_wait(self: backup_module.ScanPacer, table: str) -> None:
        wait_for(self, table)
        events.append(("hash", table))

    monkeypatch.setattr(backup_module.ScanPacer, "started", record_start)
    monkeypatch.setattr(backup_module.ScanPacer, "wait_for", record_wait)
    form = form_of(url)
    result = backup(BackupParams(url, folder=tmp_path / "b", checksum_form=form))
    hashed = [table for side, table in events if side == "hash"]
    assert hashed == ["a_first", "b_second", "c_third"]
    for table in hashed:
        assert events.index(("export", table)) < events.index(("hash", table))
    unpaced = checksum_native(url, form)
    assert {t.name: (t.rows, t.checksum) for t in result.manifest.tables} == {
        name: (s.rows, s.checksum) for name, s in unpaced.items()
    }


def test_the_pacer_lets_go_when_the_export_ends_or_the_backup_stops() -> None:
    import threading

    from changeover.core.transfer.backup import ScanPacer

    stop = threading.Event()
    pacer = ScanPacer(stop)
    pacer.started("a")
    pacer.wait_for("a")  # begun: at once
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (pacer.wait_for("never"), done.set()))
    waiter.start()
    assert not done.wait(0.3)  # a table the export has not begun: held
    pacer.close()
    assert done.wait(5)
    waiter.join()
    stopped = ScanPacer(stop)
    stop.set()
    stopped.wait_for("x")  # a stopped backup holds nobody
