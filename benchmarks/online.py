"""The maintenance window of an online upgrade (issue #17) on the benchmark dataset, with a writer running.

A PostgreSQL cluster of the benchmark's own with ``wal_level=logical`` (on a free port, in a temporary folder,
stopped at the end) holds the dataset (benchmarks/dataset.py) as the source; the target is an empty database
on the shared server (``CHANGEOVER_TEST_POSTGRES_URL``), whose subscription connects to the source's port. A
writer inserts into ``audit_log`` and updates ``customers`` through the deploy's ``.env`` the whole time, and
lets go of the database while the deploy is in maintenance, as an app does. Each size is upgraded with
``--online``; the window (maintenance on to maintenance off) is printed with its parts and the writes kept.

    python benchmarks/online.py                      # 3 million rows, then 300 000: the window must not grow
    python benchmarks/online.py --rows 300000        # that size and a tenth of it

Give ``--source-admin URL`` to use an existing server with ``wal_level=logical`` instead of a private one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from dotenv import dotenv_values
from sqlalchemy.engine import URL, make_url

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dataset  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def private_logical_cluster() -> Iterator[URL]:
    """A PostgreSQL cluster with wal_level=logical on a free port; removed at the end (as root: user postgres)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql (Debian: postgresql)")
    bindir = found[-1].parent
    base = Path(tempfile.mkdtemp(prefix="co_bench_logical_"))
    owner = "postgres" if os.geteuid() == 0 else None
    if owner:
        shutil.chown(base, owner)
    data, port = base / "data", _free_port()

    def pg(*argv: str) -> None:
        subprocess.run(argv, user=owner, capture_output=True, text=True, timeout=120, check=True)

    try:
        pg(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_wal_size=4GB"
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start")
        yield URL.create("postgresql+psycopg", "postgres", None, "127.0.0.1", port, "postgres")
    finally:
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                pg(str(bindir / "pg_ctl"), "-D", str(data), "stop", "-m", "fast")
        shutil.rmtree(base, ignore_errors=True)


def _conninfo(url: URL) -> str:
    return psycopg.conninfo.make_conninfo(
        "", host=url.host, port=str(url.port or 5432), user=url.username, dbname=url.database or "postgres"
    )


class Writer(threading.Thread):
    """Inserts and updates through the .env's database, one kept connection, none while in maintenance."""

    def __init__(self, env: Path) -> None:
        super().__init__(name="bench-writer", daemon=True)
        self.env, self.stop, self.acked, self.errors = env, threading.Event(), 0, 0
        self.in_window = 0  # writes acknowledged while maintenance was on: must stay 0

    def run(self) -> None:
        from changeover.core import handles

        conn: psycopg.Connection[tuple[object, ...]] | None = None
        on = None
        n = 0
        while not self.stop.is_set():
            config = {k: v or "" for k, v in dotenv_values(self.env).items()}
            if config.get("MAINTENANCE_MODE"):
                if conn is not None:
                    conn.close()
                    conn = None
                self.stop.wait(0.01)
                continue
            url = handles.parse(config["DATABASE_URL"]).sqlalchemy_url()
            try:
                if conn is None or on != url.database:
                    if conn is not None:
                        conn.close()
                    conn, on = psycopg.connect(_conninfo(url), autocommit=True), url.database
                n += 1
                conn.execute("INSERT INTO audit_log (at, what) VALUES (now(), %s)", (f"bench write {n}",))
                conn.execute("UPDATE customers SET balance = balance + 1 WHERE id = %s", (1 + n % 1000,))
                self.acked += 1
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                self.stop.wait(0.05)
            self.stop.wait(0.002)
        if conn is not None:
            conn.close()


def online_window(source: URL, target: URL) -> dict[str, Any]:
    """Upgrade ``source`` into ``target`` by the online route while the writer writes: the window and its parts."""
    from changeover.core import secrets
    from changeover.core.upgrade import procedure
    from changeover.core.workspace import Workspace

    secrets.use_store(secrets.MemoryStore("the benchmark's in-memory store"))
    with tempfile.TemporaryDirectory(prefix="changeover-online-") as base:
        os.environ["XDG_DATA_HOME"] = str(Path(base) / "data")
        env = Path(base) / ".env"
        env.write_text("")
        ws = Workspace.open(f"sqlite:///{base}/inventory.sqlite3")
        writer = Writer(env)
        try:
            ws.add_deploy("bench", str(env), restart_cmd="true", maintenance_var="MAINTENANCE_MODE")
            ws.register_resource("bench-db", source.render_as_string(hide_password=False))
            ws.attach("bench-db", "bench")
            writer.start()
            plan = procedure.plan_upgrade(
                ws, "bench-db", to_handle=target.render_as_string(hide_password=False), route="online"
            )
            if not plan.ok:
                raise SystemExit("; ".join(f"{c.name}: {c.message}" for c in plan.checks if not c.ok))
            started = time.monotonic()
            run = procedure.execute(ws, procedure.start_upgrade(ws, plan).id)
            total = time.monotonic() - started
            time.sleep(1.0)  # writes on the new database
        finally:
            writer.stop.set()
            writer.join(30)
            ws.close()
    steps = {
        s.name: (s.finished_at - s.started_at).total_seconds() for s in run.steps if s.started_at and s.finished_at
    }
    return {
        "rows": plan.source_rows,
        "bytes": plan.source_size,
        "maintenance window s": round(run.maintenance_seconds or 0.0, 2),
        "estimate s": round(plan.estimate_seconds, 2),
        "whole run s": round(total, 1),
        "writes acknowledged": writer.acked,
        "write errors": writer.errors,
        **{f"{name} s": round(seconds, 2) for name, seconds in steps.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000_000, help="the larger dataset (a tenth of it follows)")
    parser.add_argument("--source-admin", help="an existing server with wal_level=logical (default: a private one)")
    args = parser.parse_args()
    target_admin = make_url(dataset.POSTGRES_ADMIN)
    with contextlib.ExitStack() as stack:
        source_admin = (
            make_url(args.source_admin) if args.source_admin else stack.enter_context(private_logical_cluster())
        )
        dataset.POSTGRES_ADMIN = source_admin.render_as_string(hide_password=False)
        results = []
        for rows in (args.rows, args.rows // 10):
            made = time.monotonic()
            source = dataset.create("postgresql", rows, name=f"co_bench_online_{rows}")
            print(f"dataset of {rows:,} rows made in {time.monotonic() - made:.1f} s", flush=True)
            target = dataset.empty(target_admin, f"co_bench_online_{rows}_new")
            try:
                result = online_window(source, target)
            finally:
                dataset.drop(target)
                dataset.drop(source)
            print(result, flush=True)
            results.append(result)
    for result in results:
        print(
            f"online upgrade of {result['rows']:,} rows ({result['bytes'] / 1e6:.0f} MB) with a writer running: "
            f"maintenance window {result['maintenance window s']:.2f} s (estimate {result['estimate s']:.2f} s; "
            f"base copy {result.get('base_copy s', 0):.1f} s, drain {result.get('drain s', 0):.2f} s, "
            f"verify {result.get('verify s', 0):.2f} s), {result['writes acknowledged']} writes kept"
        )


if __name__ == "__main__":
    main()
