"""Three deploys on one Redis, each with a restart hook that talks to what its .env points at: the shared set-up
of the swap and replace-secret tests (real Redis servers, real hook processes)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from changeover.core import paths
from changeover.core.workspace import Workspace
from tests.waiting import wait_for

DEPLOYS = ("a-shop", "b-shop", "c-shop")
#: the password of the private Redis (``redis_port`` in tests/core/conftest.py) its default user starts with
OLD_PW = "old-s3cret-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ping(*args: str) -> bool:
    done = subprocess.run(["redis-cli", *args, "ping"], capture_output=True, text=True, timeout=10, check=False)
    return done.stdout.strip() == "PONG"


def alive(pid: int) -> bool:
    return paths.pid_alive(pid)


def make_three_deploys(workspace: Workspace, tmp_path: Path, handle: str, hook_script: str) -> dict[str, Path]:
    """Deploys a-, b- and c-shop with ``handle`` registered as ``cache`` and attached to each; their restart
    hook runs ``hook_script`` with the deploy's restart log as ``$1``."""
    hook = tmp_path / "restart.sh"
    hook.write_text(hook_script)
    workspace.register_resource("cache", handle)
    envs = {}
    for name in DEPLOYS:
        env = tmp_path / name / ".env"
        env.parent.mkdir()
        env.write_text(f"# {name}\nexport DEBUG=0\nSECRET_KEY='k3y {name}'\n")
        workspace.add_deploy(name, str(env), restart_cmd=f"sh {hook} {tmp_path / name / 'restarts.log'}")
        workspace.attach("cache", name)
        envs[name] = env
    return envs


def restarts(env: Path) -> list[str]:
    """What each restart of the deploy whose config is ``env`` saw, one line a restart."""
    log = env.parent / "restarts.log"
    return log.read_text().splitlines() if log.exists() else []


@contextmanager
def private_redis(folder: Path, password: str) -> Iterator[int]:
    """A Redis of its own on a free port, its default user with ``password``, files in ``folder``; stopped after."""
    port = free_port()
    pidfile = folder / "redis.pid"
    subprocess.run(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", password, "--save", "",
         "--appendonly", "no", "--daemonize", "yes", "--pidfile", str(pidfile), "--dir", str(folder)],
        check=True,
        timeout=30,
    )  # fmt: skip
    wait_for(
        "the test's Redis", lambda: pidfile.exists() and ping("-p", str(port), "-a", password, "--no-auth-warning")
    )
    try:
        yield port
    finally:
        pid = int(pidfile.read_text())
        os.kill(pid, signal.SIGTERM)
        wait_for("the test's Redis to stop", lambda: not alive(pid))
