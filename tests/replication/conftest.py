"""Two MariaDB servers of the tests' own (source and target) with binary logging in ROW format and GTIDs.

Each is made by ``mariadb-install-db`` in a temp folder and runs ``mariadbd`` on a free port with its own
socket, never touching the shared server's data or settings; both are stopped and removed at the end of
the session. Tests make uniquely named databases on them and drop them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from tests.conftest import REQUIRE_SERVERS, unique_name
from tests.upgrade.conftest import free_port
from tests.waiting import became


def _binary(name: str, *extra: str) -> str | None:
    found = shutil.which(name) or next((p for p in extra if Path(p).exists()), None)
    return found


@dataclass
class PrivateMariaDB:
    """One private server: its admin URL (root over TCP), data folder, and its process."""

    url: URL
    base: Path
    server_id: int
    process: subprocess.Popen[bytes]

    def engine(self, database: str | None = None) -> sa.Engine:
        return sa.create_engine(self.url.set(database=database), isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)

    def scalar(self, sql: str, database: str | None = None) -> Any:
        engine = self.engine(database)
        try:
            with engine.connect() as conn:
                return conn.exec_driver_sql(sql.replace("%", "%%")).scalar()
        finally:
            engine.dispose()

    def rows(self, sql: str, database: str | None = None) -> list[tuple[Any, ...]]:
        engine = self.engine(database)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.exec_driver_sql(sql.replace("%", "%%")).all()]
        finally:
            engine.dispose()

    def execute(self, *statements: str, database: str | None = None) -> None:
        engine = self.engine(database)
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement.replace("%", "%%"))
        finally:
            engine.dispose()


def _start(server_id: int, domain: int | None = None, *extra: str) -> PrivateMariaDB:
    install = _binary("mariadb-install-db", "/usr/bin/mariadb-install-db")
    mariadbd = _binary("mariadbd", "/usr/sbin/mariadbd")
    if install is None or mariadbd is None:
        message = "no MariaDB server binaries (mariadb-install-db, mariadbd; Debian: mariadb-server)"
        if REQUIRE_SERVERS:
            pytest.fail(message + " and CHANGEOVER_REQUIRE_SERVERS=1", pytrace=False)
        pytest.skip(message)
    base = Path(tempfile.mkdtemp(prefix=f"co_mdb{server_id}_"))
    (base / "tmp").mkdir()  # its own: a bootstrap's temporary tables in the shared /tmp were seen to vanish
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    made = subprocess.run(
        [
            install,
            "--no-defaults",
            f"--datadir={base / 'data'}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            f"--tmpdir={base / 'tmp'}",
            *as_root,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    port = free_port()
    log = base / "error.log"
    process = subprocess.Popen(
        [
            mariadbd,
            "--no-defaults",
            *as_root,
            f"--datadir={base / 'data'}",
            f"--tmpdir={base / 'tmp'}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--socket={base / 'mysqld.sock'}",
            f"--pid-file={base / 'mysqld.pid'}",
            f"--log-error={log}",
            f"--log-bin={base / 'data' / 'binlog'}",
            "--binlog-format=ROW",
            f"--server-id={server_id}",
            f"--gtid-domain-id={server_id if domain is None else domain}",
            "--skip-name-resolve",
            "--performance-schema=OFF",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            "--innodb-flush-log-at-trx-commit=2",
            "--sync-binlog=0",
            "--max-connections=60",
            *extra,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = URL.create("mysql+pymysql", "root", None, "127.0.0.1", port, None)
    server = PrivateMariaDB(url, base, server_id, process)

    def answers_or_died() -> bool:
        try:
            server.scalar("SELECT 1")
            return True
        except sa.exc.OperationalError:
            return process.poll() is not None  # a server that exited ends the wait too

    if became(answers_or_died, 60) and process.poll() is None:
        return server
    _stop(server)
    text = log.read_text() if log.exists() else ""
    raise AssertionError(f"the private MariaDB server did not start:\n{text[-2000:]}")


def _stop(server: PrivateMariaDB) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
    shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb_pair() -> Iterator[tuple[PrivateMariaDB, PrivateMariaDB]]:
    """A source server (server_id and GTID domain 11) and a target server (12) of the session's own."""
    source = _start(11)
    try:
        target = _start(12)
    except BaseException:
        _stop(source)
        raise
    try:
        yield source, target
    finally:
        _stop(target)
        _stop(source)


@pytest.fixture(scope="session")
def default_domain_pair() -> Iterator[tuple[PrivateMariaDB, PrivateMariaDB]]:
    """Two servers as most are configured: both in GTID domain 0, the target logging what it replicates."""
    source = _start(21, 0)
    try:
        target = _start(22, 0, "--log-slave-updates=ON")
    except BaseException:
        _stop(source)
        raise
    try:
        yield source, target
    finally:
        _stop(target)
        _stop(source)


@dataclass
class Databases:
    """A source database and an empty target database for one test, on the private pair."""

    source_server: PrivateMariaDB
    target_server: PrivateMariaDB
    source: URL
    target: URL
    name: str  # the run name handed to start()


@pytest.fixture
def databases(mariadb_pair: tuple[PrivateMariaDB, PrivateMariaDB]) -> Iterator[Databases]:
    """Uniquely named databases (the target under another name), dropped after the test."""
    source_server, target_server = mariadb_pair
    src, dst = unique_name("co_src"), unique_name("co_dst")
    charset = "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    source_server.execute(f"CREATE DATABASE `{src}` {charset}")
    target_server.execute(f"CREATE DATABASE `{dst}` {charset}")
    try:
        yield Databases(
            source_server,
            target_server,
            source_server.url.set(database=src),
            target_server.url.set(database=dst),
            unique_name("run"),
        )
    finally:
        source_server.execute(f"DROP DATABASE IF EXISTS `{src}`")
        target_server.execute(f"DROP DATABASE IF EXISTS `{dst}`")


def replication_users(server: PrivateMariaDB) -> list[str]:
    return [str(r[0]) for r in server.rows("SELECT User FROM mysql.user WHERE User LIKE 'co\\_repl\\_%'")]


def replica_connections(server: PrivateMariaDB) -> list[str]:
    engine = server.engine()
    try:
        with engine.connect() as conn:
            return [str(r["Connection_name"]) for r in conn.exec_driver_sql("SHOW ALL SLAVES STATUS").mappings()]
    finally:
        engine.dispose()


Recorder = Callable[[int, int | None, str, str], None]
