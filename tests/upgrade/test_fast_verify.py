"""The verify step with the fast hashes: one changed value in one row of the target stops the switch, on every
engine pair; the backup step reports the artifact's real size."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core.transfer.formats.manifest import read
from changeover.core.transfer.verify import checksum_database
from changeover.core.transfer.verify.native import CANONICAL, checksum_native, exact_tables, form_of, hashes_in
from changeover.core.upgrade import procedure
from changeover.core.upgrade.procedure import RunEvent, UpgradeFailed
from changeover.core.workspace import Workspace

from .conftest import fill

#: one table of many kinds; the test changes one value of one column of its middle row
COLUMNS = {
    "postgresql": "id SERIAL PRIMARY KEY, name TEXT, price NUMERIC(10,2), at TIMESTAMPTZ, flag BOOLEAN, "
    "payload BYTEA, ratio DOUBLE PRECISION, doc JSONB",
    "mysql": "id INT AUTO_INCREMENT PRIMARY KEY, name TEXT, price DECIMAL(10,2), at DATETIME(6), flag TINYINT(1), "
    "payload LONGBLOB, ratio DOUBLE, doc JSON",
}
CHANGES = {  # column -> a new value, as SQL
    "name": "'item 50 ✗'",
    "price": "price + 0.01",
    "at": "at + INTERVAL '1' SECOND",
    "ratio": "ratio * 1.0000001",
    "doc": "NULL",
}


def many_kinds(url: URL, rows: int = 200) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            backend = conn.dialect.name
            conn.execute(sa.text(f"CREATE TABLE kinds ({COLUMNS[backend]})"))
            conn.execute(
                sa.text(
                    "INSERT INTO kinds (name, price, at, flag, payload, ratio, doc) VALUES (:n, :p, :a, :f, :b, :r, :d)"
                ),
                [
                    {
                        "n": f"item {i} ✓" if i % 7 else "",
                        "p": i / 4,
                        "a": f"2024-01-{1 + i % 28:02d} 10:00:00.{i:06d}",
                        "f": i % 2 == 0,
                        "b": bytes([i % 256, 0, 30]),
                        "r": i / 3,
                        "d": f'{{"k": {i}, "a": [1, 2]}}',
                    }
                    for i in range(rows)
                ],
            )
    finally:
        engine.dispose()


def change(url: URL, column: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE kinds SET {column} = {CHANGES[column]} WHERE id = 50"))
    finally:
        engine.dispose()


def shop(ws: Workspace, env_file: Path, handle: str) -> None:
    ws.add_deploy("shop", str(env_file), restart_cmd="true", maintenance_var="MAINTENANCE_MODE")
    ws.register_resource("shop-db", handle)
    ws.attach("shop-db", "shop")


def text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.env"
    path.write_text("# shop\n")
    return path


def tampered_upgrade(ws: Workspace, env_file: Path, source: URL, target: URL, column: str) -> procedure.RunInfo:
    """An upgrade whose target gets one value changed right after the load: it must not switch."""
    many_kinds(source)
    fill(source, 100)
    shop(ws, env_file, text(source))
    config = env_file.read_text()
    plan = procedure.plan_upgrade(ws, "shop-db", to_handle=text(target))
    assert plan.ok, plan.checks
    run = procedure.start_upgrade(ws, plan)

    def tamper(event: RunEvent) -> None:
        if (event.step, event.state) == ("load", "done"):
            change(target, column)

    with pytest.raises(UpgradeFailed, match=r"kinds.*same row count but different data"):
        procedure.execute(ws, run.id, on_event=tamper)
    after = procedure.show_run(ws, run.id)
    assert not after.switched
    assert env_file.read_text() == config
    return after


def test_postgresql_pair_uses_the_fast_hash_and_a_changed_value_stops_the_switch(
    workspace: Workspace, env_file: Path, make_postgres_db: Callable[..., URL]
) -> None:
    source, target = make_postgres_db(), make_postgres_db()
    run = tampered_upgrade(workspace, env_file, source, target, "at")
    manifest = read(Path(run.backup_path or ""))
    assert manifest.checksum_form.startswith("postgresql-") and manifest.checksum_form.endswith(":hashcolumns")
    assert all((t.checksum or "").startswith(manifest.checksum_form) for t in manifest.tables)


def test_mariadb_pair_uses_the_fast_hash_and_a_changed_value_stops_the_switch(
    workspace: Workspace, env_file: Path, make_mysql_db: Callable[..., URL]
) -> None:
    source, target = make_mysql_db(), make_mysql_db()
    run = tampered_upgrade(workspace, env_file, source, target, "price")
    manifest = read(Path(run.backup_path or ""))
    assert manifest.checksum_form.startswith("mariadb-") and manifest.checksum_form.endswith(":checksumtable")
    assert run.stats["backup_bytes"] == manifest.size_bytes  # the files, not the folder's 4,096 bytes
    assert manifest.size_bytes > 4096


def test_across_engines_the_canonical_form_stops_the_switch(
    workspace: Workspace,
    env_file: Path,
    make_mysql_db: Callable[..., URL],
    make_postgres_db: Callable[..., URL],
) -> None:
    source, target = make_mysql_db(), make_postgres_db()
    run = tampered_upgrade(workspace, env_file, source, target, "name")
    assert read(Path(run.backup_path or "")).checksum_form == CANONICAL


@pytest.mark.parametrize("column", sorted(CHANGES))
@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_the_fast_hash_sees_one_changed_value_in_any_column(
    kind: str, column: str, make_postgres_db: Callable[..., URL], make_mysql_db: Callable[..., URL]
) -> None:
    url = (make_postgres_db if kind == "postgresql" else make_mysql_db)()
    many_kinds(url)
    fill(url, 50)
    form = form_of(url)
    assert form != CANONICAL
    before = checksum_native(url, form)
    assert checksum_native(url, form, workers=2) == before  # the workers add up to the same sums
    change(url, column)
    after = checksum_native(url, form)
    assert after["kinds"].rows == before["kinds"].rows
    assert after["kinds"].checksum != before["kinds"].checksum
    assert after["items"] == before["items"]


def test_the_backup_step_reports_the_artifacts_size_on_postgresql(
    workspace: Workspace, env_file: Path, make_postgres_db: Callable[..., URL]
) -> None:
    source, target = make_postgres_db(), make_postgres_db()
    fill(source, 500)
    shop(workspace, env_file, text(source))
    plan = procedure.plan_upgrade(workspace, "shop-db", to_handle=text(target))
    done = procedure.execute(workspace, procedure.start_upgrade(workspace, plan).id)
    assert done.state == "done"
    manifest = read(Path(done.backup_path or ""))
    assert done.stats["backup_bytes"] == manifest.size_bytes > 0
    assert checksum_database(target) == checksum_database(source)


#: a table of exact types only (hashed by its values, not its text) and what changes one value of each column
EXACT_COLUMNS = (
    "id SERIAL PRIMARY KEY, name TEXT, code VARCHAR(20), price NUMERIC(10,2), at TIMESTAMPTZ, day DATE, "
    "flag BOOLEAN, payload BYTEA, tags TEXT[], mood mood, ref UUID, amount money_amount, big BIGINT"
)
EXACT_CHANGES = {
    "name": "name || ' '",
    "code": "upper(code)",
    "price": "price + 0.01",
    "at": "at + INTERVAL '1 microsecond'",
    "day": "day + 1",
    "flag": "NOT flag",
    "payload": "payload || '\\x00'::bytea",
    "tags": "array_append(tags, 'x')",
    "mood": "'sad'",
    "ref": "gen_random_uuid()",
    "amount": "amount + 0.001",
    "big": "big + 1",
}


def exact_kinds(url: URL) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TYPE mood AS ENUM ('happy', 'sad')"))
            conn.execute(sa.text("CREATE DOMAIN money_amount AS NUMERIC(12,3)"))
            conn.execute(sa.text(f"CREATE TABLE exact ({EXACT_COLUMNS})"))
            conn.execute(
                sa.text(
                    "INSERT INTO exact (name, code, price, at, day, flag, payload, tags, mood, ref, amount, big) "
                    "SELECT 'n' || g, 'c' || g, g / 4.0, '2024-01-01 10:00+00'::timestamptz + g * INTERVAL '1 s', "
                    "DATE '2024-01-01' + g, g % 2 = 0, decode(md5(g::text), 'hex'), ARRAY['a', g::text], 'happy', "
                    "gen_random_uuid(), g / 8.0, g::bigint * 1000000000 FROM generate_series(1, 200) g"
                )
            )
            # a numeric without a declared scale: 1.0 and 1.00 are equal, so this table is hashed by its text
            conn.execute(sa.text("CREATE TABLE loose (id INT PRIMARY KEY, amount NUMERIC)"))
            conn.execute(sa.text("INSERT INTO loose VALUES (1, 1.0), (2, 2.5)"))
    finally:
        engine.dispose()


@pytest.mark.parametrize("column", sorted(EXACT_CHANGES))
def test_the_record_hash_of_an_exact_table_sees_one_changed_value_in_any_column(
    column: str, make_postgres_db: Callable[..., URL]
) -> None:
    url = make_postgres_db()
    exact_kinds(url)
    many_kinds(url)
    form = form_of(url).replace(":hashcolumns", ":hashrecord")  # the form before the columns one: still read
    assert hashes_in(url, form)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert exact_tables(conn) >= {"exact"} and not exact_tables(conn) & {"loose", "kinds"}
        before = checksum_native(url, form)
        assert before["exact"].checksum.endswith(":1") and before["kinds"].checksum.endswith(":0")
        assert checksum_native(url, form, workers=2) == before
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE exact SET {column} = {EXACT_CHANGES[column]} WHERE id = 100"))
    finally:
        engine.dispose()
    after = checksum_native(url, form)
    assert after["exact"].rows == before["exact"].rows
    assert after["exact"].checksum != before["exact"].checksum
    assert after["kinds"] == before["kinds"]


def test_values_equal_but_not_the_same_are_caught_by_the_text_form(make_postgres_db: Callable[..., URL]) -> None:
    """An unconstrained numeric's 1.0 -> 1.00, and a case change in a nondeterministic collation: equal by
    the type, so those tables are hashed by their text, which differs."""
    url = make_postgres_db()
    exact_kinds(url)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("CREATE COLLATION folded (provider = icu, locale = 'und-u-ks-level2', deterministic = false)")
            )
            conn.execute(sa.text('CREATE TABLE named (id INT PRIMARY KEY, name TEXT COLLATE "folded")'))
            conn.execute(sa.text("INSERT INTO named VALUES (1, 'Alice')"))
            assert conn.execute(sa.text("SELECT name = 'alice' FROM named")).scalar_one()  # equal by the collation
        with engine.connect() as conn:
            assert not exact_tables(conn) & {"loose", "named"}
        form = form_of(url)
        before = checksum_native(url, form)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE loose SET amount = 1.00 WHERE id = 1"))
            conn.execute(sa.text("UPDATE named SET name = 'alice' WHERE id = 1"))
    finally:
        engine.dispose()
    after = checksum_native(url, form)
    assert after["loose"].checksum != before["loose"].checksum
    assert after["named"].checksum != before["named"].checksum


def test_a_backup_hashed_in_the_text_form_stays_readable(make_postgres_db: Callable[..., URL]) -> None:
    """Backups made before the record form name the text form: the server still hashes in it."""
    url = make_postgres_db()
    many_kinds(url)
    text_form = form_of(url).replace(":hashcolumns", ":hashtextextended")
    assert hashes_in(url, text_form) and hashes_in(url, form_of(url)) and not hashes_in(url, "postgresql-9:x")
    sums = checksum_native(url, text_form)
    assert sums["kinds"].checksum.startswith(text_form) and sums["kinds"].rows == 200


def test_mariadb_hashes_by_checksum_table_and_an_older_backups_form_stays_readable(
    make_mysql_db: Callable[..., URL],
) -> None:
    url = make_mysql_db()
    many_kinds(url)
    form = form_of(url)
    assert form.endswith(":checksumtable")
    older = form.replace(":checksumtable", ":crc32+crc32c")
    assert hashes_in(url, older)  # a backup made before this release is still checked with its own form
    sums = checksum_native(url, older)
    assert sums["kinds"].rows == 200 and sums["kinds"].checksum.startswith(older + ":")
    fast = checksum_native(url, form)["kinds"]
    assert fast.rows == 200 and fast.checksum.startswith(form + ":") and fast.checksum != sums["kinds"].checksum


def test_mariadb_counts_the_rows_its_checksum_scan_read_whatever_the_table(
    make_mysql_db: Callable[..., URL],
) -> None:
    """The row count beside CHECKSUM TABLE is the scan's own (Rows_read), or a COUNT(*) where MariaDB counts
    none: an empty table, a partitioned one. Either way it is the table's exact count, in the snapshot."""
    url = make_mysql_db()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in (
            "CREATE TABLE plain (id int PRIMARY KEY, v int, twice int AS (v * 2) VIRTUAL, KEY (v))",
            "INSERT INTO plain (id, v) SELECT seq, seq % 7 FROM seq_1_to_1234",
            "CREATE TABLE parted (id int PRIMARY KEY, v int) PARTITION BY HASH (id) PARTITIONS 4",
            "INSERT INTO parted SELECT seq, seq FROM seq_1_to_999",
            "CREATE TABLE empty_one (id int PRIMARY KEY)",
            "CREATE TABLE heap (id int) ENGINE=Aria",  # no primary key, another engine
            "INSERT INTO heap SELECT seq FROM seq_1_to_321",
            "CREATE TABLE old_style (id int PRIMARY KEY) ENGINE=MyISAM CHECKSUM=1",
            "INSERT INTO old_style SELECT seq FROM seq_1_to_77",
        ):
            conn.execute(sa.text(statement))
        # the counter the fast count relies on: a checksum's scan adds its rows, SHOW STATUS none
        before = int(conn.execute(sa.text("SHOW SESSION STATUS LIKE 'Rows_read'")).one()[1])
        conn.execute(sa.text("CHECKSUM TABLE plain EXTENDED"))
        assert int(conn.execute(sa.text("SHOW SESSION STATUS LIKE 'Rows_read'")).one()[1]) - before == 1234
    engine.dispose()
    sums = checksum_native(url, form_of(url), workers=2)
    assert {name: s.rows for name, s in sums.items()} == {
        "plain": 1234,
        "parted": 999,
        "empty_one": 0,
        "heap": 321,
        "old_style": 77,
    }


