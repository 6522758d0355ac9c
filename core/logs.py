"""Logging to a rotating file in the platform log folder (never a secret: callers log masked handles)."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from . import paths

LOG_NAME = "changeover.log"


def log_file() -> Path:
    return paths.log_dir() / LOG_NAME


def setup_logging(level: int = logging.INFO) -> Path:
    """Send Changeover's log records to a rotating file; return its path. Safe to call twice."""
    path = log_file()
    root = logging.getLogger("changeover")
    if any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    return path
