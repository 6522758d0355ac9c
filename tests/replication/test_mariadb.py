"""MariaDB replication for the online upgrade, between two private servers, with a writer running."""

from __future__ import annotations

import json
import logging
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from changeover.core.errors import Cancelled, ChangeoverError
from changeover.core.replication import Lag, strategy_for
from changeover.core.replication import mariadb as m
from changeover.core.transfer.verify import checksum_database
from tests.conftest import MYSQL_URL, unique_name
from tests.upgrade.conftest import processes_with
from tests.waiting import became, wait_for

from .conftest import Databases, PrivateMariaDB, replica_connections, replication_users

STRATEGY = m.STRATEGY
SEED_ROWS = 20_000


def seed(db: Databases, rows: int = SEED_ROWS) -> None:
    """Two tables with keys (one with a foreign key), a trigger and an event, ``rows`` items."""
    db.source_server.execute(
        "CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, value VARCHAR(100) NOT NULL, "
        "price DECIMAL(10,2), changed INT NOT NULL DEFAULT 0) ENGINE=InnoDB",
        "CREATE TABLE notes (id BIGINT AUTO_INCREMENT PRIMARY KEY, item_id INT NOT NULL, body TEXT, "
        "FOREIGN KEY (item_id) REFERENCES items(id)) ENGINE=InnoDB",
        "CREATE TABLE tally (name VARCHAR(20) PRIMARY KEY, n INT NOT NULL)",
        "INSERT INTO tally VALUES ('items', 0)",
        "CREATE TRIGGER count_items AFTER INSERT ON items FOR EACH ROW UPDATE tally SET n = n + 1 WHERE name = 'items'",
        "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM notes WHERE body IS NULL",
        "CREATE EVENT retired ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM notes",
        "INSERT INTO items (value, price) SELECT CONCAT('seed ', seq, ' ✓'), seq / 4 FROM seq_1_to_" + str(rows),
        "INSERT INTO notes (item_id, body) SELECT seq, REPEAT('n', MOD(seq, 50)) FROM seq_1_to_" + str(rows // 10),
        database=db.source.database,
    )


class Writer(threading.Thread):
    """Inserts and updates items on the source until stopped; remembers every acknowledged write."""

    def __init__(self, db: Databases) -> None:
        super().__init__(name="writer", daemon=True)
        self.db = db
        self.stop_event = threading.Event()
        self.acknowledged: dict[int, tuple[str, int]] = {}  # id -> (value, changed) the source committed
        self.inserts = self.updates = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        engine = self.db.source_server.engine(self.db.source.database)
        rng = random.Random(7)
        try:
            with engine.connect() as conn:
                while not self.stop_event.is_set():
                    value = f"live {self.inserts} ✓"
                    new_id = int(conn.exec_driver_sql("INSERT INTO items (value) VALUES (%s)", (value,)).lastrowid or 0)
                    self.acknowledged[new_id] = (value, 0)
                    self.inserts += 1
                    if self.inserts % 3 == 0:
                        target = rng.randint(1, SEED_ROWS) if rng.random() < 0.5 else new_id
                        conn.exec_driver_sql("UPDATE items SET changed = changed + 1 WHERE id = %s", (target,))
                        before = self.acknowledged.get(target)
                        if before is not None:
                            self.acknowledged[target] = (before[0], before[1] + 1)
                        self.updates += 1
                    self.stop_event.wait(0.002)  # the writer's pace: a write every 2 ms, until told to stop
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            engine.dispose()

    def finish(self) -> None:
        self.stop_event.set()
        self.join(timeout=30)
        assert self.error is None, self.error


class Recorder:
    def __init__(self, cancel_after: int | None = None, cancel: threading.Event | None = None) -> None:
        self.reports: list[tuple[int, int | None, str, str]] = []
        self.cancel_after, self.cancel = cancel_after, cancel

    def __call__(self, done: int, total: int | None, unit: str, message: str) -> None:
        self.reports.append((done, total, unit, message))
        if self.cancel is not None and self.cancel_after is not None and len(self.reports) > self.cancel_after:
            self.cancel.set()


def stored_password(server: PrivateMariaDB, connection: str) -> str:
    """The password the target keeps for its replica connection (line 6 of its master info file)."""
    info = Path(server.base) / "data" / f"master-{connection}.info"
    return info.read_text().splitlines()[5]


def items(server: PrivateMariaDB, database: str | None) -> dict[int, tuple[str, int]]:
    return {int(i): (str(v), int(c)) for i, v, c in server.rows("SELECT id, value, changed FROM items", database)}


def assert_nothing_left(db: Databases, name: str) -> None:
    assert m.user_name(name) not in replication_users(db.source_server)
    assert replication_users(db.source_server) == []
    assert replication_users(db.target_server) == []  # never replicated into the target either
    assert m.connection_name(name) not in [c.lower() for c in replica_connections(db.target_server)]
    assert replica_connections(db.target_server) == []
    # the connection's filters are gone with it
    assert db.target_server.scalar("SELECT @@GLOBAL.replicate_rewrite_db") == ""


def wait_caught_up(db: Databases, state: dict[str, object], timeout: float = 60) -> Lag:
    seen: list[Lag] = []

    def caught_up() -> bool:
        seen.append(STRATEGY.lag(db.source, db.target, state))
        return seen[-1].caught_up

    became(caught_up, timeout)  # the caller asserts on the lag it returns, caught up or not
    return seen[-1]


# ------------------------------------------------------------------------------------------------ no server


def test_the_route_finds_this_strategy_for_mysql() -> None:
    assert strategy_for("mysql") is STRATEGY


def test_gtid_positions_parse_merge_and_format() -> None:
    assert m.parse_gtids("0-1-5, 11-101-7") == {0: (1, 5), 11: (101, 7)}
    assert m.merge_gtids("0-1-5,11-101-2", "11-101-9,12-3-1") == "0-1-5,11-101-9,12-3-1"
    assert m.format_gtids({}) == ""
    assert m.parse_gtids("") == {}


def test_names_are_plain_short_and_distinct() -> None:
    long_a, long_b = "run-" + "x" * 80 + "a", "run-" + "x" * 80 + "b"
    for name in ("run_1", "Run 1; DROP", long_a):
        assert len(m.user_name(name)) <= 32 and m.user_name(name).isidentifier()
        assert len(m.connection_name(name)) <= 40 and m.connection_name(name).isidentifier()
    assert m.user_name(long_a) != m.user_name(long_b)
    assert m.connection_name(long_a) != m.connection_name(long_b)


# ------------------------------------------------------------------------------------------------ requirements


def test_requirements_on_the_shared_server_name_the_fixes(make_mysql_db) -> None:  # type: ignore[no-untyped-def]
    source = make_mysql_db("co_repl_req")
    engine = sa.create_engine(source, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE keyed (id INT PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE loose_rows (a INT, b TEXT)")
    engine.dispose()
    found = {r.name: r for r in STRATEGY.requirements(source, None)}
    log_bin = found["binary logging on the source"]
    if make_url(MYSQL_URL).port in (None, 3306):  # the machine's shared server runs without a binary log
        assert not log_bin.ok
        assert "log_bin = " in log_bin.detail and "my.cnf" in log_bin.detail
    keys = found["every table has a primary key"]
    assert not keys.ok
    assert "loose_rows" in keys.detail and "keyed" not in keys.detail and "ADD PRIMARY KEY" in keys.detail
    # a target on the same server is refused
    other = make_mysql_db("co_repl_req")
    same = {r.name: r for r in STRATEGY.requirements(source, other)}["target on another server"]
    assert not same.ok and "same server" in same.detail


def test_requirements_between_the_private_servers_hold(databases: Databases) -> None:
    seed(databases, 100)
    found = STRATEGY.requirements(databases.source, databases.target)
    assert [r for r in found if not r.ok] == []
    names = {r.name for r in found}
    assert {"binlog_format=ROW", "distinct server_id", "target database empty", "target on another server"} <= names


def test_requirements_name_a_keyless_table_and_a_full_target(databases: Databases) -> None:
    seed(databases, 10)
    databases.source_server.execute(
        "CREATE TABLE audit_log (at DATETIME, what TEXT)", database=databases.source.database
    )
    databases.target_server.execute("CREATE TABLE leftover (id INT PRIMARY KEY)", database=databases.target.database)
    failing = {r.name: r.detail for r in STRATEGY.requirements(databases.source, databases.target) if not r.ok}
    assert set(failing) == {"every table has a primary key", "target database empty"}
    assert (
        "audit_log" in failing["every table has a primary key"]
        and "items" not in failing["every table has a primary key"]
    )
    assert "leftover" in failing["target database empty"]


def test_requirements_name_missing_privileges(databases: Databases) -> None:
    user, password = unique_name("co_weak"), "weak-pw-" + unique_name("x")
    for server in (databases.source_server, databases.target_server):
        server.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'", f"GRANT ALL ON *.* TO '{user}'@'%'")
        server.execute(f"REVOKE SUPER, CREATE USER, BINLOG MONITOR, REPLICATION SLAVE ADMIN ON *.* FROM '{user}'@'%'")
    try:
        weak_source = databases.source.set(username=user, password=password)
        weak_target = databases.target.set(username=user, password=password)
        failing = {r.name: r.detail for r in STRATEGY.requirements(weak_source, weak_target) if not r.ok}
        assert "GRANT CREATE USER, REPLICATION SLAVE ON *.*" in failing["may create a replication user on the source"]
        assert "GRANT BINLOG MONITOR" in failing["may read the source's binary log position"]
        assert "REPLICATION SLAVE ADMIN" in failing["may set up a replica connection on the target"]
        assert password not in json.dumps(failing)
    finally:
        for server in (databases.source_server, databases.target_server):
            server.execute(f"DROP USER IF EXISTS '{user}'@'%'")


# ------------------------------------------------------------------------------------------------ the whole path


def test_replicates_while_a_writer_runs_then_drains_carries_and_stops(
    databases: Databases, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db = databases
    seed(db)
    writer = Writer(db)
    writer.start()
    progress = Recorder()
    state: dict[str, object] = {}
    try:
        wait_for("the writer's first 20 inserts", lambda: writer.inserts >= 20)
        before_start = writer.inserts
        returned = STRATEGY.start(db.source, db.target, db.name, state, progress, None)
        assert returned is state
        assert writer.inserts > before_start  # the app kept writing while the base was copied
        assert state["phase"] == "replicating" and state["user"] == m.user_name(db.name)
        bytes_reports = [r for r in progress.reports if r[2] == "bytes"]
        assert bytes_reports and all(done <= (total or -1) for done, total, _, _ in bytes_reports)
        assert bytes_reports[-1][0] == bytes_reports[-1][1] > 0
        # the copied events wait while the target replicates (the source runs its own)
        assert db.target_server.rows(
            f"SELECT STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{db.target.database}'"
        ) == [("DISABLED",), ("DISABLED",)]
        # the writer keeps going while the target catches up
        inserted_at_start = writer.inserts
        wait_for("the writer's writes while the target replicates", lambda: writer.inserts >= inserted_at_start + 50)
        lag = STRATEGY.lag(db.source, db.target, state)
        assert lag.source and lag.seconds_behind is not None
        assert lag.bytes_behind is not None  # root holds BINLOG MONITOR: the byte lag is known
    finally:
        writer.finish()  # maintenance on: the source is quiet now
    assert writer.inserts > inserted_at_start and writer.updates > 0
    # a rolled-back insert moves the source's counter and replicates nothing: drain must carry it
    source_engine = db.source_server.engine(db.source.database)
    with source_engine.connect() as conn:
        for _ in range(5):
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql("INSERT INTO items (value) VALUES ('never')")
            conn.exec_driver_sql("ROLLBACK")
    source_engine.dispose()
    source_next = int(
        db.source_server.scalar(
            f"SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db.source.database}' "
            "AND TABLE_NAME = 'items'"
        )
    )
    drained = STRATEGY.drain(db.source, db.target, state, 60, Recorder(), None)
    assert drained.caught_up and drained.applied == drained.source
    assert drained.source == m.format_gtids(
        m.parse_gtids(str(db.source_server.scalar("SELECT @@GLOBAL.gtid_binlog_pos")))
    )
    assert state["auto_increment_carried"] == {"items": source_next}

    # every write the writer had acknowledged is in the target, under the target's own database name
    target_items = items(db.target_server, db.target.database)
    missing = {i: v for i, v in writer.acknowledged.items() if target_items.get(i) != v}
    assert missing == {}
    assert target_items == items(db.source_server, db.source.database)
    source_sums, target_sums = checksum_database(db.source), checksum_database(db.target)
    assert source_sums == target_sums and source_sums["items"].rows == SEED_ROWS + writer.inserts
    assert db.target_server.scalar("SELECT n FROM tally", db.target.database) == SEED_ROWS + writer.inserts
    # the copied event waited while replicating and is enabled again; the trigger came along
    assert db.target_server.rows(
        f"SELECT EVENT_NAME, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{db.target.database}' "
        "ORDER BY EVENT_NAME"
    ) == [("nightly", "ENABLED"), ("retired", "DISABLED")]
    assert (
        db.target_server.scalar(
            f"SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db.target.database}'"
        )
        == 1
    )

    # the replication password lives only in the target's own connection: not in the state or a log
    password = stored_password(db.target_server, str(state["connection"]))
    assert len(password) == 40
    assert password not in json.dumps(state) and password not in caplog.text

    STRATEGY.stop(db.source, db.target, state)
    assert_nothing_left(db, db.name)
    STRATEGY.stop(db.source, db.target, state)  # idempotent
    # the replication user never reached the source's binary log (so none of the source's own replicas)
    logged = [
        str(event[-1])
        for (log, *_rest) in db.source_server.rows("SHOW BINARY LOGS")
        for event in db.source_server.rows(f"SHOW BINLOG EVENTS IN '{log}'")
    ]
    assert logged and not [e for e in logged if str(state["user"]) in e]

    # the new database hands out ids after every id the source gave away (rolled back ones included)
    engine = db.target_server.engine(db.target.database)
    with engine.connect() as conn:
        new_id = int(conn.exec_driver_sql("INSERT INTO items (value) VALUES ('after the switch')").lastrowid)
    engine.dispose()
    assert new_id >= source_next > max(writer.acknowledged)


def test_drain_that_times_out_raises_a_clear_error(databases: Databases) -> None:
    db = databases
    seed(db, 500)
    state: dict[str, object] = {}
    STRATEGY.start(db.source, db.target, db.name, state, Recorder(), None)
    try:
        db.target_server.execute(f"STOP SLAVE '{state['connection']}' SQL_THREAD")
        db.source_server.execute("INSERT INTO items (value) VALUES ('late')", database=db.source.database)
        with pytest.raises(ChangeoverError, match=r"did not apply every change within 1\.5 s") as raised:
            STRATEGY.drain(db.source, db.target, state, 1.5, Recorder(), None)
        assert "rolls back" in raised.value.message
    finally:
        STRATEGY.stop(db.source, db.target, state)
    assert_nothing_left(db, db.name)


# ------------------------------------------------------------------------------------------------ cut half-way


def test_a_start_cut_during_the_copy_then_stop_leaves_nothing(databases: Databases) -> None:
    db = databases
    seed(db)
    cancel = threading.Event()
    state: dict[str, object] = {}
    with pytest.raises(Cancelled):
        STRATEGY.start(db.source, db.target, db.name, state, Recorder(cancel_after=0, cancel=cancel), cancel)
    # the journal names what was made before the cut
    assert state["user"] == m.user_name(db.name) and state["copy_began"] is True
    assert replication_users(db.source_server) == [m.user_name(db.name)]
    STRATEGY.stop(db.source, db.target, state)
    assert_nothing_left(db, db.name)


def test_a_repeated_start_after_a_cut_cleans_and_redoes(databases: Databases) -> None:
    db = databases
    seed(db)
    cancel = threading.Event()
    state: dict[str, object] = {}
    with pytest.raises(Cancelled):
        STRATEGY.start(db.source, db.target, db.name, state, Recorder(cancel_after=0, cancel=cancel), cancel)
    db.target_server.execute("CREATE TABLE IF NOT EXISTS items (id INT PRIMARY KEY)", database=db.target.database)
    STRATEGY.start(db.source, db.target, db.name, state, Recorder(), None)
    try:
        db.source_server.execute("UPDATE items SET changed = 5 WHERE id = 3", database=db.source.database)
        assert wait_caught_up(db, state).caught_up
        assert checksum_database(db.source) == checksum_database(db.target)
        # start() again on a replicating connection continues it: same position, nothing redone
        again = dict(state)
        STRATEGY.start(db.source, db.target, db.name, again, Recorder(), None)
        assert again == state
    finally:
        STRATEGY.stop(db.source, db.target, state)
    assert_nothing_left(db, db.name)


def test_stop_after_a_cut_before_the_replica_connection_started(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cut after CHANGE MASTER but before the connection ran: stop() removes connection, filters, user."""
    db = databases
    seed(db, 100)

    def cut(*args: object) -> None:
        raise Cancelled("cut by the test")

    monkeypatch.setattr(m.MariaDBReplication, "_wait_connected", cut)
    state: dict[str, object] = {}
    with pytest.raises(Cancelled):
        STRATEGY.start(db.source, db.target, db.name, state, Recorder(), None)
    assert state["phase"] == "connection"
    assert [c.lower() for c in replica_connections(db.target_server)] == [state["connection"]]
    STRATEGY.stop(db.source, db.target, state)
    assert_nothing_left(db, db.name)
    STRATEGY.stop(db.source, None, {})  # an empty journal: nothing to do


CHILD = """
import sys
from sqlalchemy.engine import URL, make_url
from changeover.core.replication.mariadb import STRATEGY

def report(done, total, unit, message):
    print(unit, done, total, flush=True)

STRATEGY.start(make_url(sys.argv[1]), make_url(sys.argv[2]), sys.argv[3], {}, report, None)
print("started", flush=True)
"""


def test_a_start_killed_during_the_copy_is_cleaned_and_redone_by_the_next_start(databases: Databases) -> None:
    """kill -9 mid-copy, before any journal was written: the next start() finds the run's own names."""
    db = databases
    seed(db, 2000)
    db.source_server.execute(
        "CREATE TABLE ballast (id INT PRIMARY KEY, body VARCHAR(200)) "
        "SELECT seq AS id, REPEAT(MD5(seq), 5) AS body FROM seq_1_to_250000",
        database=db.source.database,
    )
    argv = [sys.executable, "-c", CHILD, render(db.source), render(db.target), db.name]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        try:
            for line in child.stdout:
                unit, done, total = (line.split() + ["", "", ""])[:3]
                if unit == "bytes" and 0 < int(done) < int(total):
                    break
                assert line.strip() != "started", "the copy finished before the test could cut it"
        finally:
            child.send_signal(signal.SIGKILL)
    children = (str(db.source.database).encode(), f"--database={db.target.database}".encode())
    wait_for("the dump and load to die with their parent", lambda: not any(processes_with(c) for c in children), 20)
    assert replication_users(db.source_server) == [m.user_name(db.name)]  # made, journal lost

    state: dict[str, object] = {}
    STRATEGY.start(db.source, db.target, db.name, state, Recorder(), None)
    try:
        db.source_server.execute("DELETE FROM ballast WHERE id <= 10", database=db.source.database)
        assert wait_caught_up(db, state).caught_up
        assert checksum_database(db.source) == checksum_database(db.target)
    finally:
        STRATEGY.stop(db.source, db.target, state)
    assert_nothing_left(db, db.name)


def render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def test_servers_in_the_same_gtid_domain_and_a_database_of_the_same_name(
    default_domain_pair: tuple[PrivateMariaDB, PrivateMariaDB],
) -> None:
    """Default GTID domains (0 on both), the target binlogging replicated changes, no rename to rewrite."""
    source_server, target_server = default_domain_pair
    name = unique_name("co_same")
    for server in default_domain_pair:
        server.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    db = Databases(
        source_server, target_server, source_server.url.set(database=name), target_server.url.set(database=name), name
    )
    state: dict[str, object] = {}
    try:
        seed(db, 3000)
        assert [r for r in STRATEGY.requirements(db.source, db.target) if not r.ok] == []
        writer = Writer(db)
        writer.start()
        try:
            STRATEGY.start(db.source, db.target, db.name, state, Recorder(), None)
            assert target_server.scalar(f"SELECT @@GLOBAL.{state['connection']}.replicate_rewrite_db") == ""
            wait_for("some writes after the start", lambda: writer.inserts > 50)
        finally:
            writer.finish()
        drained = STRATEGY.drain(db.source, db.target, state, 60, Recorder(), None)
        assert drained.caught_up and drained.source.startswith("0-21-")
        assert items(target_server, name) == items(source_server, name)
        assert checksum_database(db.source) == checksum_database(db.target)
    finally:
        STRATEGY.stop(db.source, db.target, state)
        for server in default_domain_pair:
            server.execute(f"DROP DATABASE IF EXISTS `{name}`")
    assert_nothing_left(db, db.name)
