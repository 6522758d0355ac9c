"""Fixtures the core tests share: a Redis of their own with a password (the replace and rotation tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.redis_deploys import OLD_PW, ping, private_redis


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    """A Redis of its own on a free port whose default user has the old password."""
    if not ping("-h", "127.0.0.1", "-p", "6379"):
        from tests.conftest import server_unavailable

        server_unavailable("Redis on 127.0.0.1:6379", ConnectionError("no PONG"))
    with private_redis(tmp_path, OLD_PW) as port:
        yield port
