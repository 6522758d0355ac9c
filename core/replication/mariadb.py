"""MariaDB replication for the online upgrade: a GTID replica connection of the target server to the source.

The source database lives on one MariaDB server and the target database, empty, on another one (a server
cannot replicate from itself). :meth:`MariaDBReplication.start`:

1. makes a replication user for the run on the source (``REPLICATION SLAVE``, a random password that lives
   only in memory and in the target server's own replica connection);
2. copies the base with ``mariadb-dump --single-transaction --gtid --master-data=2``, streamed into the
   ``mariadb`` client on the target database: one consistent snapshot, and the GTID position it was taken
   at (MariaDB reads the binary log position inside the same snapshot, without a global read lock);
3. sets the target's ``gtid_slave_pos`` for the source's GTID domains to that position, creates a named
   replica connection (``CHANGE MASTER 'name' TO ... MASTER_USE_GTID = slave_pos``) with that connection's
   own filters (``replicate_rewrite_db = source->target``, ``replicate_do_db = target``), and starts it.

Every name is journaled in the state *before* it is made (the state dict passed in is updated in place as
well as returned), so :meth:`~MariaDBReplication.stop` can remove what an interrupted start made. A repeated
start continues a connection that is replicating, and otherwise cleans everything up and starts again.

MySQL (Oracle) servers replicate with other statements and GTIDs: :meth:`~MariaDBReplication.requirements`
says so, and the copy route stays theirs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..engines import MYSQL, driver_message, url_secrets
from ..errors import Cancelled, ChangeoverError
from ..hooks import redact
from ..jobs import Progress, check_cancel
from ..transfer import tools
from ..transfer.formats.mariadb_tsv import dump_rewriter
from . import Lag, Requirement, State

logger = logging.getLogger(__name__)

#: seconds start() waits for the target's replica connection to reach the source
CONNECT_TIMEOUT = 30.0
#: the host part of the replication user: the source cannot know the address the target server comes from
USER_HOST = "%"
#: the marker mariadb-dump --gtid --master-data=2 writes near the end of the dump
_GTID_LINE = re.compile(rb"^-- SET GLOBAL gtid_slave_pos='([0-9,\- ]*)';", re.MULTILINE)
_GTID = re.compile(r"^(\d+)-(\d+)-(\d+)$")
#: driver error numbers that mean "nothing of that name": stop() treats them as done
_NO_CONNECTION = 1617  # ER_MASTER_INFO ("There is no master connection")


class ReplicationError(ChangeoverError):
    """Replication could not be set up, broke, or did not catch up in time."""

    title = "Replication failed"


# ------------------------------------------------------------------------------------------------ GTIDs


def parse_gtids(text: str) -> dict[int, tuple[int, int]]:
    """A GTID position (``domain-server-seq,...``) as ``{domain: (server, seq)}``."""
    found: dict[int, tuple[int, int]] = {}
    for part in (p.strip() for p in (text or "").split(",")):
        match = _GTID.match(part)
        if match:
            domain, server, seq = (int(g) for g in match.groups())
            found[domain] = (server, seq)
    return found


def format_gtids(position: dict[int, tuple[int, int]]) -> str:
    return ",".join(f"{d}-{s}-{n}" for d, (s, n) in sorted(position.items()))


def merge_gtids(current: str, new: str) -> str:
    """``current`` with every domain of ``new`` replaced by ``new``'s entry (other domains kept)."""
    merged = parse_gtids(current)
    merged.update(parse_gtids(new))
    return format_gtids(merged)


# ------------------------------------------------------------------------------------------------ names


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "run"


def connection_name(name: str) -> str:
    """The replica connection's name on the target for run ``name`` (at most 40 plain characters)."""
    slug = _slug(name)
    if len(slug) > 28:
        slug = slug[:19] + "_" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"changeover_{slug}"


def user_name(name: str) -> str:
    """The replication user's name on the source for run ``name`` (at most 32 characters, like MySQL's)."""
    slug = _slug(name)
    if len(slug) > 24:
        slug = slug[:15] + "_" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"co_repl_{slug}"


def _literal(text: str) -> str:
    """A MariaDB string literal (names only: never a secret, which goes as a bound parameter)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _ident(text: str) -> str:
    return "`" + text.replace("`", "``") + "`"


# ------------------------------------------------------------------------------------------------ servers


def _server_url(url: URL) -> URL:
    """``url`` without its database: admin statements run with no default database, so none of them is
    written to the binary log under the replicated database's name."""
    return MYSQL.url(url)._replace(database=None)  # URL.set() takes None for "unchanged"


