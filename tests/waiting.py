"""One way for a test to wait for something real to happen: poll it, with a deadline, never a bare sleep."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

DEADLINE = 30.0


def wait_for(what: str, ready: Callable[[], object], deadline: float = DEADLINE) -> Any:
    """Poll ``ready`` until it returns something truthy; fail naming ``what`` after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    pause = threading.Event()
    while True:
        value = ready()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline:g} s waiting for {what}")
        pause.wait(0.02)


def became(ready: Callable[[], object], deadline: float) -> bool:
    """Poll ``ready`` for up to ``deadline`` seconds; True if it became truthy (for a test that asserts both ways)."""
    end = time.monotonic() + deadline
    pause = threading.Event()
    while time.monotonic() < end:
        if ready():
            return True
        pause.wait(0.02)
    return bool(ready())
