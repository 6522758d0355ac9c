"""Health checks and Test connection, against the real servers of this machine and a closed port."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from changeover.core.errors import NotFound
from changeover.core.health import Health, check_connection, check_health
from changeover.core.workspace import Workspace

from ..conftest import POSTGRES_URL


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_sqlite_file_is_opened_read_only(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite3"
    result = check_connection(f"sqlite:///{missing}")
    assert not result.ok and "does not exist" in result.message
    assert not missing.exists()  # a check never creates the file
    sqlite3.connect(tmp_path / "real.sqlite3").close()
    result = check_connection(f"sqlite:///{tmp_path / 'real.sqlite3'}")
    assert result.ok and result.message.startswith("Connected to sqlite")


def test_a_closed_port_is_unreachable_and_the_secret_is_not_told() -> None:
    port = _closed_port()
    result = check_connection(f"redis://:hunter2-secret@127.0.0.1:{port}/0", timeout=2)
    assert not result.ok
    assert f"127.0.0.1:{port}" in result.message and "hunter2" not in result.message


def test_a_bad_handle_and_an_api_key_say_why() -> None:
    assert not check_connection("nonsense://").ok
    assert check_connection("nonsense://").message
    assert check_connection("sk-abc123", timeout=1).ok is False


@pytest.mark.servers
def test_a_real_postgres_answers(postgres_admin: sa.Engine) -> None:
    result = check_connection(POSTGRES_URL)
    assert result.ok and result.message.startswith("Connected to postgresql 15")
    wrong = make_url(POSTGRES_URL).set(database="co_no_such_database").render_as_string(hide_password=False)
    refused = check_connection(wrong)
    assert not refused.ok and "no such database" in refused.message


def test_check_health_names_each_resource(workspace: Workspace) -> None:
    port = _closed_port()
    workspace.register_resource("cache", f"redis://:s3cret-pw@127.0.0.1:{port}/0")
    found = check_health(workspace, ["cache"], timeout=2)
    assert found["cache"].health is Health.UNREACHABLE
    assert found["cache"].text.startswith("unreachable: Connection refused") and "s3cret" not in found["cache"].text
    with pytest.raises(NotFound):
        check_health(workspace, ["gone"], timeout=2)
