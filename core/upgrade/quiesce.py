"""Wait until a database is quiet: no session of the deploys' database user other than ours; and, at verify
time, show it stayed so since its backup."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from .. import engines
from ..errors import ChangeoverError
from ..jobs import Progress, check_cancel

POLL_SECONDS = 0.5


class SourceNotQuiet(ChangeoverError):
    title = "The database is still in use"


@dataclass(frozen=True)
class Session:
    id: str
    user: str
    client: str
    application: str
    state: str

    def __str__(self) -> str:
        parts = [f"session {self.id}", f"user {self.user}"]
        if self.client:
            parts.append(f"from {self.client}")
        if self.application:
            parts.append(f"({self.application})")
        if self.state:
            parts.append(self.state)
        return " ".join(parts)


def sessions(url: URL) -> list[Session]:
    """Other sessions of the URL's user on the URL's database (none for SQLite, which has no sessions)."""
    engine = engines.of(url)
    if not engine.has_sessions:
        return []
    connection = sa.create_engine(engine.url(url), poolclass=sa.NullPool)
    try:
        with connection.connect() as conn:
            others = engine.other_sessions(conn)
    finally:
        connection.dispose()
    return [Session(s.id, s.user, s.client or "local", s.application, s.state) for s in others]


def wait_until_quiet(url: URL, timeout: float, progress: Progress, cancel: threading.Event | None, what: str) -> None:
    """Return once no other session of the database user is connected; raise after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        check_cancel(cancel, "The upgrade")
        others = sessions(url)
        if not others:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            listed = "; ".join(str(s) for s in others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            raise SourceNotQuiet(
                f"{what} still has {len(others)} session(s) of its user after {timeout:g} s in maintenance: {listed}. "
                "Stop whatever still uses it (a worker, a cron job, a console) and retry.",
            )
        progress(int(timeout - left), int(timeout), "s", f"Waiting for {len(others)} session(s) to close")
        if cancel is not None:
            cancel.wait(POLL_SECONDS)
        else:
            time.sleep(POLL_SECONDS)


def change_marks(url: URL) -> dict[str, Any] | None:
    """When each table of the database last changed, read just before its backup: what :func:`changed_since`
    compares with at verify time (:meth:`~..engines.base.Engine.last_changes`; None where the engine keeps
    no such time)."""
    engine = engines.of(url)
    with engine.connect(url, "read when its tables last changed") as conn:
        found = engine.last_changes(conn)
    return None if found is None else {"at": found[0], "tables": found[1]}


def changed_since(url: URL, marks: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Against ``marks``: the tables that changed since, or appeared or went (with what tells it), and the
    tables the marks cannot vouch for, whose rows the caller counts instead: those last changed in the very
    second the marks were read (a change later in that second leaves the same time)."""
    engine = engines.of(url)
    with engine.connect(url, "read when its tables last changed") as conn:
        found = engine.last_changes(conn)
    if found is None:
        return [], sorted(marks["tables"])
    before: dict[str, str | None] = marks["tables"]
    _now, after = found
    changed: list[str] = []
    for name in sorted(set(before) | set(after)):
        if name not in after:
            changed.append(f"{name} (dropped)")
        elif name not in before:
            changed.append(f"{name} (new)")
        elif after[name] != before[name]:
            changed.append(f"{name} (written at {after[name]} UTC)")
    uncertain = [name for name, at in sorted(before.items()) if at is not None and at >= marks["at"]]
    return changed, uncertain
