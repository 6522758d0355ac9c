"""Cross-engine copy benchmark: Changeover's copy against pgloader, and what verification costs.

    python benchmarks/crossengine.py --rows 3000000 --repetitions 3

Pairs measured: MariaDB → PostgreSQL and SQLite → PostgreSQL, on A1's dataset (benchmarks/dataset.py,
generated inside the servers). The SQLite source is made from the PostgreSQL dataset with our own copy
(there is no native SQLite generator), once, before measuring.

Each of our copies runs in a child process so its peak RSS is measured alone (memory must stay flat);
``verify()`` then runs on the result and its time is reported as a share of the copy's. pgloader (Debian
package ``pgloader``) runs with its defaults into an equally empty database. Every target is dropped after
its run. ``run()`` returns one dict per (pair, method) for benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset  # noqa: E402

#: per process, so runs side by side (benchmarks/run.py and this file) never drop each other's target
TARGET = f"co_bench_xtarget_{os.getpid()}"
#: our own copy of the dataset, so a same-engine benchmark running at the same time cannot drop it under us
SOURCE = "co_xbench"


def _child(source: str, target: str) -> None:
    from changeover.core.transfer.crossengine import copy

    result = copy(make_url(source), make_url(target))
    print(f"{result.total_rows} {result.seconds:.3f}", flush=True)


def run_ours(source: URL, target: URL) -> tuple[float, float, int]:
    """Our copy in a child process: (seconds, peak RSS in MB, rows copied)."""
    argv = [
        sys.executable,
        __file__,
        "--child",
        source.render_as_string(hide_password=False),
        target.render_as_string(hide_password=False),
    ]
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read() if process.stdout else ""
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    if status != 0:
        raise RuntimeError(f"our copy failed (status {status})")
    return seconds, usage.ru_maxrss / 1024, int(out.split()[0])


def _pgloader_url(url: URL) -> str:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return str(url.database)
    scheme = "mysql" if backend in ("mysql", "mariadb") else "postgresql"
    auth = url.username or ""
    if url.password:
        auth += f":{url.password}"
    port = url.port or (3306 if scheme == "mysql" else 5432)
    return f"{scheme}://{auth}@{url.host or '127.0.0.1'}:{port}/{url.database}"


def run_pgloader(source: URL, target: URL) -> tuple[float, int]:
    """pgloader with its defaults: (seconds, rows that arrived).

    pgloader 3.6.7 cannot create a column whose MariaDB default is ``current_timestamp(6)`` (it quotes
    the expression) and then exits 0 having loaded nothing; ``--cast "type timestamp drop default"`` is
    the documented way around it. The rows are counted afterwards so a silent failure cannot pass for speed.
    """
    argv = ["pgloader", "--quiet"]
    if source.get_backend_name() in ("mysql", "mariadb"):
        argv += ["--cast", "type timestamp drop default"]
    started = time.monotonic()
    subprocess.run([*argv, _pgloader_url(source), _pgloader_url(target)], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started, count_rows(target)


def count_rows(url: URL) -> int:
    """Every row in every user table of the PostgreSQL database ``url`` (whatever schema pgloader chose)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            tables = conn.exec_driver_sql(
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            ).scalars()
            return sum(int(conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()) for t in list(tables))
    finally:
        engine.dispose()


def run_verify(source: URL, target: URL) -> float:
    from changeover.core.transfer.verify import verify

    started = time.monotonic()
    verify(source, target)
    return time.monotonic() - started


def sqlite_from(postgres: URL, folder: Path) -> URL:
    """The SQLite source: the PostgreSQL dataset copied into a file with our own copy (made once)."""
    from changeover.core.transfer.crossengine import copy

    url = make_url(f"sqlite:///{folder / 'co_bench.sqlite3'}")
    copy(postgres, url)
    return url


def run(dataset_urls: dict[str, URL], repetitions: int) -> list[dict[str, Any]]:
    """Measure MariaDB → PostgreSQL and SQLite → PostgreSQL: ours (with verify) and pgloader.

    ``dataset_urls`` maps ``mysql`` and ``postgresql`` (and optionally ``sqlite``) to the dataset made by
    benchmarks/dataset.py. Returns one dict per (pair, method).
    """
    folder = Path(tempfile.mkdtemp(prefix="co-xbench-"))
    try:
        sources = {"mysql": dataset_urls["mysql"]}
        sources["sqlite"] = dataset_urls.get("sqlite") or sqlite_from(dataset_urls["postgresql"], folder)
        pg_admin = dataset_urls["postgresql"]
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for rep in range(repetitions):
            for engine, source in sources.items():
                pair = f"{'MariaDB' if engine == 'mysql' else 'SQLite'} → PostgreSQL"
                for method in ("changeover copy", "pgloader"):
                    target = dataset.empty(pg_admin, TARGET)
                    entry = rows.setdefault(
                        (pair, method),
                        {"pair": pair, "method": method, "ours": method.startswith("changeover"), "seconds": []},
                    )
                    try:
                        if method == "pgloader":
                            seconds, arrived = run_pgloader(source, target)
                            entry["rows"] = arrived
                        else:
                            seconds, rss, copied = run_ours(source, target)
                            entry.setdefault("peak_rss_mb", []).append(round(rss, 1))
                            entry["rows"] = copied
                            entry.setdefault("verify_seconds", []).append(run_verify(source, target))
                        entry["seconds"].append(seconds)
                        print(f"[{rep + 1}/{repetitions}] {pair:24} {method:16} {seconds:7.2f} s", flush=True)
                    finally:
                        dataset.drop(target)
        results = []
        for entry in rows.values():
            entry["median_seconds"] = round(statistics.median(entry["seconds"]), 2)
            if "verify_seconds" in entry:
                entry["verify_median_seconds"] = round(statistics.median(entry["verify_seconds"]), 2)
                entry["verify_share_of_copy"] = round(entry["verify_median_seconds"] / entry["median_seconds"], 2)
                entry["peak_rss_mb"] = max(entry["peak_rss_mb"])
            results.append(entry)
        return results
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def format_rows(results: list[dict[str, Any]]) -> str:
    lines = [f"{'pair':24} {'method':16} {'median s':>9} {'rows/s':>9} {'peak RSS':>9} {'verify s':>9} {'share':>6}"]
    for r in results:
        rate = r.get("rows", 0) / r["median_seconds"] if r["median_seconds"] else 0
        lines.append(
            f"{r['pair']:24} {r['method']:16} {r['median_seconds']:9.2f} {rate:9.0f} "
            f"{str(r.get('peak_rss_mb', '')):>9} {str(r.get('verify_median_seconds', '')):>9} "
            f"{str(r.get('verify_share_of_copy', '')):>6}"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000_000, help="dataset size (rows over all tables)")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--keep-dataset", action="store_true", help=f"reuse {SOURCE} if it exists")
    args = parser.parse_args()
    urls = {}
    for engine in ("postgresql", "mysql"):
        if args.keep_dataset:
            admin = dataset.POSTGRES_ADMIN if engine == "postgresql" else dataset.MYSQL_ADMIN
            urls[engine] = make_url(admin).set(database=SOURCE)
        else:
            started = time.monotonic()
            urls[engine] = dataset.create(engine, args.rows, name=SOURCE)
            print(f"dataset on {engine}: {args.rows} rows in {time.monotonic() - started:.1f} s", flush=True)
    print(format_rows(run(urls, args.repetitions)))


if __name__ == "__main__":
    main()
