"""A PostgreSQL cluster of our own with ``wal_level=logical`` as the online upgrade's source, the shared
PostgreSQL as its target, and the checks every online test ends with: nothing of the replication is left.

The cluster is started once per session on a free port (``private_postgres`` in tests/upgrade/conftest.py is
the pattern); each test makes its own uniquely named databases on it and on the shared server, and drops
them, with every slot, role and subscription a failed test may have left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from dotenv import dotenv_values
from sqlalchemy.engine import URL, make_url

from changeover.core import handles
from tests.conftest import POSTGRES_URL, REQUIRE_SERVERS, unique_name

from ..conftest import TwelveFactorApp, _server_binaries, free_port

#: every name the online route makes starts so (core/upgrade/online_steps.py)
RUN_PREFIX = "co_online_"


def conninfo(url: URL) -> str:
    return psycopg.conninfo.make_conninfo(
        "", host=url.host, port=str(url.port or 5432), user=url.username, dbname=url.database or "postgres"
    )


def sql(url: URL, query: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        cursor = conn.execute(query, params or None)
        return list(cursor.fetchall()) if cursor.description else []


@dataclass
class LogicalPostgres:
    """The source cluster: its admin URL (database ``postgres``)."""

    url: URL


@pytest.fixture(scope="session")
def logical_postgres() -> Iterator[LogicalPostgres]:
    """A PostgreSQL cluster with ``wal_level=logical`` on a free port, for the whole session (never the shared one)."""
    bindir = _server_binaries()
    if bindir is None:
        message = "no PostgreSQL server binaries under /usr/lib/postgresql (Debian: postgresql)"
        if REQUIRE_SERVERS:
            pytest.fail(message + " and CHANGEOVER_REQUIRE_SERVERS=1", pytrace=False)
        pytest.skip(message)
    base = Path(tempfile.mkdtemp(prefix="co_pg_logical_"))
    owner = "postgres" if os.geteuid() == 0 else None
    if owner:
        shutil.chown(base, owner)
    data, port = base / "data", free_port()

    def pg(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, user=owner, capture_output=True, text=True, timeout=60, check=False)

    try:
        made = pg(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        assert made.returncode == 0, made.stderr
        options = (
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c wal_level=logical "
            "-c max_replication_slots=20 -c max_wal_senders=20"
        )
        started = pg(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start")
        assert started.returncode == 0, started.stderr + (base / "log").read_text()
        yield LogicalPostgres(URL.create("postgresql+psycopg", "postgres", None, "127.0.0.1", port, "postgres"))
    finally:
        if (data / "postmaster.pid").exists():
            pg(str(bindir / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate")
        shutil.rmtree(base, ignore_errors=True)


def left_on_source(server: URL, database: str) -> list[str]:
    """What any online run left on the source cluster: slots, publications in ``database``, roles."""
    slots = sql(server, "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s", RUN_PREFIX + "%")
    roles = sql(server, "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", RUN_PREFIX + "%")
    publications = sql(server.set(database=database), "SELECT pubname FROM pg_publication")
    return (
        [f"slot {r[0]}" for r in slots]
        + [f"role {r[0]}" for r in roles]
        + [f"publication {r[0]}" for r in publications]
    )


def left_on_target(url: URL) -> list[str]:
    """Subscriptions in the target database."""
    found = sql(
        url,
        "SELECT s.subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = %s",
        url.database,
    )
    return [f"subscription {r[0]}" for r in found]


@pytest.fixture
def make_source_db(logical_postgres: LogicalPostgres) -> Iterator[Callable[[str], URL]]:
    """Uniquely named databases on the logical cluster; dropped after the test with whatever a run left."""
    made: list[str] = []

    def make(prefix: str = "co_online_src") -> URL:
        name = unique_name(prefix)
        sql(logical_postgres.url, f'CREATE DATABASE "{name}"')
        made.append(name)
        return logical_postgres.url.set(database=name)

    yield make
    admin = logical_postgres.url
    for name in made:
        for (pid,) in sql(
            admin, "SELECT active_pid FROM pg_replication_slots WHERE database = %s AND active_pid IS NOT NULL", name
        ):
            sql(admin, "SELECT pg_terminate_backend(%s)", pid)
        for (slot,) in sql(admin, "SELECT slot_name FROM pg_replication_slots WHERE database = %s", name):
            with contextlib.suppress(psycopg.Error):
                sql(admin, "SELECT pg_drop_replication_slot(%s)", slot)
        sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for (role,) in sql(admin, "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", RUN_PREFIX + "%"):
        sql(admin, f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
def make_target_db(postgres_admin: sa.Engine) -> Iterator[Callable[[str], URL]]:
    """Uniquely named, empty databases on the shared server (as its superuser, who may subscribe); dropped
    after the test, any subscription a run left in them first."""
    made: list[str] = []
    admin = make_url(POSTGRES_URL)

    def make(prefix: str = "co_online_dst") -> URL:
        name = unique_name(prefix)
        sql(admin, f'CREATE DATABASE "{name}"')
        made.append(name)
        return admin.set(database=name)

    yield make
    for name in made:
        url = admin.set(database=name)
        with contextlib.suppress(psycopg.Error):
            for (sub,) in sql(url, "SELECT subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid "
                              "WHERE d.datname = current_database()"):  # fmt: skip
                sql(url, f'ALTER SUBSCRIPTION "{sub}" DISABLE')
                sql(url, f'ALTER SUBSCRIPTION "{sub}" SET (slot_name = NONE)')
                sql(url, f'DROP SUBSCRIPTION "{sub}"')
        sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ledger(url: URL) -> None:
    """A second table with its own sequence (not the app's), that the updater below inserts into."""
    sql(url, "CREATE TABLE ledger (id BIGSERIAL PRIMARY KEY, note TEXT NOT NULL, at TIMESTAMPTZ DEFAULT now())")


@dataclass
class Updater:
    """Another part of the app, in a thread: it updates the app's rows and appends to the ledger on the database
    the deploy's .env names, through one kept connection (a pool of one), like any app: it reads the .env
    before each write, lets go of its connection while maintenance is on and reconnects when DATABASE_URL
    changes. Records every acknowledged write with the database it went to."""

    app: TwelveFactorApp
    updates: dict[int, str] = field(default_factory=dict)  # items.id -> value, the last acknowledged
    notes: dict[int, str] = field(default_factory=dict)  # ledger.id -> note
    where: dict[str, int] = field(default_factory=dict)  # database -> acknowledged writes there
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def __enter__(self) -> Updater:
        self.thread = threading.Thread(target=self._loop, name="app-updater", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(30)

    def _loop(self) -> None:
        conn: psycopg.Connection[tuple[object, ...]] | None = None
        on: str | None = None
        n = 0
        try:
            while not self.stop.is_set():
                config = {k: v or "" for k, v in dotenv_values(self.app.env_file).items()}
                if config.get("MAINTENANCE_MODE"):
                    if conn is not None:
                        conn.close()
                        conn = None
                    self.stop.wait(0.02)
                    continue
                url = handles.parse(config["DATABASE_URL"]).sqlalchemy_url()
                if conn is None or on != url.database:
                    if conn is not None:
                        conn.close()
                    try:
                        conn = psycopg.connect(conninfo(url), autocommit=True)
                    except psycopg.Error as exc:
                        self.errors.append(f"connect: {exc}")
                        conn = None
                        self.stop.wait(0.05)
                        continue
                    on = url.database
                n += 1
                value = f"u{n}"
                try:
                    row = conn.execute("SELECT id FROM items WHERE value LIKE 'seed %%' OR value LIKE 'u%%' "
                                       "ORDER BY id LIMIT 1 OFFSET %s", (n % 50,)).fetchone()  # fmt: skip
                    if row is not None:
                        conn.execute("UPDATE items SET value = %s WHERE id = %s", (value, row[0]))
                        self.updates[int(str(row[0]))] = value
                    note = conn.execute("INSERT INTO ledger (note) VALUES (%s) RETURNING id", (value,)).fetchone()
                    assert note is not None
                    self.notes[int(str(note[0]))] = value
                    self.where[str(on)] = self.where.get(str(on), 0) + 1
                except psycopg.Error as exc:
                    self.errors.append(str(exc).splitlines()[0])
                    conn.close()
                    conn = None
                self.stop.wait(0.01)
        finally:
            if conn is not None:
                conn.close()


def table(url: URL, query: str) -> dict[int, str]:
    return {int(str(r[0])): str(r[1]) for r in sql(url, query)}
