"""The maintenance-window estimate learns only from runs long enough to measure a speed."""

from __future__ import annotations

from datetime import UTC, datetime

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