#: a table of types hashed column by column (the columns form), and one change per column; ``None``: a NULL
COLUMN_CHANGES = {
    "small": "small + 1",
    "big": "big + 1",
    "flag": "NOT flag",
    "name": "name || ' '",
    "code": "upper(code)",
    "price": "price + 0.01",
    "ref": "gen_random_uuid()",
    "t": "t + INTERVAL '1 microsecond'",
    "at": "at + INTERVAL '1 microsecond'",
    "atz": "atz + INTERVAL '1 microsecond'",
    "mood": "'sad'",
    "tags": "array_append(tags, 'x')",
    "nums": "ARRAY[2, 1]",
    "maybe": "NULL",
    "swap": "a = b, b = a",  # a value moved to the other column of its type
}


def columnwise(url: URL) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TYPE feeling AS ENUM ('happy', 'sad')"))
        conn.execute(
            sa.text(
                "CREATE TABLE cols (id int PRIMARY KEY, small int2, big int8, flag bool, name text, code varchar(10), "
                "price numeric(10,2), ref uuid, t time, at timestamp, atz timestamptz, mood feeling, tags text[], "
                "nums int4[], maybe int4, a int4, b int4)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO cols SELECT g, g, g * 1000000000::int8, g % 2 = 0, 'n' || g, 'c' || g, g / 4.0, "
                "gen_random_uuid(), TIME '10:00' + g * INTERVAL '1 s', TIMESTAMP '2024-01-01' + g * INTERVAL '1 h', "
                "TIMESTAMPTZ '2024-03-31 00:00+00' + g * INTERVAL '1 h', 'happy', ARRAY['x', g::text], ARRAY[1, 2], "
                "CASE WHEN g % 3 = 0 THEN NULL ELSE g END, g, g + 1 FROM generate_series(1, 300) g"
            )
        )
    engine.dispose()


