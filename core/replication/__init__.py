"""Replication from a source database into a new, empty one of the same engine: the online upgrade's data path.

One strategy per engine (:func:`strategy_for`), each doing the same five things, so the online route's steps
(:mod:`changeover.core.upgrade.steps`) know no engine:

1. :meth:`Replication.requirements`: what replication needs of the source, the target and the credentials,
   each missing thing named with its fix (PostgreSQL: ``wal_level=logical``, a slot and a publication the
   credentials may create, a primary key or replica identity on every table; MariaDB/MySQL: binary logging in
   ROW format, a server id, a replication user, a target on another server). Changes nothing.
2. :meth:`Replication.start`: copy the base from a consistent snapshot tied to the replication's start, then
   replicate into the target. Returns the :class:`State` to journal: everything it made (slot, publication,
   subscription, user, channel), so that a crash at any point can be resumed or undone from the journal.
3. :meth:`Replication.lag`: how far behind the target is (bytes and seconds), while the app keeps writing.
4. :meth:`Replication.drain`: once the deploys are in maintenance, wait until the target has applied every
   change the source committed (a timeout raises, and the run rolls back); then carry sequence and
   AUTO_INCREMENT positions the replication does not carry itself.
5. :meth:`Replication.stop`: stop replicating and remove everything :meth:`start` made, on the source and
   the target. Idempotent, and safe on a half-done start (the journal's state may name things never made).

The source's data is never changed; what replication creates beside it is removed by :meth:`stop`, whether
the run finishes, is cancelled or rolls back.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import URL

from ..jobs import Progress

#: engine name (``engines.of(url).name``) -> the module of its strategy, imported when first asked for
STRATEGIES: dict[str, str] = {
    "postgresql": "changeover.core.replication.postgresql",
    "mysql": "changeover.core.replication.mariadb",
}

#: journaled state: JSON-serialisable names and positions, never a secret
State = dict[str, Any]


@dataclass(frozen=True)
class Requirement:
    """One thing online replication needs, whether it holds, and if not how to make it hold."""

    name: str
    ok: bool
    detail: str  # what was found; when not ok, the fix in words (a setting, a grant, a command)


@dataclass(frozen=True)
class Lag:
    """How far the target is behind the source: what the faces show while replication catches up."""

    bytes_behind: int | None  # None where the engine cannot say
    seconds_behind: float | None
    applied: str  # the target's applied position, in the engine's terms (an LSN, a GTID set)
    source: str  # the source's current position, in the same terms

    @property
    def caught_up(self) -> bool:
        return self.applied == self.source or self.bytes_behind == 0


class Replication(Protocol):
    """One engine's replication from a source database into an empty target database."""

    def requirements(self, source: URL, target: URL | None) -> list[Requirement]: ...

    def start(
        self, source: URL, target: URL, name: str, state: State, progress: Progress, cancel: threading.Event | None
    ) -> State:
        """Copy the base and begin replicating; ``name`` is unique to the run (for slots, users, channels);
        ``state`` is what an earlier, interrupted call journaled (empty the first time)."""
        ...

    def lag(self, source: URL, target: URL, state: State) -> Lag: ...

    def drain(
        self,
        source: URL,
        target: URL,
        state: State,
        timeout: float,
        progress: Progress,
        cancel: threading.Event | None,
    ) -> Lag: ...

    def stop(self, source: URL, target: URL | None, state: State) -> None: ...


def strategy_for(engine: str) -> Replication | None:
    """The replication strategy of ``engine``, or None where Changeover cannot replicate it (SQLite)."""
    module = STRATEGIES.get(engine)
    if module is None:
        return None
    strategy: Replication = importlib.import_module(module).STRATEGY
    return strategy
