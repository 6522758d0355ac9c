"""Logging to a rotating file in the platform log folder, never with a secret in it.

Callers log masked handles, but a driver's error or a traceback may quote a password (an SQL statement,
a bound parameter, a URL). The handler's :class:`RedactingFilter` passes every record's final message and
formatted traceback through :func:`.redaction.redact`: every secret Changeover holds and every URL password
is masked before anything is written.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from . import paths
from .redaction import redact

LOG_NAME = "changeover.log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_TRACEBACKS = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, traceback and stack before any handler formats it.

    Add it to any handler (``handler.addFilter(RedactingFilter())``). It rewrites the record in place:
    the message is formatted once with its arguments, and the traceback text is cached in ``exc_text``
    (which every ``logging.Formatter`` uses instead of formatting ``exc_info`` again).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what can be kept, masked
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def log_file() -> Path:
    return paths.log_dir() / LOG_NAME


def redacting(handler: logging.Handler) -> logging.Handler:
    """``handler`` with a :class:`RedactingFilter` (added once); returned for chaining."""
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    return handler


def setup_logging(level: int = logging.INFO) -> Path:
    """Send Changeover's log records, redacted, to a rotating file; return its path. Safe to call twice."""
    path = log_file()
    root = logging.getLogger("changeover")
    if any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(redacting(handler))
    root.setLevel(level)
    return path