@pytest.mark.parametrize("column", sorted(COLUMN_CHANGES))
def test_the_columns_hash_sees_one_changed_value_in_any_column(
    column: str, make_postgres_db: Callable[..., URL]
) -> None:
    url = make_postgres_db()
    columnwise(url)
    exact_kinds(url)  # a domain, a date and a bytea: that table keeps the record form
    form = form_of(url)
    assert form.endswith(":hashcolumns")
    before = checksum_native(url, form)
    assert before["cols"].checksum.endswith(":2") and before["exact"].checksum.endswith(":1")
    assert before["loose"].checksum.endswith(":0")
    assert checksum_native(url, form, workers=2) == before
    change = COLUMN_CHANGES[column]
    assignment = change if column == "swap" else f"{column} = {change}"
    where = "id = 3" if column == "maybe" else "id = 100"  # a NULL becomes a value there
    if column == "maybe":
        assignment = "maybe = 3"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        assert conn.execute(sa.text(f"UPDATE cols SET {assignment} WHERE {where}")).rowcount == 1
    engine.dispose()
    after = checksum_native(url, form)
    assert after["cols"].rows == before["cols"].rows
    assert after["cols"].checksum != before["cols"].checksum
    assert after["exact"] == before["exact"]


def test_the_columns_hash_is_of_the_live_columns_whatever_was_dropped(make_postgres_db: Callable[..., URL]) -> None:
    """A restored table has no dropped columns, so its columns' places differ from the source's attnums: the
    hash seeds by place, and the two sides agree."""
    first, second = make_postgres_db(), make_postgres_db()
    for url, ddl in (
        (first, ["CREATE TABLE t (a int, gone int, c text)", "ALTER TABLE t DROP COLUMN gone"]),
        (second, ["CREATE TABLE t (a int, c text)"]),
    ):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for statement in ddl:
                conn.execute(sa.text(statement))
            conn.execute(sa.text("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g"))
        engine.dispose()
    form = form_of(first)
    assert checksum_native(first, form)["t"] == checksum_native(second, form)["t"]
    assert checksum_native(first, form)["t"].checksum.endswith(":2")
