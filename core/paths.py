"""Where Changeover keeps its files: the platform's user folders (platformdirs)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import platformdirs

APP_NAME = "changeover"
APP_AUTHOR = "Changeover"


def data_dir() -> Path:
    """The user data folder: the default SQLite inventory and the backups live here."""
    return Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))


def backups_dir() -> Path:
    return data_dir() / "backups"


def default_inventory_url() -> str:
    return f"sqlite:///{data_dir() / 'inventory.sqlite3'}"


def private_runtime_dir() -> Path:
    """A folder only this user can enter (0700) for short-lived files holding credentials.

    Under ``$XDG_RUNTIME_DIR`` (a tmpfs the session owns) when there is one, else under the cache
    folder. Used only where an anonymous file (``memfd_create``) is not available; every file in it is
    named after the process that made it, so :func:`clean_private_runtime` can remove what a killed
    process left.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / APP_NAME if runtime and Path(runtime).is_dir() else cache_dir() / "runtime"
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    base.chmod(0o700)
    return base


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR))


def runtime_file_name(prefix: str, suffix: str) -> str:
    """A name for a file in :func:`private_runtime_dir` that records which process owns it."""
    return f"{prefix}-{os.getpid()}-{secrets.token_hex(6)}{suffix}"


def clean_private_runtime() -> list[Path]:
    """Remove the files of :func:`private_runtime_dir` whose owner process is gone; return them.

    Call it at start: a process killed while a child tool ran leaves its option file there.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    candidates = [cache_dir() / "runtime"]
    if runtime:
        candidates.append(Path(runtime) / APP_NAME)
    removed: list[Path] = []
    for folder in candidates:
        if not folder.is_dir():
            continue
        for item in folder.iterdir():
            if _owner_alive(item.name):
                continue
            with contextlib.suppress(FileNotFoundError):
                item.unlink()
                removed.append(item)
    return removed


def _owner_alive(name: str) -> bool:
    parts = name.split("-")
    if len(parts) < 3 or not parts[-2].isdigit():
        return False
    return pid_alive(int(parts[-2]))


def pid_alive(pid: int) -> bool:
    """True while a process ``pid`` exists (one of another user's counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
