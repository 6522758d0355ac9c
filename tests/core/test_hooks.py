"""Hooks run real shell commands: a service they start lives on, a hook that hangs is stopped in time.

Only the hook's own process is waited for; its output is read without waiting for the grandchildren
that still hold it. Every daemon a test starts is found through a marker file and killed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from changeover.core import hooks, redaction
from changeover.core.errors import HookError
from tests.waiting import became


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_for(condition: Callable[[], bool], deadline: float = 10.0) -> bool:
    return became(condition, deadline)


@pytest.fixture
def daemons() -> Iterator[list[int]]:
    """Pids the test's hooks started; killed at the end."""
    started: list[int] = []
    yield started
    for pid in started:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not any(alive(p) for p in started))


def test_a_setsid_daemon_holding_the_output_does_not_hold_the_hook(tmp_path: Path, daemons: list[int]) -> None:
    pidfile = tmp_path / "daemon.pid"
    command = f"echo starting; setsid sh -c 'echo $$ > {pidfile}; exec sleep 30' & echo started"
    started = time.monotonic()

    result = hooks.run_hook("restart", command, timeout=2, cwd=str(tmp_path))

    elapsed = time.monotonic() - started
    assert wait_for(pidfile.exists) and pidfile.read_text().strip()
    daemons.append(int(pidfile.read_text()))
    assert elapsed < 1.5, f"the hook took {elapsed:.2f}s: it waited for its daemon"
    assert result.returncode == 0 and "starting" in result.output and "started" in result.output
    assert alive(daemons[0]), "the daemon the hook started was killed"


def test_a_background_child_without_redirection_lives_on(tmp_path: Path, daemons: list[int]) -> None:
    started = time.monotonic()

    result = hooks.run_hook("restart", "sleep 30 & echo $!", timeout=5, cwd=str(tmp_path))

    elapsed = time.monotonic() - started
    pid = int(result.output.strip())
    daemons.append(pid)
    assert result.returncode == 0
    assert elapsed < 2, f"the hook took {elapsed:.2f}s: it waited for its child"
    assert alive(pid), "the hook's background child was killed although the hook succeeded"


def test_a_hanging_hook_is_stopped_at_its_timeout(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    started = time.monotonic()

    with pytest.raises(HookError, match="did not finish within 1 s"):
        hooks.run_hook("restart", f"echo {marker}; sleep 30", timeout=1, cwd=str(tmp_path))

    elapsed = time.monotonic() - started
    assert 1 <= elapsed < 3, f"stopped after {elapsed:.2f}s"


def test_a_hanging_hook_with_a_child_is_stopped_with_its_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"

    with pytest.raises(HookError):
        hooks.run_hook("restart", f"sleep 30 & echo $! > {pidfile}; wait", timeout=1, cwd=str(tmp_path))

    pid = int(pidfile.read_text())
    assert wait_for(lambda: not alive(pid)), "the child of a hook that timed out was left running"


def test_a_failing_hook_reports_its_last_line_redacted(tmp_path: Path) -> None:
    command = "echo connecting to postgresql://app:Sup3rSecret@db/app; echo 'could not restart'; exit 3"

    with pytest.raises(HookError) as failed:
        hooks.run_hook("restart", command, timeout=5, cwd=str(tmp_path))

    assert "exit 3" in str(failed.value) and "could not restart" in str(failed.value)


def test_hook_output_is_redacted_for_given_remembered_and_url_secrets(tmp_path: Path) -> None:
    redaction.remember("remembered-pw-1")
    try:
        command = (
            "echo given=given-pw-2; echo remembered=remembered-pw-1; echo url=redis://:unknown-pw-3@cache:6379/0; "
            "echo encoded=p%40ss%2Fword"
        )
        result = hooks.run_hook("restart", command, timeout=5, cwd=str(tmp_path), secrets=["given-pw-2", "p@ss/word"])
    finally:
        redaction.forget_all()

    for secret in ("given-pw-2", "remembered-pw-1", "unknown-pw-3", "p%40ss%2Fword"):
        assert secret not in result.output
    assert result.output.count(redaction.MASK) == 4
    assert hooks.redact("x given-pw-2 y", ["given-pw-2"]) == f"x {redaction.MASK} y"


def test_a_hook_with_much_output_keeps_its_tail(tmp_path: Path) -> None:
    result = hooks.run_hook("restart", "seq 1 200000", timeout=10, cwd=str(tmp_path))

    assert result.output.rstrip().endswith("200000") and len(result.output) <= hooks.OUTPUT_LIMIT


def test_two_processes_hooks_on_one_deploy_run_one_after_the_other(tmp_path: Path) -> None:
    """A restart (one process) and a maintenance-on hook (another) of the same deploy never overlap.

    Before, only the config write was locked: an attach's restart could stop the app that an upgrade's
    maintenance-on restart had just started (seen in CI as "the app exited" from the example's appctl).
    """
    import subprocess
    import sys

    from changeover.core.inventory.db import Inventory
    from changeover.core.workspace import Workspace

    log = tmp_path / "hooks.log"
    # each hook writes its start, holds on a while, then writes its end: overlapping hooks interleave
    hook = f"echo start $$ >> {log}; sleep 0.4; echo end $$ >> {log}"
    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    env = tmp_path / "shop" / ".env"
    env.parent.mkdir()
    env.write_text("PORT=8000\n")
    ws = Workspace(Inventory(url), actor="tester@test")
    ws.add_deploy("shop", str(env), restart_cmd=hook, maintenance_on_cmd=hook)
    ws.close()
    script = (
        "import sys\n"
        "from changeover.core import deploys\n"
        "from changeover.core.inventory.db import Inventory\n"
        "from changeover.core.workspace import Workspace\n"
        f"ws = Workspace(Inventory({url!r}), actor='tester@test')\n"
        "for _ in range(2):\n"
        "    deploys.restart(ws, 'shop') if sys.argv[1] == 'restart' else deploys.set_maintenance(ws, 'shop', True)\n"
    )
    children = [subprocess.Popen([sys.executable, "-c", script, which]) for which in ("restart", "maintenance")]
    for child in children:
        assert child.wait(timeout=60) == 0

    lines = log.read_text().split()
    events = list(zip(lines[0::2], lines[1::2], strict=True))
    assert len(events) == 8, events
    for started, ended in zip(events[0::2], events[1::2], strict=True):
        assert started[0] == "start" and ended == ("end", started[1]), events
