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
