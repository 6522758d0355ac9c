"""Fixtures the core tests share: a Redis of their own with a password (the replace and rotation tests)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.redis_deploys import OLD_PW, alive, free_port, ping
from tests.waiting import wait_for


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    """A Redis of its own on a free port whose default user has the old password."""
    if not ping("-h", "127.0.0.1", "-p", "6379"):
        from tests.conftest import server_unavailable

        server_unavailable("Redis on 127.0.0.1:6379", ConnectionError("no PONG"))
    port = free_port()
    pidfile = tmp_path / "redis.pid"
    subprocess.run(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", OLD_PW, "--save", "",
         "--appendonly", "no", "--daemonize", "yes", "--pidfile", str(pidfile), "--dir", str(tmp_path)],
        check=True,
        timeout=30,
    )  # fmt: skip
    wait_for("the test's Redis", lambda: pidfile.exists() and ping("-p", str(port), "-a", OLD_PW, "--no-auth-warning"))
    yield port
    pid = int(pidfile.read_text())
    os.kill(pid, signal.SIGTERM)
    wait_for("the test's Redis to stop", lambda: not alive(pid))
