"""Same-engine backup + load: Changeover against the native tools, on the benchmark dataset.

Each method copies the dataset database into a fresh empty database; repetitions are interleaved
(method A, B, C, A, B, C, ...) so a slow moment of the machine hits every method alike, and the median
is kept. Changeover runs in a child Python process so its peak memory (max RSS, the tools it starts
not included) is measured by ``wait4``.

    python benchmarks/same_engine.py --repetitions 3        # needs benchmarks/dataset.py run first
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset  # noqa: E402

TARGET = "co_bench_target"


@dataclass
class Measure:
    engine: str
    method: str
    seconds: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    ours: bool = False

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak(self) -> float | None:
        return max(self.peak_rss_mb) if self.peak_rss_mb else None


def _pg_conn(url: URL) -> str:
    return f"-h {url.host or '127.0.0.1'} -p {url.port or 5432} -U {url.username or 'postgres'}"


def _my_conn(url: URL) -> str:
    return f"-h {url.host or '127.0.0.1'} -P {url.port or 3306} -u {url.username or 'root'}"


def _shell(command: str) -> None:
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, stdout=subprocess.DEVNULL)


def run_ours(source: URL, target: URL, *, checksums: bool) -> tuple[float, float]:
    """Our backup + load in a child process: (seconds, peak RSS in MB of that process)."""
    folder = tempfile.mkdtemp(prefix="co-bench-")
    shutil.rmtree(folder)
    argv = [
        sys.executable,
        __file__,
        "--child",
        source.render_as_string(hide_password=False),
        target.render_as_string(hide_password=False),
        folder,
        "1" if checksums else "0",
    ]
    started = time.monotonic()
    process = subprocess.Popen(argv)
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    shutil.rmtree(folder, ignore_errors=True)
    if status != 0:
        raise RuntimeError(f"our backup+load failed (status {status})")
    return seconds, usage.ru_maxrss / 1024


def child(source: str, target: str, folder: str, checksums: str) -> None:
    from changeover.core.transfer.backup import BackupParams, backup
    from changeover.core.transfer.load import LoadParams, load

    on = checksums == "1"
    result = backup(BackupParams(make_url(source), folder=Path(folder), checksums=on))
    load(LoadParams(result.folder, make_url(target), verify=on))


def pg_baseline(source: URL, target: URL, compress: bool) -> None:
    z = "" if compress else "-Z0"
    _shell(
        f"pg_dump {_pg_conn(source)} -Fc {z} -d {shlex.quote(source.database or '')} | "
        f"pg_restore {_pg_conn(target)} --no-owner -d {shlex.quote(target.database or '')}"
    )


def mysql_pipe(source: URL, target: URL) -> None:
    _shell(
        f"mariadb-dump {_my_conn(source)} --single-transaction --quick --routines --triggers --events "
        f"{shlex.quote(source.database or '')} | mariadb {_my_conn(target)} {shlex.quote(target.database or '')}"
    )


def mysql_tab(source: URL, target: URL) -> None:
    """mariadb-dump --tab (the server writes one .txt per table) then LOAD DATA INFILE, one client."""
    folder = Path(tempfile.mkdtemp(prefix="co-bench-tab-"))
    folder.chmod(0o777)
    try:
        _shell(f"mariadb-dump {_my_conn(source)} --single-transaction --tab={folder} {source.database}")
        tables = sorted(p.stem for p in folder.glob("*.txt"))
        script = ["SET foreign_key_checks = 0;", "SET unique_checks = 0;"]
        script += [f"SOURCE {folder / (t + '.sql')};" for t in tables]
        script += [f"LOAD DATA INFILE '{folder / (t + '.txt')}' INTO TABLE `{t}`;" for t in tables]
        subprocess.run(
            ["mariadb", *shlex.split(_my_conn(target)), target.database or ""],
            input="\n".join(script).encode(),
            check=True,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


#: every upgrade run's row (window, estimate, steps), for run.py's window table
WINDOWS: list[dict[str, object]] = []
JOBS = os.cpu_count() or 2


def run_upgrade(source: URL, target: URL) -> tuple[float, float]:
    """A whole upgrade in a child process (benchmarks/upgrade_window.py): (the maintenance window, peak RSS)."""
    argv = [
        sys.executable,
        str(Path(__file__).resolve().parent / "upgrade_window.py"),
        "--child",
        source.render_as_string(hide_password=False),
        target.render_as_string(hide_password=False),
    ]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    out = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"the upgrade failed (status {status})")
    row = json.loads(out.strip().splitlines()[-1])
    row["peak RSS MB"] = f"{usage.ru_maxrss / 1024:.0f}"
    WINDOWS.append(row)
    return float(row["maintenance window s"]), usage.ru_maxrss / 1024


def pg_directory(source: URL, target: URL) -> None:
    """The fastest native copy: pg_dump's directory format, uncompressed, N jobs, then pg_restore with N jobs."""
    folder = Path(tempfile.mkdtemp(prefix="co-bench-fd-")) / "dump"
    try:
        _shell(f"pg_dump {_pg_conn(source)} -Fd -Z0 -j{JOBS} -f {folder} -d {shlex.quote(source.database or '')}")
        _shell(f"pg_restore {_pg_conn(target)} --no-owner -j{JOBS} -d {shlex.quote(target.database or '')} {folder}")
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)


