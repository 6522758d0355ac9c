"""What a cross-engine copy will do and did: tables, adaptations, what is left behind, the bulk path."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import ChangeoverError
from .typemap import Adaptation


class CopyFailed(ChangeoverError):
    """The copy stopped on an error; the source is untouched, the target holds a partial copy."""

    title = "Copy failed"


@dataclass(frozen=True)
class NotCarried:
    """Something in the source the copy leaves behind, and why."""

    what: str  # view | trigger | routine | event | collation | check | default | index | sequence
    name: str
    why: str

    def __str__(self) -> str:
        return f"{self.what} {self.name}: {self.why}"


@dataclass(frozen=True)
class TableCopy:
    """One table as it will be created: its target DDL and the rows the catalog expects."""

    name: str
    estimated_rows: int
    ddl: str


@dataclass(frozen=True)
class CopyReport:
    """What a copy will do, read before anything is written."""

    source: str
    target: str
    source_engine: str
    target_engine: str
    tables: tuple[TableCopy, ...]
    adaptations: tuple[Adaptation, ...]
    not_carried: tuple[NotCarried, ...]
    #: reasons the copy cannot start (a non-empty target); empty when it can
    blockers: tuple[str, ...] = ()
    bulk_path: str = ""

    @property
    def estimated_rows(self) -> int:
        return sum(t.estimated_rows for t in self.tables)

    def lines(self) -> list[str]:
        """The report as text lines, for the CLI and the plan page."""
        out = [
            f"Copy {self.source} ({self.source_engine}) → {self.target} ({self.target_engine})",
            f"{len(self.tables)} tables, about {self.estimated_rows} rows, loaded with {self.bulk_path}.",
        ]
        out += [f"BLOCKED: {b}" for b in self.blockers]
        if self.adaptations:
            out.append(f"Adapted ({len(self.adaptations)}):")
            out += [f"  {a}" for a in self.adaptations]
        if self.not_carried:
            out.append(f"Not carried ({len(self.not_carried)}):")
            out += [f"  {n}" for n in self.not_carried]
        return out


@dataclass(frozen=True)
class CopyResult:
    report: CopyReport
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())
