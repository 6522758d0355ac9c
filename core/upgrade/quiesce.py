"""Wait until a database is quiet: no session of the deploys' database user other than ours."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL

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
    backend = url.get_backend_name()
    if backend == "sqlite":
        return []
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                rows = conn.execute(
                    sa.text(
                        "SELECT pid::text, usename, coalesce(client_addr::text, 'local'), application_name, "
                        "coalesce(state, '') FROM pg_stat_activity "
                        "WHERE datname = current_database() AND usename = current_user AND pid <> pg_backend_pid()"
                    )
                ).all()
            else:
                rows = conn.execute(
                    sa.text(
                        "SELECT CAST(ID AS CHAR), USER, HOST, '', COALESCE(COMMAND, '') "
                        "FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
                        "AND USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AND ID <> CONNECTION_ID()"
                    )
                ).all()
    finally:
        engine.dispose()
    return [Session(*(str(v or "") for v in row)) for row in rows]


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
