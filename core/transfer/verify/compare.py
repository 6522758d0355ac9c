"""Verification: both sides checksummed at once, then compared table by table and sequence by sequence."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from ... import engines
from ...engines import SequenceState, display_url
from ...errors import ChangeoverError
from ...jobs import Progress, check_cancel, no_progress
from .checksums import TableSum, checksum_database
from .sequences import SequencePosition, sequence_positions, sequence_states

logger = logging.getLogger(__name__)


class VerificationFailed(ChangeoverError):
    """Source and target differ: the message names every table that does not match."""

    title = "Verification failed"

    def __init__(self, message: str, report: VerifyReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class TableComparison:
    table: str
    source: TableSum | None
    target: TableSum | None
    sequence: SequencePosition | None = None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class VerifyReport:
    source: str
    target: str
    tables: tuple[TableComparison, ...] = field(default_factory=tuple)
    #: problems with sequence objects (missing, or behind the source's position)
    sequence_problems: tuple[str, ...] = ()
    #: sequence objects compared
    sequences: int = 0

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables) and not self.sequence_problems

    @property
    def failed(self) -> tuple[TableComparison, ...]:
        return tuple(t for t in self.tables if not t.ok)

    def summary(self) -> str:
        if self.ok:
            rows = sum(t.source.rows for t in self.tables if t.source)
            extra = f" and {self.sequences} sequence objects" if self.sequences else ""
            return f"{len(self.tables)} tables{extra}, {rows} rows: counts, checksums and sequences match."
        return "; ".join([*(f"{t.table}: {', '.join(t.problems)}" for t in self.failed), *self.sequence_problems])


def verify(
    source_url: URL | str,
    target_url: URL | str,
    *,
    tables: list[str] | None = None,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> VerifyReport:
    """Compare counts, checksums and sequence positions of ``source_url`` and ``target_url``.

    Both sides are checksummed at once (one thread each). Returns the report when everything matches;
    raises :class:`VerificationFailed` naming every table that differs, is missing on one side, or whose
    sequence would hand out an id already used, and every sequence object (all of them, owned or not,
    unless ``tables`` narrows the check) missing from the target or behind the source.
    """
    source_url, target_url = sa.engine.make_url(source_url), sa.engine.make_url(target_url)
    lock = threading.Lock()
    state = {"source": (0, 0), "target": (0, 0)}

    def side(name: str) -> Progress:
        def report(done: int, total: int | None, unit: str, message: str) -> None:
            with lock:
                state[name] = (done, total or 0)
                all_done = sum(d for d, _ in state.values())
                all_total = sum(t for _, t in state.values())
                progress(all_done, max(all_total, all_done), unit, message)

        return report

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="verify") as pool:
        futures = {
            name: pool.submit(checksum_database, url, tables=tables, progress=side(name), cancel=cancel)
            for name, url in (("source", source_url), ("target", target_url))
        }
        sums = {name: future.result() for name, future in futures.items()}
    check_cancel(cancel, "Verification")
    source_seq = sequence_positions(source_url, tables=tables)
    target_seq = sequence_positions(target_url, tables=tables)
    everything = tables is None and engines.of(target_url).has_sequences
    report = compare(
        display_url(source_url),
        display_url(target_url),
        sums["source"],
        sums["target"],
        source_seq,
        target_seq,
        source_sequences=sequence_states(source_url) if everything else None,
        target_sequences=sequence_states(target_url) if everything else None,
    )
    return report


def compare(
    source: str,
    target: str,
    source_sums: dict[str, TableSum],
    target_sums: dict[str, TableSum],
    source_seq: dict[str, SequencePosition],
    target_seq: dict[str, SequencePosition],
    *,
    source_sequences: dict[str, SequenceState] | None = None,
    target_sequences: dict[str, SequenceState] | None = None,
) -> VerifyReport:
    """Compare two sides' checksums and sequence positions; raise :class:`VerificationFailed`.

    ``source_sums`` may come from a backup's manifest, taken while the source was quiet, so a verification
    after a load needs one pass over the target only. A target's auto-numbered column or sequence object
    must not be behind the source's: a value the source already handed out (an invoice number in a mail)
    would be handed out again. With ``source_sequences`` (:func:`sequence_states`) every sequence object is
    checked too, owned by a column or not; one that backs an auto-numbered column and has no twin on the
    target (a MariaDB AUTO_INCREMENT after a cross-engine copy) is checked through that column.
    """
    source_sums, source_seq = _renamed(source_sums, target_sums), _renamed(source_seq, target_sums)
    comparisons = []
    for table in sorted(set(source_sums) | set(target_sums)):
        s, t = source_sums.get(table), target_sums.get(table)
        problems = []
        if s is None:
            problems.append("only in the target")
        elif t is None:
            problems.append("missing from the target")
        elif s.rows != t.rows:
            problems.append(f"{s.rows} rows in the source, {t.rows} in the target")
        elif s.checksum != t.checksum:
            problems.append("same row count but different data")
        seq = target_seq.get(table)
        if seq is not None and not seq.ok:
            problems.append(f"sequence on {seq.column} would hand out {seq.next_value}, but {seq.max_value} is used")
        if seq is None and table in source_seq and t is not None:
            problems.append(f"{source_seq[table].column} is auto-numbered in the source but not in the target")
        before = source_seq.get(table)
        if (
            seq is not None
            and before is not None
            and before.next_value is not None
            and (seq.next_value is None or seq.next_value < before.next_value)
        ):
            problems.append(
                f"sequence on {seq.column} would hand out {seq.next_value}, but the source had reached "
                f"{before.next_value}"
            )
        comparisons.append(TableComparison(table, s, t, seq, tuple(problems)))
    sequence_problems = _compare_sequences(source_sequences, target_sequences, source_seq, target_seq)
    report = VerifyReport(source, target, tuple(comparisons), tuple(sequence_problems), len(source_sequences or {}))
    if not report.ok:
        names = ", ".join(t.table for t in report.failed)
        raise VerificationFailed(
            f"{report.target} does not match {report.source} in {len(report.failed)} table(s): {names}. "
            f"{report.summary()}",
            report,
        )
    logger.info("verified %s against %s: %s", report.target, report.source, report.summary())
    return report


_T = Any


def _renamed(source: dict[str, _T], target: dict[str, TableSum]) -> dict[str, _T]:
    """``source`` keyed by the target's names where the target truncated a long one (PostgreSQL keeps 63
    bytes of a MariaDB name of 64): a table missing under its own name, found under its truncation."""
    renamed: dict[str, _T] = {}
    for name, value in source.items():
        short = name.encode("utf-8")[:63].decode("utf-8", errors="ignore")
        moved = name not in target and short != name and short in target and short not in source
        renamed[short if moved else name] = value
    return renamed


def _compare_sequences(
    source: dict[str, SequenceState] | None,
    target: dict[str, SequenceState] | None,
    source_seq: dict[str, SequencePosition],
    target_seq: dict[str, SequencePosition],
) -> list[str]:
    if source is None:
        return []
    target = target or {}
    backing = {p.sequence: p.table for p in source_seq.values() if p.sequence}
    problems = []
    for name, state in sorted(source.items()):
        twin = target.get(name)
        if twin is None:
            table = backing.get(name)
            if table is not None and table in target_seq:
                continue  # carried as the table's own auto-numbering: checked with the table
            problems.append(f"sequence {name} is missing from the target")
        elif twin.next_value < state.next_value if state.increment > 0 else twin.next_value > state.next_value:
            problems.append(
                f"sequence {name} would hand out {twin.next_value}, but the source had reached {state.next_value}"
            )
    return problems
