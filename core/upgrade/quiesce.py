"""Wait until a database is quiet: no session of the deploys' database user other than ours."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

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
