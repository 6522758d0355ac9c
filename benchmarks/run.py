"""Run every benchmark, print the ratios, and write docs/benchmarks.md with the numbers and the machine.

    python benchmarks/run.py --rows 3000000 --repetitions 3
    python benchmarks/run.py --rows 200000 --repetitions 1 --output /tmp/quick.md     # a quick run

Same-engine backup+load (benchmarks/same_engine.py) always; the cross-engine copy
(benchmarks/crossengine.py, ``run(dataset_urls, repetitions)``) when that file is there.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import dataset  # noqa: E402
import same_engine  # noqa: E402

#: the dataset of a full run, apart from the one the single benchmarks make, so they can run side by side
RUN_DATABASE = "co_bench_run"


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=20).stdout
    except OSError:
        return "not installed"
    return out.strip().splitlines()[0] if out.strip() else "?"


def machine() -> list[tuple[str, str]]:
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as handle:
        mem_kb = int(handle.readline().split()[1])
    osname = "?"
    if Path("/etc/os-release").exists():
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip('"')
    return [
        ("CPU", f"{cpu}, {os.cpu_count()} cores"),
        ("Memory", f"{mem_kb / 1024 / 1024:.1f} GiB"),
        ("OS", f"{osname}, kernel {platform.release()}"),
        ("Python", platform.python_version()),
        ("PostgreSQL", _first_line(["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"])),
        ("MariaDB", _first_line(["mariadb", "-h", "127.0.0.1", "-u", "root", "-N", "-e", "SELECT VERSION()"])),
        ("pg_dump", _first_line(["pg_dump", "--version"])),
        ("mariadb-dump", _first_line(["mariadb-dump", "--version"])),
    ]


def dataset_summary(urls: dict[str, URL]) -> list[tuple[str, str, int, int]]:
    """(engine, table, rows, bytes) for the dataset."""
    from changeover.core.engines import describe

    rows = []
    for engine, url in urls.items():
        eng = sa.create_engine(url, poolclass=sa.NullPool)
        with eng.connect() as conn:
            for table in describe(url).tables:
                count = conn.execute(sa.text(f"SELECT count(*) FROM {table.name}")).scalar_one()
                rows.append((engine, table.name, int(count), table.size_bytes))
        eng.dispose()
    return rows


def crossengine_rows(urls: dict[str, URL], repetitions: int) -> tuple[list[dict[str, Any]], str]:
    path = HERE / "crossengine.py"
    if not path.exists():
        return [], ""
    spec = importlib.util.spec_from_file_location("crossengine", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.run(urls, repetitions)
    text = module.format_rows(results) if hasattr(module, "format_rows") else ""
    return list(results), text


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def ratio_lines(measures: list[same_engine.Measure]) -> list[str]:
    lines = []
    for engine in ("postgresql", "mysql"):
        ours = [m for m in measures if m.engine == engine and m.ours]
        theirs = [m for m in measures if m.engine == engine and not m.ours]
        for o in ours:
            for t in theirs:
                lines.append(f"| {engine} | {_cell(o.method)} | {_cell(t.method)} | {o.median / t.median:.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000_000, help="dataset size (rows over the five tables)")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--keep-dataset", action="store_true", help="reuse co_bench if it is there")
    parser.add_argument("--no-crossengine", action="store_true")
    parser.add_argument("--crossengine-repetitions", type=int, help="default: --repetitions")
    parser.add_argument("--output", type=Path, default=HERE.parent / "docs" / "benchmarks.md")
    args = parser.parse_args()

    urls: dict[str, URL] = {}
    for engine, admin in (("postgresql", dataset.POSTGRES_ADMIN), ("mysql", dataset.MYSQL_ADMIN)):
        if args.keep_dataset:
            urls[engine] = make_url(admin).set(database=RUN_DATABASE)
        else:
            started = time.monotonic()
            urls[engine] = dataset.create(engine, args.rows, RUN_DATABASE)
            print(f"dataset on {engine}: {args.rows} rows in {time.monotonic() - started:.1f} s", flush=True)
    summary = dataset_summary(urls)
    measures = same_engine.run(urls, args.repetitions)
    windows = list(same_engine.WINDOWS)  # the whole upgrade ran interleaved with the native copies
    write(args, summary, measures, [], "", windows)
    if not args.no_crossengine:
        try:
            cross, cross_text = crossengine_rows(urls, args.crossengine_repetitions or args.repetitions)
        except Exception as exc:  # a failing benchmark must not lose the others' numbers
            cross, cross_text = [], f"The cross-engine benchmark failed: {type(exc).__name__}: {exc}"
        write(args, summary, measures, cross, cross_text, windows)


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


LOAD_AT_START = _load()


def kept_sections(path: Path, written: list[str]) -> list[str]:
    """The ``## `` sections of the file at ``path`` this run does not write (the window's, the bundle's, a
    cross-engine run skipped this time): kept as they are."""
    if not path.exists():
        return []
    ours = {line for line in written if line.startswith("## ")}
    kept: list[str] = []
    keep = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            keep = line not in ours
        if keep:
            kept.append(line)
    return ["", *kept] if kept else []


def write(
    args: argparse.Namespace,
    summary: list[tuple[str, str, int, int]],
    measures: list[same_engine.Measure],
    cross: list[dict[str, Any]],
    cross_text: str,
    windows: list[dict[str, Any]],
) -> None:
    ratios = ratio_lines(measures)
    print("\nours / baseline (median seconds; below 1 means we are faster)")
    for line in ratios:
        print(line)
    if cross_text:
        print("\n" + cross_text)

    out: list[str] = [
        "# Benchmarks",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python benchmarks/run.py --rows {args.rows} "
        f"--repetitions {args.repetitions}`. Repetitions are interleaved; medians are shown. The machine is",
        "shared with other work, so single numbers are noisy; the ratios are what to read.",
        "",
        f"Load average (1, 5, 15 min, as `uptime` shows it) at the start: {LOAD_AT_START}; at the end: {_load()}.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in machine()],
        "",
        "## Dataset (benchmarks/dataset.py)",
        "",
        "| engine | table | rows | size on disk |",
        "| --- | --- | ---: | ---: |",
        *[f"| {e} | {t} | {r:,} | {b / 1e6:.1f} MB |" for e, t, r, b in summary],
        "",
        "## Same-engine backup + load (benchmarks/same_engine.py)",
        "",
        "Changeover's numbers are a backup to a folder followed by a load into an empty database, including",
        "the row counts, the sha256 of the artifact and (first row) content checksums of source and target;",
        "the native pipelines stream a dump straight into a restore, with no file and no check.",
        "",
        "| engine | method | median s | runs s | peak RSS of our process |",
        "| --- | --- | ---: | --- | ---: |",
        *[
            f"| {m.engine} | {_cell(m.method)} | {m.median:.2f} | {', '.join(f'{s:.2f}' for s in m.seconds)} | "
            + (f"{m.peak:.0f} MB" if m.peak else "")
            + " |"
            for m in measures
        ],
        "",
        "### Ratios (ours / baseline, below 1 means faster)",
        "",
        "| engine | ours | baseline | ratio |",
        "| --- | --- | --- | ---: |",
        *ratios,
    ]
    if windows:
        keys = sorted({k for w in windows for k in w}, key=lambda k: (k != "engine", k))
        out += [
            "",
            "## Upgrade maintenance window (benchmarks/upgrade_window.py)",
            "",
            "A whole `changeover upgrade` of the dataset into an empty database on the same server, run interleaved",
            "with the methods above (one row per repetition): the window is maintenance on to maintenance off (wait",
            "until quiet, backup with checksums, load, verify, switch); the estimate is the plan's, made before the",
            "run in a fresh workspace (no earlier runs to learn from).",
            "",
            "| " + " | ".join(keys) + " |",
            "| " + " | ".join("---" for _ in keys) + " |",
            *["| " + " | ".join(str(w.get(k, "")) for k in keys) + " |" for w in windows],
        ]
    if cross_text and not cross:
        out += ["", "## Cross-engine copy (benchmarks/crossengine.py)", "", cross_text]
    if cross:
        keys = list(cross[0].keys())
        out += [
            "",
            "## Cross-engine copy (benchmarks/crossengine.py)",
            "",
            "| " + " | ".join(keys) + " |",
            "| " + " | ".join("---" for _ in keys) + " |",
            *["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in cross],
        ]
    out += kept_sections(args.output, out)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