def _pg_uri(url: URL) -> str:
    return f"postgres://{url.username or 'postgres'}@{url.host or '127.0.0.1'}:{url.port or 5432}/{url.database}"


def pgcopydb(source: URL, target: URL) -> None:
    folder = Path(tempfile.mkdtemp(prefix="co-bench-pgcopydb-"))
    try:
        _shell(
            f"pgcopydb clone --source {shlex.quote(_pg_uri(source))} --target {shlex.quote(_pg_uri(target))} "
            f"--table-jobs {JOBS} --index-jobs {JOBS} --no-owner --no-acl --dir {folder} 2>/dev/null"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def mysql_import(source: URL, target: URL) -> None:
    """The fastest native copy: mariadb-dump --tab (the server writes the files), then the schema and
    mariadb-import --use-threads=N (LOAD DATA per table, N at once)."""
    folder = Path(tempfile.mkdtemp(prefix="co-bench-tab-"))
    folder.chmod(0o777)
    try:
        _shell(f"mariadb-dump {_my_conn(source)} --single-transaction --tab={folder} {source.database}")
        tables = sorted(p.stem for p in folder.glob("*.txt"))
        script = ["SET foreign_key_checks = 0;", *[f"SOURCE {folder / (t + '.sql')};" for t in tables]]
        subprocess.run(
            ["mariadb", *shlex.split(_my_conn(target)), target.database or ""],
            input="\n".join(script).encode(),
            check=True,
        )
        files = " ".join(shlex.quote(str(folder / (t + ".txt"))) for t in tables)
        _shell(
            f"mariadb-import {_my_conn(target)} --use-threads={JOBS} --ignore-foreign-keys --local=0 "
            f"{target.database} {files}"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def mydumper(source: URL, target: URL) -> None:
    folder = Path(tempfile.mkdtemp(prefix="co-bench-mydumper-"))
    try:
        _shell(
            f"mydumper {_my_conn(source)} -B {source.database} -o {folder} -t {JOBS} -G -E -R "
            "--trx-consistency-only 2>/dev/null"
        )
        _shell(f"myloader {_my_conn(target)} -d {folder} -B {target.database} -t {JOBS} -o 2>/dev/null")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def installed(tool: str) -> bool:
    return shutil.which(tool) is not None


def methods(engine: str) -> list[tuple[str, bool, Callable[[URL, URL], tuple[float, float] | None]]]:
    method_ = tuple[str, bool, Callable[[URL, URL], tuple[float, float] | None]]
    if engine == "postgresql":
        found: list[method_] = [
            ("changeover upgrade (window, verify included)", True, run_upgrade),
            ("changeover backup+load (no checksums)", True, lambda s, t: run_ours(s, t, checksums=False)),
            (f"pg_dump -Fd -Z0 -j{JOBS} + pg_restore -j{JOBS}", False, pg_directory),
            ("pg_dump -Fc | pg_restore", False, lambda s, t: pg_baseline(s, t, True)),
        ]
        if installed("pgcopydb"):
            found.append((f"pgcopydb clone (--table-jobs {JOBS} --index-jobs {JOBS})", False, pgcopydb))
        return found
    found = [
        ("changeover upgrade (window, verify included)", True, run_upgrade),
        ("changeover backup+load (no checksums)", True, lambda s, t: run_ours(s, t, checksums=False)),
        (f"mariadb-dump --tab + mariadb-import --use-threads={JOBS}", False, mysql_import),
        ("mariadb-dump | mariadb", False, mysql_pipe),
    ]
    if installed("mydumper") and installed("myloader"):
        found.append((f"mydumper + myloader -t {JOBS}", False, mydumper))
    return found


def run(sources: dict[str, URL], repetitions: int) -> list[Measure]:
    results: dict[tuple[str, str], Measure] = {}
    for rep in range(repetitions):
        for engine, source in sources.items():
            for name, ours, method in methods(engine):
                target = dataset.empty(source, TARGET)
                started = time.monotonic()
                outcome = method(source, target)
                seconds = time.monotonic() - started
                measure = results.setdefault((engine, name), Measure(engine, name, ours=ours))
                if outcome is not None:
                    seconds, rss = outcome
                    measure.peak_rss_mb.append(rss)
                measure.seconds.append(seconds)
                print(f"[{rep + 1}/{repetitions}] {engine:10} {name:45} {seconds:7.2f} s", flush=True)
                dataset.drop(target)
    return list(results.values())


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    sources = {
        "postgresql": make_url(dataset.POSTGRES_ADMIN).set(database=dataset.DATABASE),
        "mysql": make_url(dataset.MYSQL_ADMIN).set(database=dataset.DATABASE),
    }
    for m in run(sources, args.repetitions):
        print(f"{m.engine:10} {m.method:45} median {m.median:7.2f} s" + (f", peak {m.peak:.0f} MB" if m.peak else ""))


if __name__ == "__main__":
    main()
