"""A deploy's hooks: restart and maintenance commands, run with a timeout.

A hook runs in its own process group through the shell, in the folder of the deploy's config. Its exit
code and output (secrets redacted, truncated) go to the audit trail; a failing or hanging hook raises
:class:`HookError`.

Only the hook's own process is waited for. A restart hook that starts a service (``setsid daemon &``,
or ``server &`` without redirecting its output) is normal: once the hook's shell has exited, its output
is read for at most :data:`DRAIN` seconds more, then the pipe is closed, and whatever it started lives
on (a daemon that still writes to the hook's output afterwards gets EPIPE: redirect a service's output,
as any service manager expects). The timeout applies to the hook's own process: past it, the hook's
process group is stopped (SIGTERM, then SIGKILL after :data:`KILL_GRACE`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass

from . import redaction
from .errors import HookError

logger = logging.getLogger(__name__)

OUTPUT_LIMIT = 4000
KILL_GRACE = 5.0
#: seconds the hook's output is still read after its own process exited (grandchildren may hold it)
DRAIN = 0.5
#: seconds between two checks of whether the hook's process exited
POLL = 0.05
#: bytes of raw output kept while reading (only the tail is shown)
KEEP = 64 * 1024


@dataclass(frozen=True)
class HookResult:
    name: str
    command: str
    returncode: int
    output: str
    seconds: float

    def summary(self) -> str:
        tail = self.output.strip()[-500:]
        text = f"{self.name} hook exited {self.returncode} after {self.seconds:.1f}s"
        return f"{text}: {tail}" if tail else text


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (``secrets``, every one this process remembers, any URL password) masked.

    Delegates to :func:`changeover.core.redaction.redact`; kept here so its callers keep working.
    """
    return redaction.redact(text, secrets)


def stop_process_group(
    process: subprocess.Popen[bytes], first: int = signal.SIGTERM, grace: float = KILL_GRACE
) -> None:
    """Ask a child's process group to stop with ``first``; kill the group if it is still there after ``grace``."""
    try:
        os.killpg(process.pid, first)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_hook(
    name: str,
    command: str,
    *,
    timeout: float,
    cwd: str | None = None,
    secrets: Iterable[str] = (),
) -> HookResult:
    """Run ``command`` through the shell; raise :class:`HookError` if it fails or runs past ``timeout``."""
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        shell=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    try:
        raw, exited = _read_until_exit(process, started + timeout)
    finally:
        process.stdout.close()
    if not exited:
        stop_process_group(process)
        raise HookError(
            f"The {name} hook did not finish within {timeout:g} s and was stopped: "
            "check the command or raise the deploy's hook timeout.",
        )
    output = redact(raw.decode("utf-8", "replace"), secrets)[-OUTPUT_LIMIT:]
    result = HookResult(name, command, process.returncode, output, time.monotonic() - started)
    logger.info("%s", result.summary())
    if process.returncode != 0:
        last = output.strip().splitlines()[-1:] or [""]
        raise HookError(
            f"The {name} hook failed (exit {process.returncode})" + (f": {last[0][:200]}" if last[0] else ".")
        )
    return result


def _read_until_exit(process: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bool]:
    """The hook's output and whether its own process exited before ``deadline``.

    Reads until the process has exited and its output is at end of file, or :data:`DRAIN` seconds after
    it exited (a grandchild holding the pipe is not waited for), or until ``deadline``.
    """
    assert process.stdout is not None
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    kept = bytearray()
    drain_until: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if drain_until is None and process.poll() is not None:
                drain_until = now + DRAIN
            limit = drain_until if drain_until is not None else deadline
            if now >= limit:
                return bytes(kept), drain_until is not None
            if not selector.select(min(POLL, limit - now)):
                continue
            try:
                block = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not block:  # end of file: nobody holds the output any more
                if drain_until is not None:
                    return bytes(kept), True
                selector.unregister(fd)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                return bytes(kept), process.returncode is not None
            kept += block
            del kept[:-KEEP]
