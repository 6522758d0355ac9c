"""PostgreSQL -> PostgreSQL by logical replication: a publication and a slot on the source, a subscription on
the target, the base copied by ``pg_dump``/``pg_restore`` from the slot's own snapshot.

How the base copy is tied to the replication's start (as ``pgcopydb clone --follow`` does):

1. a role for the run (``LOGIN REPLICATION``, a random password that lives in memory only, given to the
   server as a SCRAM verifier so no server log can hold it), granted SELECT on the tables;
2. ``CREATE PUBLICATION ... FOR TABLE`` every user table;
3. on a replication connection, ``CREATE_REPLICATION_SLOT ... LOGICAL pgoutput EXPORT_SNAPSHOT``: the slot
   starts exactly at the snapshot it exports, and the connection stays open (so does the snapshot) while
4. ``pg_dump --snapshot=ID -Fd -jN`` dumps schema and data as of that snapshot, and ``pg_restore -jN``
   loads it into the target (indexes and constraints after the data);
5. ``CREATE SUBSCRIPTION ... WITH (create_slot = false, slot_name = ..., copy_data = false)``: changes
   stream from the slot, i.e. from exactly the snapshot's point: none is lost, none applied twice.

Every name is written into the journaled :data:`~changeover.core.replication.State` *before* the thing is
made, so :meth:`PostgresReplication.stop` removes it after any crash; ``state["name"]`` alone is enough,
since every name derives from it. No password is ever in the state: the subscription's connection string
holds the run's role password, on the target only, until the role and the subscription are dropped.

Logical replication carries neither DDL nor sequences: :meth:`drain` sets every sequence on the target from
the source's position once the target has applied everything.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL

from .. import engines, paths
from ..engines.base import display_url, url_secrets
from ..errors import ChangeoverError
from ..formats import human_bytes
from ..jobs import Progress, check_cancel
from ..redaction import redact, remember
from . import Lag, Requirement, State

logger = logging.getLogger(__name__)

#: a table that takes part in replication: a plain (or partition leaf) table in a user schema, not an extension's
_TABLES = """
SELECT n.nspname, c.relname, c.relreplident,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_key,
       pg_has_role(c.relowner, 'USAGE') AS owned
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""
_SEQUENCES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY 1, 2
"""
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "")
#: how often drain and the catch-up look at the slot
POLL = 0.1


class ReplicationError(ChangeoverError):
    title = "Replication failed"


def names(state: State) -> dict[str, str]:
    """Every object the run makes, from its journaled name: publication, slot, subscription, role."""
    base = re.sub(r"[^a-z0-9_]", "_", str(state["name"]).lower())[:40]
    return {"publication": f"{base}_pub", "slot": f"{base}_slot", "subscription": f"{base}_sub", "role": f"{base}_repl"}


def _conninfo(url: URL, **extra: str) -> str:
    return make_conninfo(
        "",
        host=url.host or None,
        port=str(url.port) if url.port else None,
        user=url.username or None,
        password=url.password if isinstance(url.password, str) else None,
        dbname=url.database or None,
        connect_timeout="15",
        application_name="changeover",
        **extra,
    )


def _fail(doing: str, exc: BaseException, url: URL, *extra: str) -> ReplicationError:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return ReplicationError(f"Could not {doing} on {display_url(url)}: {redact(text, (*url_secrets(url), *extra))}")


@contextlib.contextmanager
def _connect(url: URL, doing: str, *extra_secrets: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection; a driver error becomes a :class:`ReplicationError` saying what failed."""
    try:
        conn = psycopg.connect(_conninfo(url), autocommit=True)
    except psycopg.Error as exc:
        raise _fail(doing, exc, url, *extra_secrets) from None
    try:
        yield conn
    except psycopg.Error as exc:
        raise _fail(doing, exc, url, *extra_secrets) from None
    finally:
        conn.close()


