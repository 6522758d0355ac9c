"""Helpers the transfer tests share (fixtures are in conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core.engines import open_engine

ENGINES = ("sqlite", "mysql", "postgresql")
PAIRS = [(a, b) for a in ENGINES for b in ENGINES if a != b]
Maker = Callable[[str], URL]
#: the password of the admin handles the fixtures make
ADMIN_PW = "Adm1n-" + uuid.uuid4().hex[:12]


def scalar(url: URL, sql: str, **params: Any) -> Any:
    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql), params)
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def tables_of(url: URL) -> list[str]:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
