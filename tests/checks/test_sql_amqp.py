"""SQL checks (PostgreSQL, MariaDB, SQLite) and AMQP (RabbitMQ, with a vhost and user made by the test)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import server_unavailable

from .conftest import SmtpServers, assert_failed, assert_ok, binary, free_port, run_check


@pytest.fixture(scope="module")
def scram_postgres() -> Iterator[tuple[int, str]]:
    """A private PostgreSQL that asks for a password (scram-sha-256): (port, postgres's password)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        server_unavailable("PostgreSQL server binaries", FileNotFoundError("no /usr/lib/postgresql/*/bin/initdb"))
    bindir = versions[-1].parent
    base = Path(tempfile.mkdtemp(prefix="co_pgscram_"))
    owner = "postgres" if os.geteuid() == 0 else None
    password = "pg-pw-" + os.urandom(4).hex()
    (base / "pw").write_text(password)
    if owner:
        shutil.chown(base, owner)
        shutil.chown(base / "pw", owner)
    port = free_port()

    def pg(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, user=owner, capture_output=True, text=True, timeout=60, check=False)

    data = base / "data"
    made = pg(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=scram-sha-256",
        "--pwfile",
        str(base / "pw"),
        "--no-sync",
    )
    assert made.returncode == 0, made.stderr
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = pg(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start")
    assert started.returncode == 0, started.stderr
    try:
        yield port, password
    finally:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate")
        shutil.rmtree(base, ignore_errors=True)


def test_postgresql_ok_and_wrong_password(scram_postgres: tuple[int, str]) -> None:
    port, password = scram_postgres
    assert_ok(run_check(f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"), "SELECT 1", "postgresql 15")
    result = run_check(f"postgresql://postgres:wrong-pw@127.0.0.1:{port}/postgres")
    assert_failed(result, "wrong user name or password", "password authentication failed")


def test_postgresql_refused_wrong_protocol_timeout(refused_port: int, silent_port: int, mysql_admin: object) -> None:
    assert_failed(run_check(f"postgresql://app:pw-secret@127.0.0.1:{refused_port}/app"), "refused")
    assert_failed(run_check("postgresql://app:pw-secret@127.0.0.1:3306/app"), "wrong protocol", "postgresql")
    assert_failed(run_check(f"postgresql://app:pw-secret@127.0.0.1:{silent_port}/app"), "timed out")


def test_postgresql_no_such_database(postgres_admin: sa.Engine) -> None:
    assert_failed(run_check("postgresql://postgres@127.0.0.1:5432/co_missing_db"), "no such database")


@pytest.fixture
def mysql_user(mysql_admin: sa.Engine) -> Iterator[tuple[str, str]]:
    user, password = f"co_chk_{uuid.uuid4().hex[:8]}", "my-pw-" + os.urandom(4).hex()
    with mysql_admin.connect() as conn:
        conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"))
        conn.execute(sa.text(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY '{password}'"))
    yield user, password
    with mysql_admin.connect() as conn:
        conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))
        conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'localhost'"))


def test_mariadb_ok_and_wrong_password(mysql_user: tuple[str, str]) -> None:
    user, password = mysql_user
    assert_ok(run_check(f"mysql://{user}:{password}@127.0.0.1:3306/information_schema"), "SELECT 1")
    assert_failed(
        run_check(f"mysql://{user}:wrong-pw@127.0.0.1:3306/information_schema"), "wrong user name or password"
    )


def test_mariadb_refused_wrong_protocol_timeout(refused_port: int, silent_port: int, smtp_servers: SmtpServers) -> None:
    assert_failed(run_check(f"mysql://app:pw-secret@127.0.0.1:{refused_port}/app"), "refused")
    assert_failed(run_check(f"mysql://app:pw-secret@127.0.0.1:{smtp_servers.plain_port}/app"), "wrong protocol")
    assert_failed(run_check(f"mysql://app:pw-secret@127.0.0.1:{silent_port}/app"), "timed out")


def test_sqlite_ok_missing_and_not_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    before = db.read_bytes()
    assert_ok(run_check(f"sqlite:///{db}"), "sqlite")
    assert db.read_bytes() == before, "a check never changes the file"
    assert_failed(run_check(f"sqlite:///{tmp_path / 'none.db'}"), "does not exist")
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database\n")
    assert_failed(run_check(f"sqlite:///{text}"), "not an SQLite database")


@pytest.fixture(scope="module")
def rabbit_vhost() -> Iterator[tuple[str, str, str]]:
    """A vhost and a user with rights on it, made with rabbitmqctl and removed after: (vhost, user, password)."""
    ctl = binary("rabbitmqctl")
    tag = uuid.uuid4().hex[:8]
    vhost, user, password = f"co_vh_{tag}", f"co_user_{tag}", "amqp-pw-" + os.urandom(4).hex()

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ctl, *argv], capture_output=True, text=True, timeout=60, check=False)

    made = run("add_vhost", vhost)
    if made.returncode != 0:
        server_unavailable("RabbitMQ", RuntimeError(made.stderr.strip() or made.stdout.strip()))
    try:
        assert run("add_user", user, password).returncode == 0
        assert run("set_permissions", "-p", vhost, user, ".*", ".*", ".*").returncode == 0
        yield vhost, user, password
    finally:
        run("delete_user", user)
        run("delete_vhost", vhost)


def test_amqp_ok_on_its_vhost(rabbit_vhost: tuple[str, str, str]) -> None:
    vhost, user, password = rabbit_vhost
    assert_ok(run_check(f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"), "RabbitMQ", f"vhost '{vhost}'")


def test_amqp_wrong_password_and_foreign_vhost(rabbit_vhost: tuple[str, str, str]) -> None:
    vhost, user, password = rabbit_vhost
    assert_failed(run_check(f"amqp://{user}:wrong-pw@127.0.0.1:5672/{vhost}"), "wrong user name or password")
    assert_failed(run_check(f"amqp://{user}:{password}@127.0.0.1:5672/co_no_such_vhost"), "refused vhost")


def test_amqp_refused_wrong_protocol_timeout(refused_port: int, silent_port: int, postgres_admin: object) -> None:
    assert_failed(run_check(f"amqp://u:pw-secret@127.0.0.1:{refused_port}/"), "refused")
    assert_failed(run_check("amqp://u:pw-secret@127.0.0.1:5432/"), "wrong protocol", "AMQP")
    assert_failed(run_check(f"amqp://u:pw-secret@127.0.0.1:{silent_port}/"), "timed out")
