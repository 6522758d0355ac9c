"""A deploy's hooks: restart and maintenance commands, run with a timeout.

A hook runs in its own process group through the shell, in the folder of the deploy's config. Its exit
code and output (secrets redacted, truncated) go to the audit trail; a failing or hanging hook raises
:class:`HookError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from .errors import HookError
from .handles import MASK

logger = logging.getLogger(__name__)

OUTPUT_LIMIT = 4000
KILL_GRACE = 5.0


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
    """``text`` with every secret, as typed or percent-encoded in a URL, replaced by the mask."""
    forms = set()
    for secret in secrets:
        if secret and len(secret) >= 3:
            forms.update({secret, quote(secret, safe=""), quote(secret), quote_plus(secret)})
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


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
    try:
        raw, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process_group(process)
        process.communicate()
        raise HookError(
            f"The {name} hook did not finish within {timeout:g} s and was stopped: "
            "check the command or raise the deploy's hook timeout.",
        ) from None
    output = redact(raw.decode("utf-8", "replace"), secrets)[-OUTPUT_LIMIT:]
    result = HookResult(name, command, process.returncode, output, time.monotonic() - started)
    logger.info("%s", result.summary())
    if process.returncode != 0:
        last = output.strip().splitlines()[-1:] or [""]
        raise HookError(
            f"The {name} hook failed (exit {process.returncode})" + (f": {last[0][:200]}" if last[0] else ".")
        )
    return result
