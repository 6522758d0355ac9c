"""The log never holds a secret, whatever a driver put in its error: real errors from the real PostgreSQL."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from changeover.core import redaction, secrets
from changeover.core.logs import RedactingFilter, log_file, redacting, setup_logging

logger = logging.getLogger("changeover.tests.logs")


@pytest.fixture
def log_path() -> Iterator[Path]:
    """setup_logging's real file handler, removed again after the test (the logger outlives it)."""
    root = logging.getLogger("changeover")
    before = list(root.handlers)
    path = setup_logging()
    assert path == log_file()
    yield path
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()


def _flushed(path: Path) -> str:
    for handler in logging.getLogger("changeover").handlers:
        handler.flush()
    return path.read_text(encoding="utf-8")


def test_a_driver_error_quoting_a_stored_password_is_logged_without_it(
    postgres_admin: sa.Engine, log_path: Path
) -> None:
    password = "S3cret-" + uuid.uuid4().hex[:12]
    role = "nobody_" + uuid.uuid4().hex[:8]
    secrets.store("resource:db:1", {"password": password})  # what Changeover holds is remembered
    statement = f"ALTER USER {role} PASSWORD '{password}'"
    with pytest.raises(sa.exc.ProgrammingError) as caught, postgres_admin.connect() as conn:
        conn.execute(sa.text(statement))
    assert password in str(caught.value)  # the driver's text does carry it ...
    try:
        raise RuntimeError("rotation failed") from caught.value
    except RuntimeError:
        logger.exception("unexpected error in %s", f"rotate {password}")
    text = _flushed(log_path)
    assert password not in text  # ... the log does not
    assert "unexpected error in rotate •••" in text
    assert f"ALTER USER {role} PASSWORD '•••'" in text
    assert f'role "{role}" does not exist' in text
    assert "Traceback (most recent call last)" in text and "RuntimeError: rotation failed" in text


def test_a_bound_parameter_echoed_by_the_driver_is_masked(postgres_admin: sa.Engine, log_path: Path) -> None:
    token = "t0ken-" + uuid.uuid4().hex[:12]
    redaction.remember(token)
    try:
        with postgres_admin.connect() as conn:
            conn.execute(sa.text("SELECT CAST(:value AS integer)"), {"value": token})
    except sa.exc.DataError:
        logger.exception("health check failed")
    text = _flushed(log_path)
    assert token not in text
    assert 'invalid input syntax for type integer: "•••"' in text
    assert "[parameters: {'value': '•••'}]" in text


def test_a_url_password_never_seen_before_is_masked(log_path: Path) -> None:
    logger.warning("could not reach %s", "redis://:n0t-kn0wn-pw@cache.internal:6379/0")
    try:
        raise ConnectionError("connect to amqp://app:an0ther-pw@mq.internal:5672/ refused")
    except ConnectionError:
        logger.error("queue", exc_info=True)
    text = _flushed(log_path)
    assert "n0t-kn0wn-pw" not in text and "an0ther-pw" not in text
    assert "could not reach redis://:•••@cache.internal:6379/0" in text
    assert "ConnectionError: connect to amqp://app:•••@mq.internal:5672/ refused" in text


def test_the_filter_works_on_any_handler_and_keeps_bad_records() -> None:
    stream = io.StringIO()
    handler = redacting(logging.StreamHandler(stream))
    assert redacting(handler) is handler and sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    other = logging.getLogger("elsewhere.tests.logs")
    other.addHandler(handler)
    other.propagate = False
    try:
        redaction.remember("h4ndler-pw")
        other.error("login with %s failed", "h4ndler-pw", stack_info=True)
        other.error("a bad format %d", "h4ndler-pw")  # logging would print its own error; the filter keeps it
    finally:
        other.removeHandler(handler)
        other.propagate = True
    text = stream.getvalue()
    assert "h4ndler-pw" not in text
    assert "ERROR login with ••• failed" in text and "Stack (most recent call last)" in text
    assert "a bad format %d" in text and "'•••'" in text
