"""The maintenance-window estimate learns only from runs long enough to measure a speed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from changeover.core.inventory.models import Resource, UpgradeRun
from changeover.core.upgrade import plan
from changeover.core.workspace import Workspace


def finished_run(ws: Workspace, **stats: float) -> None:
    with ws.session() as session:
        source = session.query(Resource).filter_by(name="db").one()
        now = datetime.now(UTC)
        session.add(
            UpgradeRun(
                source=source,
                target_name="db-new",
                state="done",
                step="finish",
                keep_days=7,
                deploys=[],
                options={},
                stats=stats,
                error="",
                actor="t",
                created_at=now,
                updated_at=now,
            )  # fmt: skip
        )
        session.commit()


def test_a_tiny_run_sets_no_throughput_and_a_long_one_does(workspace: Workspace, tmp_path: object) -> None:
    workspace.register_resource("db", "sqlite:////tmp/co-estimate-never-opened.sqlite3")
    assert plan._throughput(workspace) == plan.DEFAULT_THROUGHPUT
    # The demo's run: 36 KB in 0.08 s of work is start-up cost, not a speed (it once predicted 24:36 for 0:37).
    finished_run(workspace, bytes_per_second=456_000, backup_seconds=0.03, load_seconds=0.03, verify_seconds=0.02)
    assert plan._throughput(workspace) == plan.DEFAULT_THROUGHPUT
    finished_run(workspace, bytes_per_second=80_000_000, backup_seconds=3, load_seconds=4, verify_seconds=1)
    assert plan._throughput(workspace) == 80_000_000


def test_the_estimate_learns_per_engine_and_starts_from_this_engines_measured_rate(workspace: Workspace) -> None:
    workspace.register_resource("db", "sqlite:////tmp/co-estimate-never-opened.sqlite3")
    # the first run on a machine: the engine's measured rate, and half a second per deploy
    first = plan.estimate_window(workspace, "postgresql", 160_000_000, 1, cross=False)
    assert first == pytest.approx(160_000_000 / plan.ENGINE_THROUGHPUT["postgresql"] + plan.DEFAULT_DEPLOY_SECONDS)
    assert plan.estimate_window(workspace, "postgresql", 160_000_000, 1, cross=True) > first
    # a MariaDB run teaches nothing about PostgreSQL; a PostgreSQL one does, hooks included
    finished_run(workspace, bytes_per_second=1_000_000, backup_seconds=5, load_seconds=5, verify_seconds=5,
                 source_kind="mysql", cross_engine=False, maintenance_seconds=16, deploys=1)  # fmt: skip
    assert plan._throughput(workspace, "postgresql") == plan.ENGINE_THROUGHPUT["postgresql"]
    assert plan._throughput(workspace, "mysql") == 1_000_000
    finished_run(workspace, bytes_per_second=40_000_000, backup_seconds=2, load_seconds=2, verify_seconds=2,
                 source_kind="postgresql", cross_engine=False, maintenance_seconds=7, deploys=1)  # fmt: skip
    assert plan._throughput(workspace, "postgresql") == 40_000_000
    assert plan.estimate_window(workspace, "postgresql", 80_000_000, 2, cross=False) == pytest.approx(2 + 2 * 1.0)


def test_a_first_same_engine_run_is_estimated_from_the_sources_hash_rate_now(workspace: Workspace) -> None:
    """No earlier run: this machine's speed, read at plan time from a sample hash, scaled by the benchmarked
    ratio; earlier runs of the engine still win, and a cross-engine copy is not a hash-bound one."""
    workspace.register_resource("db", "sqlite:////tmp/co-estimate-never-opened.sqlite3")
    asked: list[bool] = []

    def hashed() -> float:
        asked.append(True)
        return 100_000_000.0

    rate = plan._throughput(workspace, "postgresql", hashed=hashed)
    assert rate == pytest.approx(100_000_000 * plan.WINDOW_PER_HASH["postgresql"]) and asked
    assert plan._throughput(workspace, "postgresql", hashed=lambda: None) == plan.ENGINE_THROUGHPUT["postgresql"]
    asked.clear()
    cross = plan._throughput(workspace, "postgresql", cross=True, hashed=hashed)
    assert cross == pytest.approx(plan.ENGINE_THROUGHPUT["postgresql"] / plan.CROSS_ENGINE_FACTOR) and not asked
    finished_run(workspace, bytes_per_second=40_000_000, backup_seconds=2, load_seconds=2, verify_seconds=2,
                 source_kind="postgresql", cross_engine=False, maintenance_seconds=7, deploys=1)  # fmt: skip
    assert plan._throughput(workspace, "postgresql", hashed=hashed) == 40_000_000 and not asked


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_the_sample_hash_reads_part_of_the_largest_table(kind: str, request: pytest.FixtureRequest) -> None:
    import sqlalchemy as sa

    from changeover.core import engines
    from changeover.core.transfer.verify.native import SAMPLE_BYTES, hash_rate

    url = request.getfixturevalue("make_postgres_db" if kind == "postgresql" else "make_mysql_db")("co_rate")
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE small (id INT PRIMARY KEY, body TEXT NOT NULL)"))
        conn.execute(sa.text("INSERT INTO small VALUES (1, 'x')"))
    assert hash_rate(url, engines.describe(url)) is None  # too little to time: the benchmark's rate stands
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE big (id INT PRIMARY KEY, body TEXT NOT NULL)"))
        if kind == "postgresql":
            conn.execute(sa.text("INSERT INTO big SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 40000) g"))
            conn.execute(sa.text("ANALYZE big"))
        else:
            conn.execute(sa.text("INSERT INTO big SELECT seq, REPEAT(MD5(seq), 8) FROM seq_1_to_40000"))
            conn.execute(sa.text("ANALYZE TABLE big"))
    engine.dispose()
    info = engines.describe(url)
    (big,) = [t for t in info.tables if t.name == "big"]
    assert big.size_bytes > 5_000_000 and big.size_bytes < SAMPLE_BYTES  # the whole table is the sample here
    rate = hash_rate(url, info)
    assert rate is not None and rate > 1_000_000  # bytes per second: a real server hashes megabytes a second