def _scram(password: str) -> str:
    """The SCRAM-SHA-256 verifier of ``password``, as ``CREATE ROLE ... PASSWORD`` takes it: the server (and its
    statement log) never sees the password itself."""
    salt, iterations = os.urandom(16), 4096
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"


def _one(conn: psycopg.Connection[tuple[object, ...]], query: str, *params: object) -> tuple[object, ...] | None:
    return conn.execute(query, params or None).fetchone()


def _value(conn: psycopg.Connection[tuple[object, ...]], query: str, *params: object) -> object:
    row = _one(conn, query, *params)
    return None if row is None else row[0]


def _is_super(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    return bool(_value(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))


def _major(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    return int(str(_value(conn, "SHOW server_version_num"))) // 10000


def _table_list(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[str, str, str, bool, bool]]:
    return [(str(s), str(t), str(r), bool(k), bool(o)) for s, t, r, k, o in conn.execute(_TABLES).fetchall()]


def _qualified(schema: str, table: str) -> sql.Composable:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def _shown(schema: str, table: str) -> str:
    return table if schema == "public" else f"{schema}.{table}"


def _listed(items: list[str], most: int = 8) -> str:
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


class PostgresReplication:
    """:class:`~changeover.core.replication.Replication` for PostgreSQL (10 or newer) on both sides."""

    # -- 1. requirements -------------------------------------------------------------------------

    def requirements(self, source: URL, target: URL | None) -> list[Requirement]:
        found: list[Requirement] = []
        with _connect(source, "check the source for replication") as conn:
            is_super = _is_super(conn)
            can_replicate = is_super or bool(
                _value(conn, "SELECT rolreplication FROM pg_roles WHERE rolname = current_user")
            )
            wal_level = str(_value(conn, "SHOW wal_level"))
            found.append(
                Requirement(
                    "wal_level",
                    wal_level == "logical",
                    "wal_level is logical"
                    if wal_level == "logical"
                    else f"the source's wal_level is {wal_level}: run `ALTER SYSTEM SET wal_level = logical` as a "
                    "superuser, then restart the source server",
                )
            )
            slots = int(str(_value(conn, "SHOW max_replication_slots")))
            used = int(str(_value(conn, "SELECT count(*) FROM pg_replication_slots")))
            senders = int(str(_value(conn, "SHOW max_wal_senders")))
            sending = int(str(_value(conn, "SELECT count(*) FROM pg_stat_replication")))
            free = min(slots - used, senders - sending)
            found.append(
                Requirement(
                    "replication slot",
                    free >= 1,
                    f"{slots - used} of {slots} slots and {senders - sending} of {senders} WAL senders free"
                    if free >= 1
                    else f"no free replication slot or WAL sender ({used} of {slots} slots, {sending} of {senders} "
                    "senders in use): raise max_replication_slots / max_wal_senders (`ALTER SYSTEM SET ...`, "
                    "then restart) or drop an unused slot",
                )
            )
            found.append(
                Requirement(
                    "replication privilege",
                    can_replicate,
                    "the source's user may create a replication slot"
                    if can_replicate
                    else f"the source's user '{source.username}' may not create a replication slot: "
                    f'`ALTER ROLE "{source.username}" REPLICATION` as a superuser (or use a superuser\'s handle)',
                )
            )
            tables = _table_list(conn)
            not_owned = [_shown(s, t) for s, t, _, _, owned in tables if not owned]
            found.append(
                Requirement(
                    "publication",
                    is_super or not not_owned,
                    f"a publication for the {len(tables)} tables can be created"
                    if is_super or not not_owned
                    else f"a publication needs the owner of every table; '{source.username}' does not own "
                    f"{_listed(not_owned)}: use the owner's (or a superuser's) handle",
                )
            )
            keyless = [_shown(s, t) for s, t, ident, key, _ in tables if ident == "n" or (ident == "d" and not key)]
            found.append(
                Requirement(
                    "replica identity",
                    not keyless,
                    "every table has a primary key or a replica identity"
                    if not keyless
                    else f"{_listed(keyless)} {'has' if len(keyless) == 1 else 'have'} no primary key or replica "
                    "identity, so their updates and deletes cannot be replicated: add a primary key, or run "
                    f"`ALTER TABLE {keyless[0]} REPLICA IDENTITY FULL` (for each)",
                )
            )
            role_detail = (
                "a role is made for the run (LOGIN REPLICATION) and dropped at its end"
                if is_super
                else "the subscription connects with the source's own credentials (a role of the run's own needs a "
                "superuser)"
            )
            found.append(Requirement("replication role", is_super or can_replicate, role_detail))
            major = _major(conn)
        from ..transfer import tools

        have = tools.postgres_tools(major)
        found.append(
            Requirement(
                "tools",
                have is not None,
                f"pg_dump/pg_restore {have[0].version_text}"
                if have
                else f"pg_dump and pg_restore {major} or newer are needed for the base copy: install the PostgreSQL "
                "client tools (Debian: postgresql-client)",
            )
        )
        found += self._target_requirements(source, target)
        return found

    def _target_requirements(self, source: URL, target: URL | None) -> list[Requirement]:
        if target is None:
            return [
                Requirement(
                    "subscription on the target",
                    False,
                    "a database Changeover provisions is owned by a role that may not create a subscription "
                    "(a superuser is needed; PostgreSQL 16+: the pg_create_subscription role): give an existing, "
                    "empty database with --to, as a user who may",
                )
            ]
        found: list[Requirement] = []
        if engines.of(target).name != "postgresql":
            return [Requirement("engine", False, f"the target is {engines.of(target).label}: online needs PostgreSQL")]
        with _connect(target, "check the target for replication") as conn:
            major = _major(conn)
            allowed = _is_super(conn) or (
                major >= 16
                and bool(_value(conn, "SELECT pg_has_role(current_user, 'pg_create_subscription', 'USAGE')"))
            )
            found.append(
                Requirement(
                    "subscription on the target",
                    allowed,
                    "the target's user may create a subscription"
                    if allowed
                    else f"the target's user '{target.username}' may not create a subscription: use a superuser's "
                    "handle for the target"
                    + (" (or `GRANT pg_create_subscription TO ...`)" if major >= 16 else " (PostgreSQL 15 and older)"),
                )
            )
            workers = int(str(_value(conn, "SHOW max_logical_replication_workers")))
            found.append(
                Requirement(
                    "replication workers",
                    workers >= 1,
                    f"{workers} logical replication workers allowed"
                    if workers >= 1
                    else "the target allows no logical replication worker: `ALTER SYSTEM SET "
                    "max_logical_replication_workers = 4`, then restart the target server",
                )
            )
        try:
            engines.check_empty(target)
            found.append(Requirement("target empty", True, "the target is empty"))
        except ChangeoverError as exc:
            found.append(Requirement("target empty", False, exc.message))
        same = (source.host, source.port, source.database) == (target.host, target.port, target.database)
        loop_only = (source.host or "") in _LOOPBACK and (target.host or "") not in _LOOPBACK
        where = f"{source.host or 'the local socket'}:{source.port or 5432}"
        found.append(
            Requirement(
                "target reaches the source",
                not same and not loop_only,
                "the source and the target are the same database: give a new, empty database"
                if same
                else f"the target's server would connect to {where}, which is itself, not the source: give the "
                "source's handle by a host name the target's server can reach"
                if loop_only
                else f"the target's server connects to the source at {where}",
            )
        )
        return found

    # -- 2. start --------------------------------------------------------------------------------

    def start(
        self, source: URL, target: URL, name: str, state: State, progress: Progress, cancel: threading.Event | None
    ) -> State:
        """Make the role, the publication and the slot, copy the base from the slot's snapshot, subscribe.

        ``state`` may be a journaling dict (each key set is saved at once): every name goes in before the
        thing is made. A ``state`` already holding names of an earlier, cut start is stopped first.
        """
        if any(key in state for key in ("role", "publication", "slot", "subscription")):
            self.stop(source, target, state)
            for key in ("role", "publication", "slot", "subscription", "lsn", "snapshot_lsn"):
                state.pop(key, None)
        state["name"] = name
        made = names(state)
        password = secrets.token_urlsafe(24)
        remember(password)
        with _connect(source, "prepare the source for replication", password) as conn:
            tables = [(s, t) for s, t, *_ in _table_list(conn)]
            if _is_super(conn):
                progress(0, None, "", "Creating the run's replication role on the source")
                state["role"] = made["role"]
                role = sql.Identifier(made["role"])
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN REPLICATION PASSWORD {}").format(role, sql.Literal(_scram(password)))
                )
                if tables:
                    conn.execute(
                        sql.SQL("GRANT SELECT ON {} TO {}").format(
                            sql.SQL(", ").join(_qualified(s, t) for s, t in tables), role
                        )
                    )
                user, secret = made["role"], password
            else:  # the source's own credentials, which hold REPLICATION (requirements checked it)
                user, secret = source.username or "", source.password if isinstance(source.password, str) else ""
            progress(0, None, "", f"Creating the publication of {len(tables)} tables on the source")
            state["publication"] = made["publication"]
            publication = sql.Identifier(made["publication"])
            if tables:
                conn.execute(
                    sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
                        publication, sql.SQL(", ").join(_qualified(s, t) for s, t in tables)
                    )
                )
            else:
                conn.execute(sql.SQL("CREATE PUBLICATION {}").format(publication))
            major = _major(conn)
        check_cancel(cancel, "The base copy")
        state["slot"] = made["slot"]
        try:
            replication = psycopg.connect(_conninfo(source, replication="database"), autocommit=True)
        except psycopg.Error as exc:
            raise _fail("open a replication connection", exc, source) from None
        try:
            result = replication.pgconn.exec_(
                f"CREATE_REPLICATION_SLOT {made['slot']} LOGICAL pgoutput EXPORT_SNAPSHOT".encode()
            )
            if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
                message = result.error_message.decode(errors="replace")
                raise _fail("create the replication slot", ChangeoverError(message), source)
            lsn = (result.get_value(0, 1) or b"").decode()
            snapshot = (result.get_value(0, 2) or b"").decode()
            state["snapshot_lsn"] = lsn
            logger.info("slot %s consistent at %s, snapshot %s", made["slot"], lsn, snapshot)
            folder = self._dump(source, snapshot, major, progress, cancel)
            try:
                self._restore(target, folder, major, progress, cancel)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            check_cancel(cancel, "The base copy")
            state["base_verified"] = self._verify_base(source, target, snapshot, progress, cancel)
        finally:
            replication.close()  # the snapshot stays valid while this connection is open and idle
        check_cancel(cancel, "The base copy")
        progress(0, None, "", "Subscribing the new database to the source's changes")
        state["subscription"] = made["subscription"]
        host = str(state.get("source_host") or source.host or "")
        conninfo = make_conninfo(
            "",
            host=host or None,
            port=str(source.port) if source.port else None,
            dbname=source.database or None,
            user=user or None,
            password=secret or None,
        )
        with _connect(target, "subscribe the new database to the source", secret) as conn:
            conn.execute(
                sql.SQL(
                    "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} "
                    "WITH (create_slot = false, slot_name = {}, copy_data = false, enabled = true)"
                ).format(
                    sql.Identifier(made["subscription"]),
                    sql.Literal(conninfo),
                    sql.Identifier(made["publication"]),
                    sql.Literal(made["slot"]),
                )
            )
        return state

    def _verify_base(
        self, source: URL, target: URL, snapshot: str, progress: Progress, cancel: threading.Event | None
    ) -> str:
        """Before any change is applied, the target must equal the source *at the slot's snapshot*: both are
        hashed by the engine's fastest whole-row hash (the source as of the snapshot, while the app writes on)
        and compared table by table; a mismatch raises :class:`VerificationFailed`. Between servers of
        different versions (no shared fast form) the base is not checksummed: said in the returned text."""
        from concurrent.futures import ThreadPoolExecutor

        from ..transfer.verify import compare
        from ..transfer.verify.native import CANONICAL, checksum_native, shared_form

        form = shared_form(source, target)
        if form == CANONICAL:
            return "base not checksummed (the servers' versions differ); counts are checked in the window"
        progress(0, None, "rows", "Checking the base copy against the source at the snapshot (checksums)")
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="online-base-verify") as pool:
            at_snapshot = pool.submit(checksum_native, source, form, snapshot=snapshot, cancel=cancel)
            copied = pool.submit(checksum_native, target, form, workers=_jobs(), progress=progress, cancel=cancel)
            source_sums, target_sums = at_snapshot.result(), copied.result()
        report = compare(
            f"{display_url(source)} (at the snapshot)", display_url(target), source_sums, target_sums, {}, {}
        )
        rows = sum(t.rows for t in source_sums.values())
        return f"base verified: {len(report.tables)} tables, {rows:,} rows equal to the source at the snapshot"

    def _dump(self, source: URL, snapshot: str, major: int, progress: Progress, cancel: threading.Event | None) -> Path:
        from ..transfer import tools
        from ..transfer.partials import start_partial

        found = tools.postgres_tools(major)
        if found is None:
            raise tools.ToolMissing(
                f"pg_dump and pg_restore {major} or newer are needed for the base copy: install the PostgreSQL "
                "client tools (Debian: postgresql-client).",
            )
        dump, _ = found
        folder = start_partial(paths.backups_dir() / f"online-{secrets.token_hex(6)}")
        artifact = folder / "base"
        size = engines.describe(source).size_bytes
        env = tools.postgres_env(
            source.host, source.port, source.username, tools.url_password(source), source.database or ""
        )
        message = f"Copying the base of {source.database} (pg_dump from the slot's snapshot)"

        def tick() -> None:
            done = sum(p.stat().st_size for p in artifact.iterdir()) if artifact.is_dir() else 0
            progress(min(done, size), max(done, size), "bytes", message)

        progress(0, size, "bytes", message)
        try:
            tools.run(
                [
                    dump.path,
                    "--format=directory",
                    f"--jobs={_jobs()}",
                    "--compress=0",
                    "--no-sync",
                    "--no-publications",
                    "--no-subscriptions",
                    f"--snapshot={snapshot}",
                    f"--file={artifact}",
                ],
                what="The base copy's dump",
                env=env,
                secrets=url_secrets(source),
                cancel=cancel,
                tick=tick,
                side="source",
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return folder

    def _restore(
        self, target: URL, folder: Path, major: int, progress: Progress, cancel: threading.Event | None
    ) -> None:
        from ..transfer import tools

        found = tools.postgres_tools(major)
        assert found is not None  # _dump found them
        _, restore = found
        env = tools.postgres_env(
            target.host, target.port, target.username, tools.url_password(target), target.database or ""
        )
        message = f"Loading the base into {target.database} (pg_restore -j {_jobs()})"
        items = {"done": 0}

        def on_line(line: str) -> None:
            if line.startswith("pg_restore: finished item"):
                items["done"] += 1

        progress(0, None, "items", message)
        tools.run(
            [
                restore.path,
                f"--jobs={_jobs()}",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--verbose",
                f"--dbname={target.database}",
                str(folder / "base"),
            ],
            what="The base copy's load",
            env=env,
            secrets=url_secrets(target),
            cancel=cancel,
            on_line=on_line,
            tick=lambda: progress(items["done"], None, "items", message),
            side="target",
        )

    # -- 3. lag ----------------------------------------------------------------------------------

    def lag(self, source: URL, target: URL, state: State) -> Lag:
        made = names(state)
        with _connect(source, "read the replication's lag") as conn:
            row = _one(
                conn,
                "SELECT pg_current_wal_lsn()::text, confirmed_flush_lsn::text, "
                "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, "
                "(SELECT EXTRACT(epoch FROM replay_lag)::float8 FROM pg_stat_replication "
                " WHERE application_name = %s LIMIT 1) "
                "FROM pg_replication_slots WHERE slot_name = %s",
                made["subscription"],
                made["slot"],
            )
        if row is None:
            raise ReplicationError(
                f"The replication slot {made['slot']} is gone from the source: the replication cannot go on. "
                "Roll the run back and start again."
            )
        self._check_applying(target, made["subscription"])
        current, confirmed, behind, seconds = row
        behind_bytes = max(0, int(str(behind))) if behind is not None else None
        if behind_bytes == 0:
            seconds = 0.0
        return Lag(
            behind_bytes,
            float(str(seconds)) if seconds is not None else None,
            str(confirmed or ""),
            str(current),
        )

    def _check_applying(self, target: URL, subscription: str) -> None:
        """Raise when the subscription failed to apply a change (a conflict): it would only fall further behind."""
        with _connect(target, "read the subscription's state") as conn:
            if _major(conn) < 15:
                return  # no pg_stat_subscription_stats: the lag that keeps growing says it, at the timeout
            errors = _value(
                conn, "SELECT apply_error_count FROM pg_stat_subscription_stats WHERE subname = %s", subscription
            )
        if errors:
            raise ReplicationError(
                f"The new database's subscription {subscription} failed to apply a change from the source "
                f"({errors} time(s); the target server's log says why, often a row written into the new database "
                "by something else). Nothing was switched: roll back, find the writer, and start again."
            )

    # -- 4. drain --------------------------------------------------------------------------------

    def drain(
        self,
        source: URL,
        target: URL,
        state: State,
        timeout: float,
        progress: Progress,
        cancel: threading.Event | None,
    ) -> Lag:
        """Wait until the slot has confirmed the source's current position, stop applying, carry the sequences."""
        made = names(state)
        with _connect(source, "read the source's position") as conn:
            goal = str(_value(conn, "SELECT pg_current_wal_lsn()::text"))
            deadline = time.monotonic() + timeout
            while True:
                row = _one(
                    conn,
                    "SELECT confirmed_flush_lsn::text, pg_wal_lsn_diff(%s::pg_lsn, confirmed_flush_lsn)::bigint "
                    "FROM pg_replication_slots WHERE slot_name = %s",
                    goal,
                    made["slot"],
                )
                if row is None:
                    raise ReplicationError(f"The replication slot {made['slot']} is gone from the source.")
                confirmed, behind = str(row[0] or ""), int(str(row[1] if row[1] is not None else 1))
                if behind <= 0:
                    break
                if time.monotonic() > deadline:
                    raise ReplicationError(
                        f"The new database did not apply every change within {timeout:.0f} s ({human_bytes(behind)} "
                        f"behind {goal}): nothing was switched. Look at the target server's log for the subscription "
                        f"{made['subscription']}, then retry."
                    )
                check_cancel(cancel, "The drain")
                progress(0, None, "bytes", f"{human_bytes(behind)} to apply before the switch")
                time.sleep(POLL)
        state["drained_lsn"] = goal
        with _connect(target, "stop applying changes") as conn:
            conn.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(sql.Identifier(made["subscription"])))
            # The worker would notice the change within its one-second cycle: it has applied everything
            # (confirmed above), so it is stopped at once; being disabled, it is not started again.
            deadline = time.monotonic() + 30
            while pid := _value(
                conn,
                "SELECT pid FROM pg_stat_subscription WHERE subname = %s AND pid IS NOT NULL LIMIT 1",
                made["subscription"],
            ):
                if time.monotonic() > deadline:
                    raise ReplicationError("The subscription's apply worker did not stop within 30 s.")
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                time.sleep(POLL / 5)
        carried = self._carry_sequences(source, target)
        progress(1, 1, "", f"Every change applied (at {goal}); {carried} sequence positions carried")
        return Lag(0, 0.0, confirmed, goal)

    def _carry_sequences(self, source: URL, target: URL) -> int:
        positions: list[tuple[str, str, int, bool]] = []
        with _connect(source, "read the sequences' positions") as conn:
            for schema, name in conn.execute(_SEQUENCES).fetchall():
                row = _one(
                    conn,
                    sql.SQL("SELECT last_value, is_called FROM {}")
                    .format(_qualified(str(schema), str(name)))
                    .as_string(conn),
                )
                if row is not None:
                    positions.append((str(schema), str(name), int(str(row[0])), bool(row[1])))
        with _connect(target, "set the sequences' positions") as conn:
            for schema, name, last, called in positions:
                conn.execute(
                    "SELECT setval(%s::regclass, %s, %s)",
                    (_qualified(schema, name).as_string(conn), last, called),
                )
        return len(positions)

    # -- 5. stop ---------------------------------------------------------------------------------

    def stop(self, source: URL, target: URL | None, state: State) -> None:
        """Drop the subscription (target), the slot, the publication and the role (source); idempotent."""
        if not state.get("name"):
            return
        made = names(state)
        if target is not None:
            with _connect(target, "remove the subscription") as conn:
                exists = _value(
                    conn,
                    "SELECT 1 FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid "
                    "WHERE s.subname = %s AND d.datname = current_database()",
                    made["subscription"],
                )
                if exists:
                    sub = sql.Identifier(made["subscription"])
                    conn.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(sub))
                    conn.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(sub))
                    conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(sub))
        with _connect(source, "remove what the replication made") as conn:
            for _ in range(50):
                row = _one(conn, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", made["slot"])
                if row is None:
                    break
                if row[0] is not None:
                    conn.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                    time.sleep(POLL)
                    continue
                try:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (made["slot"],))
                except psycopg.errors.ObjectInUse:  # a walsender took it again in between
                    time.sleep(POLL)
                    continue
                except psycopg.errors.UndefinedObject:
                    break
            else:
                raise ReplicationError(f"The replication slot {made['slot']} on the source stayed in use; retry.")
            conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(made["publication"])))
            if _value(conn, "SELECT 1 FROM pg_roles WHERE rolname = %s", made["role"]):
                role = sql.Identifier(made["role"])
                for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE usename = %s", (made["role"],)
                ).fetchall():
                    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
                conn.execute(sql.SQL("DROP ROLE {}").format(role))
        logger.info("replication %s stopped; nothing of it is left", state["name"])

    # -- for the online route's verify -------------------------------------------------------------

    def made_on(self, source: URL, target: URL | None, state: State) -> list[str]:
        """What of the run's replication still exists (empty once :meth:`stop` is done): for tests and checks."""
        made = names(state)
        left: list[str] = []
        with _connect(source, "look for replication objects") as conn:
            if _value(conn, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", made["slot"]):
                left.append(f"slot {made['slot']}")
            if _value(conn, "SELECT 1 FROM pg_publication WHERE pubname = %s", made["publication"]):
                left.append(f"publication {made['publication']}")
            if _value(conn, "SELECT 1 FROM pg_roles WHERE rolname = %s", made["role"]):
                left.append(f"role {made['role']}")
        if target is not None:
            with _connect(target, "look for the subscription") as conn:
                if _value(conn, "SELECT 1 FROM pg_subscription WHERE subname = %s", made["subscription"]):
                    left.append(f"subscription {made['subscription']}")
        return left


def _jobs() -> int:
    return max(1, os.cpu_count() or 2)


STRATEGY = PostgresReplication()
