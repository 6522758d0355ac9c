"""The maintenance window of a whole upgrade on the benchmark dataset (issue: report it beside the transfer).

For each engine, a throw-away workspace (temporary folders, an in-memory keyring) holds one deploy whose
``.env`` uses the dataset database, with a maintenance flag and a no-op restart; Changeover upgrades it
into an empty database on the same server and reports the window (maintenance on to maintenance off)
and each step's duration.

    python benchmarks/upgrade_window.py            # on the dataset benchmarks/run.py leaves (co_bench)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dataset  # noqa: E402


def one(source: URL) -> dict[str, Any]:
    target = dataset.empty(source, f"{source.database}_upgraded")
    try:
        return window(source, target)
    finally:
        dataset.drop(target)


def window(source: URL, target: URL) -> dict[str, Any]:
    """Upgrade ``source`` into the empty ``target``: the window, the plan's estimate, each step's seconds."""
    from changeover.core import secrets
    from changeover.core.upgrade import procedure
    from changeover.core.workspace import Workspace

    secrets.use_store(secrets.MemoryStore("the benchmark's in-memory store"))
    with tempfile.TemporaryDirectory(prefix="changeover-window-") as base:
        os.environ["XDG_DATA_HOME"] = str(Path(base) / "data")
        env = Path(base) / ".env"
        env.write_text("")
        ws = Workspace.open(f"sqlite:///{base}/inventory.sqlite3")
        try:
            ws.add_deploy("bench", str(env), restart_cmd="true", maintenance_var="MAINTENANCE_MODE")
            ws.register_resource("bench-db", source.render_as_string(hide_password=False))
            ws.attach("bench-db", "bench")
            plan = procedure.plan_upgrade(ws, "bench-db", to_handle=target.render_as_string(hide_password=False))
            run = procedure.execute(ws, procedure.start_upgrade(ws, plan).id)
        finally:
            ws.close()
    steps = {
        s.name: (s.finished_at - s.started_at).total_seconds() for s in run.steps if s.started_at and s.finished_at
    }
    return {
        "engine": source.get_backend_name(),
        "maintenance window s": f"{run.maintenance_seconds:.1f}",
        "estimate s": f"{float(run.stats.get('estimate_seconds', 0)):.1f}",
        **{f"{name} s": f"{seconds:.1f}" for name, seconds in steps.items() if seconds >= 0.05},
    }


def run(urls: dict[str, URL]) -> list[dict[str, Any]]:
    rows = []
    for engine in ("postgresql", "mysql"):
        if engine in urls:
            row = one(urls[engine])
            print(f"upgrade on {engine}: maintenance window {row['maintenance window s']} s", flush=True)
            rows.append(row)
    return rows


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":  # same_engine.run_upgrade: one run, its row as JSON
        print(json.dumps(window(make_url(sys.argv[2]), make_url(sys.argv[3]))))
        sys.exit(0)
    found = {
        "postgresql": make_url(dataset.POSTGRES_ADMIN).set(database="co_bench"),
        "mysql": make_url(dataset.MYSQL_ADMIN).set(database="co_bench"),
    }
    for row in run(found):
        print(row)
