"""Emptying a new database that an interrupted load left half-filled (it is ours: the run made or checked it)."""

from __future__ import annotations

from sqlalchemy.engine import URL

from .. import engines


def empty_database(url: URL) -> None:
    """Drop everything in the database at ``url``, so a load can start again (``Engine.empty``).

    The database was empty when the run took it, so nothing dropped here predates the run.
    """
    engines.of(url).empty(url)