@contextlib.contextmanager
def _connect(url: URL, doing: str, *, database: bool = False) -> Iterator[sa.Connection]:
    with MYSQL.connect(MYSQL.url(url) if database else _server_url(url), doing, autocommit=True) as conn:
        yield conn


def _run(conn: sa.Connection, sql: str) -> sa.CursorResult[Any]:
    """A statement without parameters (PyMySQL formats every statement: a ``%`` in a name must be doubled)."""
    return conn.exec_driver_sql(sql.replace("%", "%%"))


def _unlogged(conn: sa.Connection) -> None:
    """Keep this session's statements (the replication user's) out of the source's binary log where the
    user may (BINLOG ADMIN): the source's own replicas then never see the user. Without it, CREATE USER is
    logged with the password's hash, never the password, and the DROP USER follows it."""
    with contextlib.suppress(sa.exc.DBAPIError):
        _run(conn, "SET SESSION sql_log_bin = 0")


def _values(conn: sa.Connection, sql: str) -> dict[str, Any]:
    row = conn.exec_driver_sql(sql).mappings().first()
    return dict(row) if row is not None else {}


def _slave_status(conn: sa.Connection, connection: str) -> dict[str, Any] | None:
    """``SHOW SLAVE 'connection' STATUS`` as a dict, or None when there is no such connection."""
    try:
        row = _run(conn, f"SHOW SLAVE {_literal(connection)} STATUS").mappings().first()
    except sa.exc.DBAPIError as exc:
        if _errno(exc) == _NO_CONNECTION:
            return None
        raise
    return dict(row) if row is not None else None


