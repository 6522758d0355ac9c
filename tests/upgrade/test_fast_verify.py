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
from changeover.core.transfer.verify.native import CANONICAL, checksum_native, form_of
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
    assert manifest.checksum_form.startswith("postgresql-") and manifest.checksum_form.endswith(":hashtextextended")
    assert all((t.checksum or "").startswith(manifest.checksum_form) for t in manifest.tables)


def test_mariadb_pair_uses_the_fast_hash_and_a_changed_value_stops_the_switch(
    workspace: Workspace, env_file: Path, make_mysql_db: Callable[..., URL]
) -> None:
    source, target = make_mysql_db(), make_mysql_db()
    run = tampered_upgrade(workspace, env_file, source, target, "price")
    manifest = read(Path(run.backup_path or ""))
    assert manifest.checksum_form.startswith("mariadb-") and manifest.checksum_form.endswith(":crc32+crc32c")
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
