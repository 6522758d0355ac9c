"""Where Changeover keeps its files: the platform's user folders (platformdirs)."""

from __future__ import annotations

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