def _errno(exc: sa.exc.DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return int(args[0]) if args and isinstance(args[0], int) else None


def _privileges(conn: sa.Connection) -> dict[str, bool]:
    """The current user's global privileges: name -> grantable (roles are not followed)."""
    rows = conn.exec_driver_sql(
        "SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = "
        "CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')"
    ).all()
    return {str(p): str(g) == "YES" for p, g in rows}


def _current_user(conn: sa.Connection) -> str:
    user, _, host = str(conn.exec_driver_sql("SELECT CURRENT_USER()").scalar_one()).rpartition("@")
    return f"{_literal(user)}@{_literal(host)}"


def _keyless_tables(conn: sa.Connection, database: str) -> list[str]:
    rows = conn.execute(
        sa.text(
            "SELECT t.TABLE_NAME FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = :d "
            "AND t.TABLE_TYPE = 'BASE TABLE' AND NOT EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c "
            "WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME "
            "AND c.CONSTRAINT_TYPE = 'PRIMARY KEY') ORDER BY t.TABLE_NAME"
        ),
        {"d": database},
    ).scalars()
    return [str(r) for r in rows]


def _master_host(url: URL) -> str:
    host = url.host or ""
    return "127.0.0.1" if host == "localhost" else host


@dataclass(frozen=True)
class _Server:
    """What requirements() reads of one server."""

    version: str
    mariadb: bool
    values: dict[str, Any]
    privileges: dict[str, bool]
    user: str

    @property
    def split_super(self) -> bool:
        """MariaDB 10.5 split SUPER into BINLOG MONITOR, REPLICATION SLAVE ADMIN, SLAVE MONITOR..."""
        numbers = re.match(r"(\d+)\.(\d+)", self.version)
        return numbers is None or (int(numbers.group(1)), int(numbers.group(2))) >= (10, 5)


def _read_server(conn: sa.Connection) -> _Server:
    values = _values(
        conn,
        "SELECT VERSION() AS version, @@log_bin AS log_bin, @@binlog_format AS binlog_format, "
        "@@server_id AS server_id, @@hostname AS hostname, @@port AS port, @@datadir AS datadir",
    )
    version = str(values["version"])
    mariadb = "mariadb" in version.lower()
    if mariadb:
        values.update(
            _values(
                conn,
                "SELECT @@gtid_domain_id AS gtid_domain_id, @@gtid_strict_mode AS gtid_strict_mode, "
                "@@log_slave_updates AS log_slave_updates, @@slave_run_triggers_for_rbr AS rbr_triggers, "
                "@@gtid_binlog_pos AS gtid_binlog_pos",
            )
        )
    return _Server(version, mariadb, values, _privileges(conn), _current_user(conn))


def _has(server: _Server, *names: str) -> bool:
    return any(n in server.privileges for n in names)


def _grantable(server: _Server, name: str) -> bool:
    return server.privileges.get(name, False)


# ------------------------------------------------------------------------------------------------ the strategy


class MariaDBReplication:
    """The :class:`~changeover.core.replication.Replication` strategy of MariaDB (engine ``mysql``)."""

    # -------------------------------------------------------------------------------- requirements

    def requirements(self, source: URL, target: URL | None) -> list[Requirement]:
        found: list[Requirement] = []
        try:
            with _connect(source, "read the source server's settings") as conn:
                src = _read_server(conn)
                keyless = _keyless_tables(conn, source.database or "")
        except ChangeoverError as exc:
            return [Requirement("source reachable", False, exc.message)]
        found.extend(self._source_requirements(source, src, keyless))
        if target is None:
            return found
        try:
            with _connect(target, "read the target server's settings") as conn:
                dst = _read_server(conn)
                running = [
                    str(row["Connection_name"])
                    for row in conn.exec_driver_sql("SHOW ALL SLAVES STATUS").mappings()
                    if "Yes" in (row["Slave_IO_Running"], row["Slave_SQL_Running"])
                ]
                exists = conn.execute(
                    sa.text("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :d"),
                    {"d": target.database or ""},
                ).scalar_one()
        except ChangeoverError as exc:
            found.append(Requirement("target reachable", False, exc.message))
            return found
        found.extend(self._target_requirements(source, target, src, dst, running, bool(exists)))
        return found

    def _source_requirements(self, source: URL, src: _Server, keyless: list[str]) -> list[Requirement]:
        found = [Requirement("source reachable", True, f"{src.version} at {source.host}:{source.port or 3306}")]
        if not src.mariadb:
            found.append(
                Requirement(
                    "MariaDB source",
                    False,
                    f"the source runs {src.version}: Changeover replicates MariaDB servers only (MySQL's own GTIDs "
                    "and CHANGE REPLICATION SOURCE are not supported yet); use the copy route",
                )
            )
            return found
        v = src.values
        found.append(
            Requirement(
                "binary logging on the source",
                bool(int(v["log_bin"] or 0)),
                "log_bin is ON"
                if int(v["log_bin"] or 0)
                else "log_bin is OFF: add `log_bin = mariadb-bin` and `binlog_format = ROW` under [mysqld] in the "
                "source server's my.cnf, then restart it",
            )
        )
        row = str(v["binlog_format"]).upper() == "ROW"
        found.append(
            Requirement(
                "binlog_format=ROW",
                row,
                "binlog_format is ROW"
                if row
                else f"binlog_format is {v['binlog_format']}: set `binlog_format = ROW` under [mysqld] in the source's "
                "my.cnf (or SET GLOBAL binlog_format = 'ROW' and reconnect the app) so every change is sent as rows",
            )
        )
        ok_host = bool(source.host) and not source.query.get("unix_socket")
        found.append(
            Requirement(
                "source reachable over TCP",
                ok_host,
                f"the target server will connect to {_master_host(source)}:{source.port or 3306}"
                if ok_host
                else "the source URL names no TCP host: give its host and port, as the target server will reach it",
            )
        )
        user_ok = _has(src, "CREATE USER") and _grantable(src, "REPLICATION SLAVE")
        found.append(
            Requirement(
                "may create a replication user on the source",
                user_ok,
                "CREATE USER and REPLICATION SLAVE WITH GRANT OPTION"
                if user_ok
                else f"{src.user} needs CREATE USER and a grantable REPLICATION SLAVE: "
                f"GRANT CREATE USER, REPLICATION SLAVE ON *.* TO {src.user} WITH GRANT OPTION",
            )
        )
        monitor = _has(src, "BINLOG MONITOR") or (not src.split_super and _has(src, "SUPER", "REPLICATION CLIENT"))
        found.append(
            Requirement(
                "may read the source's binary log position",
                monitor,
                "BINLOG MONITOR"
                if monitor
                else f"{src.user} needs BINLOG MONITOR (to measure the lag in bytes): "
                f"GRANT BINLOG MONITOR ON *.* TO {src.user}",
            )
        )
        db = source.database or ""
        odd = "," in db or "->" in db
        if odd:
            found.append(
                Requirement(
                    "replicable database name",
                    False,
                    f"the database name '{db}' holds ',' or '->', which MariaDB's replication filters cannot name: "
                    "use the copy route",
                )
            )
        found.append(
            Requirement(
                "every table has a primary key",
                not keyless,
                "every table has a primary key"
                if not keyless
                else f"no primary key on {', '.join(keyless)}: ROW replication of a keyless table scans it for every "
                "changed row, and a duplicated row cannot be told apart; add one (ALTER TABLE t ADD PRIMARY KEY (...), "
                "or ADD COLUMN id BIGINT AUTO_INCREMENT PRIMARY KEY) or use the copy route",
            )
        )
        tool_ok = tools.mysql_tools() is not None
        found.append(
            Requirement(
                "mariadb-dump and mariadb client",
                tool_ok,
                "found"
                if tool_ok
                else "the base copy needs mariadb-dump and the mariadb client: install the MariaDB client tools "
                "(Debian: mariadb-client)",
            )
        )
        return found

    def _target_requirements(
        self, source: URL, target: URL, src: _Server, dst: _Server, running: list[str], exists: bool
    ) -> list[Requirement]:
        found = [Requirement("target reachable", True, f"{dst.version} at {target.host}:{target.port or 3306}")]
        if not dst.mariadb:
            found.append(Requirement("MariaDB target", False, f"the target runs {dst.version}: MariaDB only"))
            return found
        s, d = src.values, dst.values
        same = (s["hostname"], s["port"], s["datadir"]) == (d["hostname"], d["port"], d["datadir"])
        found.append(
            Requirement(
                "target on another server",
                not same,
                "the target is another server"
                if not same
                else f"the source and target databases are on the same server ({s['hostname']}:{s['port']}): "
                "a server cannot replicate from itself; put the new database on another server, or use the copy route",
            )
        )
        if same:
            return found
        ids_ok = int(s["server_id"]) != int(d["server_id"])
        found.append(
            Requirement(
                "distinct server_id",
                ids_ok,
                f"source server_id {s['server_id']}, target {d['server_id']}"
                if ids_ok
                else f"both servers have server_id {s['server_id']}: set `server_id = "
                f"{int(s['server_id']) + 1}` (any number no other server uses) under [mysqld] in the target's my.cnf, "
                "then restart it",
            )
        )
        clash = (
            int(s["gtid_domain_id"]) == int(d["gtid_domain_id"])
            and int(d["gtid_strict_mode"] or 0) == 1
            and int(d["log_slave_updates"] or 0) == 1
        )
        found.append(
            Requirement(
                "GTID domains",
                not clash,
                f"source gtid_domain_id {s['gtid_domain_id']}, target {d['gtid_domain_id']}"
                if not clash
                else f"both servers write GTID domain {s['gtid_domain_id']} and the target has gtid_strict_mode and "
                f"log_slave_updates on, so replicated and local transactions would collide: set `gtid_domain_id = "
                f"{int(s['gtid_domain_id']) + 1}` under [mysqld] in the target's my.cnf (or turn gtid_strict_mode off)",
            )
        )
        admin = _has(dst, "REPLICATION SLAVE ADMIN") or (not dst.split_super and _has(dst, "SUPER"))
        monitor = _has(dst, "SLAVE MONITOR") or (not dst.split_super and _has(dst, "SUPER", "REPLICATION CLIENT"))
        found.append(
            Requirement(
                "may set up a replica connection on the target",
                admin and monitor,
                "REPLICATION SLAVE ADMIN and SLAVE MONITOR"
                if admin and monitor
                else f"{dst.user} needs REPLICATION SLAVE ADMIN and SLAVE MONITOR on the target (SUPER before MariaDB "
                f"10.5): GRANT REPLICATION SLAVE ADMIN, SLAVE MONITOR ON *.* TO {dst.user}",
            )
        )
        found.append(
            Requirement(
                "no other replica connection running on the target",
                not running,
                "none running"
                if not running
                else f"the target server replicates already ({', '.join(repr(r) for r in running)}): setting its "
                "gtid_slave_pos needs every replica connection stopped; use a target server of its own",
            )
        )
        rbr = str(d.get("rbr_triggers", "NO")).upper() == "NO"
        found.append(
            Requirement(
                "replicated rows do not fire the target's triggers",
                rbr,
                "slave_run_triggers_for_rbr is NO"
                if rbr
                else "the target has slave_run_triggers_for_rbr on, so a trigger's changes would be applied twice: "
                "SET GLOBAL slave_run_triggers_for_rbr = NO on the target (and in its my.cnf)",
            )
        )
        if not exists:
            found.append(
                Requirement(
                    "target database empty",
                    False,
                    f"the target server has no database '{target.database}': create it (CREATE DATABASE "
                    f"{_ident(target.database or '')} CHARACTER SET utf8mb4)",
                )
            )
        else:
            held = MYSQL.contents(MYSQL.url(target))
            found.append(
                Requirement(
                    "target database empty",
                    not held,
                    "empty"
                    if not held
                    else f"the target database '{target.database}' holds {', '.join(held[:5])}: load into a new, "
                    "empty database",
                )
            )
        return found

    # -------------------------------------------------------------------------------- start

    def start(
        self, source: URL, target: URL, name: str, state: State, progress: Progress, cancel: threading.Event | None
    ) -> State:
        """Copy the base and begin replicating. ``state`` is updated in place at each step (and returned)."""
        if state.get("phase") == "replicating" and self._still_replicating(target, state):
            logger.info("replica connection %s is replicating: start() continues it", state["connection"])
            return state
        if state:
            logger.info("an earlier start() of %s stopped half-way: cleaning up and starting again", name)
            self.stop(source, target, state)
            if state.get("copy_began"):
                MYSQL.empty(MYSQL.url(target))
            state.clear()
        # the run's own names, in case a start() was killed before its journal was written
        self.stop(
            source, target, {"connection": connection_name(name), "user": user_name(name), "user_host": USER_HOST}
        )
        state.update(
            {
                "engine": "mysql",
                "connection": connection_name(name),
                "user": user_name(name),
                "user_host": USER_HOST,
                "source_db": source.database,
                "target_db": target.database,
                "phase": "user",
            }
        )
        password = secrets.token_hex(20)
        hidden = (password, *url_secrets(source), *url_secrets(target))
        self._make_user(source, state, password, hidden)
        check_cancel(cancel, "Starting replication")
        state["phase"], state["copy_began"] = "copy", True
        state["start_gtid"] = self._base_copy(source, target, progress, cancel)
        self._pause_events(target, state)
        check_cancel(cancel, "Starting replication")
        state["phase"] = "connection"
        self._make_connection(source, target, state, password, hidden)
        state["phase"] = "replicating"
        return state

    def _make_user(self, source: URL, state: State, password: str, hidden: tuple[str, ...]) -> None:
        account = f"{_literal(state['user'])}@{_literal(state['user_host'])}"
        try:
            with _connect(source, "create the replication user") as conn:
                _unlogged(conn)
                _run(conn, f"DROP USER IF EXISTS {account}")
                escaped = account.replace("%", "%%")
                conn.exec_driver_sql(f"CREATE USER {escaped} IDENTIFIED BY %(pw)s", {"pw": password})
                _run(conn, f"GRANT REPLICATION SLAVE ON *.* TO {account}")
        except Exception as exc:  # a statement's text holds the password: never show it, nor chain it
            raise ReplicationError(
                f"Could not create the replication user {state['user']} on the source: {_reason(exc, hidden)}"
            ) from None
        logger.info("made replication user %s on the source", state["user"])

    def _base_copy(self, source: URL, target: URL, progress: Progress, cancel: threading.Event | None) -> str:
        """Dump the source from one consistent snapshot into the target database; the snapshot's GTID position."""
        dump, client = tools.require_mysql_tools("copy the base for online replication")
        info = MYSQL.describe(MYSQL.url(source))
        total = max(1, info.size_bytes)
        message = f"Copying the base of {source.database} into {target.database} (one consistent snapshot)"
        progress(0, total, "bytes", message)
        read, write = os.pipe()
        reader, writer = os.fdopen(read, "rb"), os.fdopen(write, "wb")
        sink = _GtidSink(writer)
        loaded: list[BaseException] = []
        hidden = (*url_secrets(source), *url_secrets(target))
        with tools.mysql_options_for(source) as src_opts, tools.mysql_options_for(target) as dst_opts:

            def load() -> None:
                try:
                    tools.run(
                        [
                            client.path,
                            f"--defaults-extra-file={dst_opts}",
                            "--default-character-set=utf8mb4",
                            "--binary-mode",
                            f"--database={target.database}",
                        ],
                        what="The base copy's load",
                        secrets=hidden,
                        cancel=cancel,
                        source=reader,
                        transform=dump_rewriter(),
                        side="target",
                    )
                except BaseException as exc:  # handed to the copying thread
                    loaded.append(exc)
                finally:
                    reader.close()

            loader = threading.Thread(target=load, name="base-copy-load", daemon=True)
            loader.start()
            try:
                tools.run(
                    [
                        dump.path,
                        f"--defaults-extra-file={src_opts}",
                        "--single-transaction",
                        "--gtid",
                        "--master-data=2",
                        "--skip-add-locks",
                        "--quick",
                        "--routines",
                        "--triggers",
                        "--events",
                        "--no-tablespaces",
                        "--hex-blob",
                        "--default-character-set=utf8mb4",
                        source.database or "",
                    ],
                    what="The base copy's dump",
                    secrets=hidden,
                    cancel=cancel,
                    sink=sink,
                    on_bytes=lambda n: progress(min(n, max(total, n)), max(total, n), "bytes", message),
                    side="source",
                )
            except BrokenPipeError:  # the load ended first: its error says why
                pass
            except BaseException:
                with contextlib.suppress(OSError):
                    writer.close()
                loader.join()
                raise
            finally:
                with contextlib.suppress(OSError):
                    writer.close()
            loader.join()
        if loaded:
            raise loaded[0]
        if sink.gtid is None:
            raise ReplicationError(
                "mariadb-dump wrote no GTID position for its snapshot: is binary logging on the source? "
                "Nothing is replicating; retry after checking the requirements."
            )
        progress(sink.written, sink.written, "bytes", f"Copied the base of {source.database} at GTID {sink.gtid}")
        return sink.gtid

    def _pause_events(self, target: URL, state: State) -> None:
        """Events copied with the base must not run on the target while it replicates: the source runs its
        own, and their changes arrive as rows. :meth:`drain` enables those paused here again."""
        with _connect(target, "pause the copied events", database=True) as conn:
            names = conn.exec_driver_sql(
                "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() "
                "AND STATUS = 'ENABLED' ORDER BY EVENT_NAME"
            ).scalars()
            state["paused_events"] = [str(n) for n in names]
            for event in state["paused_events"]:
                _run(conn, f"ALTER EVENT {_ident(event)} DISABLE")

    def _make_connection(self, source: URL, target: URL, state: State, password: str, hidden: tuple[str, ...]) -> None:
        conn_name, start_gtid = state["connection"], state["start_gtid"]
        label = _literal(conn_name)
        try:
            with _connect(target, "set up the replica connection") as conn:
                before = str(conn.exec_driver_sql("SELECT @@GLOBAL.gtid_slave_pos").scalar() or "")
                state["gtid_slave_pos_before"] = before
                conn.exec_driver_sql(f"SET GLOBAL gtid_slave_pos = {_literal(merge_gtids(before, start_gtid))}")
                conn.exec_driver_sql(
                    f"CHANGE MASTER {label} TO MASTER_HOST = %(host)s, MASTER_PORT = %(port)s, "
                    "MASTER_USER = %(user)s, MASTER_PASSWORD = %(pw)s, MASTER_USE_GTID = slave_pos, "
                    "MASTER_CONNECT_RETRY = 5",
                    {
                        "host": _master_host(source),
                        "port": int(source.port or 3306),
                        "user": state["user"],
                        "pw": password,
                    },
                )
                self._set_filters(conn, state)
                _run(conn, f"START SLAVE {label}")
                self._wait_connected(conn, conn_name, hidden)
        except (Cancelled, ReplicationError):
            raise
        except Exception as exc:  # the CHANGE MASTER statement holds the password: never show it, nor chain it
            raise ReplicationError(
                f"Could not set up the replica connection '{conn_name}' on the target: {_reason(exc, hidden)}"
            ) from None
        logger.info("replica connection %s replicates from GTID %s", conn_name, start_gtid)

    def _set_filters(self, conn: sa.Connection, state: State) -> None:
        prefix = f"SET GLOBAL {_ident(state['connection'])}"
        rewrite = f"{state['source_db']}->{state['target_db']}" if state["source_db"] != state["target_db"] else ""
        _run(conn, f"{prefix}.replicate_rewrite_db = {_literal(rewrite)}")
        _run(conn, f"{prefix}.replicate_do_db = {_literal(state['target_db'])}")

    def _filters_in_place(self, status: dict[str, Any], state: State) -> bool:
        return str(status.get("Replicate_Do_DB") or "") == str(state["target_db"])

    def _wait_connected(self, conn: sa.Connection, name: str, hidden: tuple[str, ...]) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while True:
            status = _slave_status(conn, name) or {}
            if status.get("Slave_IO_Running") == "Yes" and status.get("Slave_SQL_Running") == "Yes":
                return
            error = str(status.get("Last_IO_Error") or status.get("Last_SQL_Error") or "")
            if status.get("Slave_SQL_Running") == "No" and status.get("Last_SQL_Error"):
                raise ReplicationError(f"The target's replica connection '{name}' stopped: {redact(error, hidden)}")
            if time.monotonic() > deadline:
                raise ReplicationError(
                    f"The target server could not reach the source within {CONNECT_TIMEOUT:.0f} s"
                    + (f" ({redact(error, hidden)[:300]})" if error else "")
                    + ": the target connects to the source's host and port as the source URL names them; "
                    "check that it can (firewall, bind-address, the source URL's host as seen from the target)."
                )
            time.sleep(0.2)

    def _still_replicating(self, target: URL, state: State) -> bool:
        try:
            with _connect(target, "read the replica connection") as conn:
                status = _slave_status(conn, state["connection"])
        except ChangeoverError:
            return False
        return (
            status is not None
            and status.get("Slave_SQL_Running") == "Yes"
            and status.get("Slave_IO_Running") in ("Yes", "Connecting")
            and self._filters_in_place(status, state)
        )

    # -------------------------------------------------------------------------------- lag

    def lag(self, source: URL, target: URL, state: State) -> Lag:
        with _connect(source, "read the source's binary log position") as conn:
            source_pos = str(conn.exec_driver_sql("SELECT @@GLOBAL.gtid_binlog_pos").scalar() or "")
            master: dict[str, Any] = {}
            with contextlib.suppress(sa.exc.DBAPIError):  # needs BINLOG MONITOR: bytes are then unknown
                master = dict(conn.exec_driver_sql("SHOW MASTER STATUS").mappings().first() or {})
        with _connect(target, "read the replica connection") as conn:
            status = _slave_status(conn, state["connection"])
            slave_pos = str(conn.exec_driver_sql("SELECT @@GLOBAL.gtid_slave_pos").scalar() or "")
        if status is None:
            raise ReplicationError(
                f"The target server has no replica connection '{state['connection']}' (it was removed, or start() "
                "did not finish): stop and start the online upgrade again."
            )
        if not self._filters_in_place(status, state):
            raise ReplicationError(
                f"The replica connection '{state['connection']}' lost its database filters (the target server was "
                "restarted while replicating), so it may have applied other databases' changes: cancel the online "
                "upgrade and start it again."
            )
        if status.get("Slave_SQL_Running") == "No" and status.get("Last_SQL_Error"):
            raise ReplicationError(
                f"Replication into {state['target_db']} stopped on an error: {str(status['Last_SQL_Error'])[:300]}"
            )
        return _lag(source_pos, slave_pos, status, master)

    # -------------------------------------------------------------------------------- drain

    def drain(
        self,
        source: URL,
        target: URL,
        state: State,
        timeout: float,
        progress: Progress,
        cancel: threading.Event | None,
    ) -> Lag:
        """Wait until the target applied the source's current GTID position, stop replicating, carry the
        AUTO_INCREMENT counters. Call it with the source quiet (the deploys in maintenance)."""
        name = state["connection"]
        with _connect(source, "read the source's binary log position") as conn:
            wanted = str(conn.exec_driver_sql("SELECT @@GLOBAL.gtid_binlog_pos").scalar() or "")
        message = f"Waiting until {state['target_db']} has applied GTID {wanted or '(none)'}"
        progress(0, None, "", message)
        started = time.monotonic()
        with _connect(target, "wait for the replica connection") as conn:
            if state.get("phase") != "drained":
                while True:
                    check_cancel(cancel, "The drain")
                    left = timeout - (time.monotonic() - started)
                    if left <= 0:
                        applied = _applied(str(conn.exec_driver_sql("SELECT @@GLOBAL.gtid_slave_pos").scalar()), wanted)
                        raise ReplicationError(
                            f"The new database did not apply every change within {timeout:g} s (applied "
                            f"{applied or '-'}, the source is at {wanted}): the run rolls back to the old database. "
                            "Retry when the lag is smaller, or give the drain a longer timeout."
                        )
                    waited = conn.execute(
                        sa.text("SELECT MASTER_GTID_WAIT(:pos, :t)"), {"pos": wanted, "t": min(left, 1.0)}
                    ).scalar()
                    if waited == 0:
                        break
                    status = _slave_status(conn, name)
                    if status is None:
                        raise ReplicationError(f"The target server has no replica connection '{name}' any more.")
                    if status.get("Slave_SQL_Running") == "No" and status.get("Last_SQL_Error"):
                        raise ReplicationError(
                            f"Replication into {state['target_db']} stopped on an error: "
                            f"{str(status['Last_SQL_Error'])[:300]}"
                        )
                    progress(int(time.monotonic() - started), None, "", message)
                _run(conn, f"STOP SLAVE {_literal(name)}")
                state["phase"] = "drained"
                state["drained_at"] = wanted
            slave_pos = str(conn.exec_driver_sql("SELECT @@GLOBAL.gtid_slave_pos").scalar() or "")
        carried = self._carry_auto_increment(source, target)
        state["auto_increment_carried"] = carried
        self._resume_events(target, state)
        progress(1, 1, "", f"{state['target_db']} has applied GTID {wanted}; replication stopped")
        applied = _applied(slave_pos, wanted)
        return Lag(0 if applied == wanted else None, 0.0 if applied == wanted else None, applied, wanted)

    def _carry_auto_increment(self, source: URL, target: URL) -> dict[str, int]:
        """Each target table's AUTO_INCREMENT at least its source's (a rolled-back insert or a deleted last row
        moves the source's counter without a row to replicate); the tables raised, with their new counter."""
        sql = (
            "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            "AND AUTO_INCREMENT IS NOT NULL AND TABLE_TYPE = 'BASE TABLE'"
        )
        with _connect(source, "read the AUTO_INCREMENT counters", database=True) as conn:
            wanted = {str(t): int(v) for t, v in conn.exec_driver_sql(sql).all()}
        carried: dict[str, int] = {}
        with _connect(target, "carry the AUTO_INCREMENT counters", database=True) as conn:
            have = {str(t): int(v) for t, v in conn.exec_driver_sql(sql).all()}
            for table, value in sorted(wanted.items()):
                if table in have and have[table] < value:
                    _run(conn, f"ALTER TABLE {_ident(table)} AUTO_INCREMENT = {int(value)}")
                    carried[table] = value
        return carried

    def _resume_events(self, target: URL, state: State) -> None:
        with _connect(target, "enable the copied events again", database=True) as conn:
            for event in state.get("paused_events") or []:
                _run(conn, f"ALTER EVENT {_ident(str(event))} ENABLE")
        state["paused_events"] = []

    # -------------------------------------------------------------------------------- stop

    def stop(self, source: URL, target: URL | None, state: State) -> None:
        """Remove the replica connection (and its filters) from the target, the replication user from the
        source. Idempotent; names the journal holds but that were never made are skipped."""
        failures: list[str] = []
        name = state.get("connection")
        if target is not None and name:
            try:
                with _connect(target, "remove the replica connection") as conn:
                    if _slave_status(conn, name) is not None:
                        label = _literal(name)
                        _run(conn, f"STOP SLAVE {label}")
                        # a connection's filters outlive RESET SLAVE ... ALL (they are kept by name): clear them
                        for variable in ("replicate_do_db", "replicate_rewrite_db"):
                            _run(conn, f"SET GLOBAL {_ident(name)}.{variable} = ''")
                        _run(conn, f"RESET SLAVE {label} ALL")
                        logger.info("removed replica connection %s from the target", name)
            except ChangeoverError as exc:
                failures.append(exc.message)
        user = state.get("user")
        if user:
            account = f"{_literal(user)}@{_literal(state.get('user_host') or USER_HOST)}"
            try:
                with _connect(source, "drop the replication user") as conn:
                    _unlogged(conn)
                    _run(conn, f"DROP USER IF EXISTS {account}")
                    logger.info("dropped replication user %s from the source", user)
            except ChangeoverError as exc:
                failures.append(exc.message)
        if failures:
            raise ReplicationError("Replication could not be fully removed: " + " ".join(failures))


# ------------------------------------------------------------------------------------------------ helpers


class _GtidSink:
    """Passes the dump on to the load and finds the snapshot's GTID position on the way."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.tail = b""
        self.gtid: str | None = None
        self.written = 0

    def write(self, block: bytes, /) -> int:
        if self.gtid is None:
            window = self.tail + block
            match = _GTID_LINE.search(window)
            if match:
                self.gtid = match.group(1).decode("ascii").replace(" ", "")
            self.tail = window[-200:]
        self.out.write(block)
        self.written += len(block)
        return len(block)


def _reason(exc: Exception, hidden: tuple[str, ...]) -> str:
    """A failed statement's reason, from the driver's own text (never the statement or its parameters)."""
    if isinstance(exc, ChangeoverError):
        return redact(exc.message, hidden)
    if isinstance(exc, sa.exc.DBAPIError):
        return redact(driver_message(exc), hidden)
    return type(exc).__name__


def _applied(slave_pos: str, source_pos: str) -> str:
    """The target's applied position restricted to the source's GTID domains, in the source's form."""
    mine, theirs = parse_gtids(slave_pos), parse_gtids(source_pos)
    return format_gtids({d: mine[d] for d in theirs if d in mine})


def _lag(source_pos: str, slave_pos: str, status: dict[str, Any], master: dict[str, Any]) -> Lag:
    applied = _applied(slave_pos, source_pos)
    seconds = status.get("Seconds_Behind_Master")
    bytes_behind: int | None = None
    if master and status.get("Relay_Master_Log_File") == master.get("File"):
        bytes_behind = max(0, int(master["Position"]) - int(status.get("Exec_Master_Log_Pos") or 0))
    if applied == format_gtids(parse_gtids(source_pos)):
        bytes_behind, seconds = 0, 0
    return Lag(
        bytes_behind, None if seconds is None else float(seconds), applied, format_gtids(parse_gtids(source_pos))
    )


STRATEGY = MariaDBReplication()

__all__ = [
    "STRATEGY",
    "MariaDBReplication",
    "ReplicationError",
    "connection_name",
    "format_gtids",
    "merge_gtids",
    "parse_gtids",
    "user_name",
]
