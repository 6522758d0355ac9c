"""Pre-flight: everything that can fail for lack of privilege, found before anything changes.

An upgrade that stops at its backup step has already put the deploys in maintenance. What would stop it
is known earlier, from the catalogs and the accounts' privileges:

* **the source's definitions**: a backup reads every object's definition. On MariaDB/MySQL the body of a
  routine whose DEFINER is another account (a DBA created it) is hidden from a user without the right
  privilege, and ``mariadb-dump`` stops ("insufficient privileges to SHOW CREATE FUNCTION"). On
  PostgreSQL, ``pg_dump`` needs SELECT on every table and sequence and USAGE on every schema.
* **the target's creations**: the load creates tables, views, routines, triggers, extensions. MariaDB with
  binary logging needs SUPER (or ``log_bin_trust_function_creators``) to create functions and triggers,
  and ``LOCAL INFILE`` for the fast load; PostgreSQL needs CREATE on the database and its schema, and
  an extension must be available there (and trusted, for a user who is not a superuser).
* **a cross-engine path**: what the copy does not carry (views, routines, triggers...) and what it adapts,
  from :func:`changeover.core.transfer.crossengine.plan`, so an admin learns before maintenance mode what
  will not be there afterwards.

:func:`check_source` returns one :class:`PreflightFinding` per check; a finding that is not ``ok`` names
the fix. It reads only, except for probes in the *empty* target (an object created and dropped at once,
the only sure test of a right to create).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from .. import engines
from ..engines import MYSQL, POSTGRESQL, Engine, display_url, driver_message
from .reading import versioned_refusal, versioned_tables

logger = logging.getLogger(__name__)

__all__ = ["PreflightFinding", "check_source"]


@dataclass(frozen=True)
class PreflightFinding:
    """One pre-flight check: what was checked, whether it passed, and (when not) the fix."""

    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'FAILED'}: {self.name}: {self.detail}"


ADMIN_HINT = (
    "or run the upgrade with the server's admin credentials (register the database's server with "
    "`changeover server add` and provision or attach through it)"
)


def check_source(
    source_url: URL | str, target_url: URL | str | None = None, *, cross_engine: bool = False
) -> list[PreflightFinding]:
    """Every privilege and carry check for copying ``source_url`` into ``target_url`` (None: a database still
    to be provisioned, whose checks wait until it exists). Nothing is changed in the source."""
    source = sa.engine.make_url(source_url)
    target = None if target_url is None else sa.engine.make_url(target_url)
    findings: list[PreflightFinding] = []
    source_engine = engines.of(source)
    kinds: set[str] = set()
    # The checks are per engine (SQLite has no privileges to check)
    reader = {MYSQL: _mysql_source, POSTGRESQL: _pg_source}.get(source_engine)
    if reader is not None:
        findings += _guarded(f"source {display_url(source)}", lambda: reader(source, kinds))
    builtins: dict[Engine, Callable[[URL], list[PreflightFinding]]] = {POSTGRESQL: _pg_builtin}
    builtin = builtins.get(source_engine)
    if builtin is not None and not cross_engine:
        findings += _guarded(f"source {display_url(source)}", lambda: builtin(source))
    if target is not None and not cross_engine:
        writer = {MYSQL: _mysql_target, POSTGRESQL: _pg_target}.get(engines.of(target))
        if writer is not None:
            tgt = target
            findings += _guarded(f"target {display_url(tgt)}", lambda: writer(tgt, kinds, source))
    if cross_engine and target is not None:
        findings += _cross_engine(source, target)
    return findings


def _guarded(what: str, run: Callable[[], list[PreflightFinding]]) -> list[PreflightFinding]:
    try:
        return run()
    except sa.exc.SQLAlchemyError as exc:
        return [PreflightFinding(f"{what} readable", False, f"could not be read: {driver_message(exc)}")]


def _connect(url: URL) -> sa.Engine:
    return engines.open_engine(url)


# ----------------------------------------------------------------------------------------------- MariaDB


def _account(conn: Connection) -> str:
    user, _, host = str(conn.exec_driver_sql("SELECT CURRENT_USER()").scalar_one()).rpartition("@")
    return f"'{user}'@'{host}'"


def _mysql_version(conn: Connection) -> tuple[bool, tuple[int, ...]]:
    text = str(conn.exec_driver_sql("SELECT VERSION()").scalar_one())
    numbers = tuple(int(p) for p in text.split("-")[0].split(".")[:3] if p.isdigit())
    return "mariadb" in text.lower(), numbers


def _routine_grant(conn: Connection, database: str) -> str:
    mariadb, version = _mysql_version(conn)
    who = _account(conn)
    if mariadb and version >= (11, 3):
        return f"GRANT SHOW CREATE ROUTINE ON {MYSQL.quote(database)}.* TO {who}"
    if mariadb:
        return f"GRANT SELECT ON mysql.proc TO {who}"
    return f"GRANT SHOW_ROUTINE ON *.* TO {who}"


def _mysql_source(url: URL, kinds: set[str]) -> list[PreflightFinding]:
    findings: list[PreflightFinding] = []
    database = url.database or ""
    engine = _connect(url)
    try:
        with engine.connect() as conn:
            hidden: list[str] = []
            unreadable: list[tuple[str, str]] = []  # (object, error)
            objects = conn.exec_driver_sql(
                "SELECT 'FUNCTION', ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES "
                "WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE = 'FUNCTION' "
                "UNION ALL SELECT 'PROCEDURE', ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES "
                "WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE = 'PROCEDURE' "
                "UNION ALL SELECT 'VIEW', TABLE_NAME, DEFINER FROM information_schema.VIEWS "
                "WHERE TABLE_SCHEMA = DATABASE() "
                "UNION ALL SELECT 'TRIGGER', TRIGGER_NAME, DEFINER FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() "
                "UNION ALL SELECT 'EVENT', EVENT_NAME, DEFINER FROM information_schema.EVENTS "
                "WHERE EVENT_SCHEMA = DATABASE()"
            ).all()
            column = {"FUNCTION": 2, "PROCEDURE": 2, "VIEW": 1, "TRIGGER": 2, "EVENT": 3}
            for kind, name, _definer in objects:
                kinds.add(str(kind))
                label = f"{str(kind).lower()} {name}"
                try:
                    row = conn.exec_driver_sql(f"SHOW CREATE {kind} {MYSQL.quote(str(name))}").first()
                except sa.exc.DBAPIError as exc:
                    unreadable.append((label, driver_message(exc)))
                    continue
                if row is None or row[column[str(kind)]] is None:
                    hidden.append(label)
            others = sorted({str(d) for _k, _n, d in objects if d} - {_account(conn).replace("'", "")})
            if hidden:
                grant = _routine_grant(conn, database)
                findings.append(
                    PreflightFinding(
                        "source definitions readable",
                        False,
                        f"{_account(conn)} cannot read the definition of {', '.join(hidden)} (DEFINER "
                        f"{', '.join(others) or 'another account'}), so the backup would stop after maintenance "
                        f"is on. Grant it: {grant}; {ADMIN_HINT}.",
                    )
                )
            for label, reason in unreadable:
                findings.append(
                    PreflightFinding(
                        "source definitions readable",
                        False,
                        f"{_account(conn)} cannot read {label}: {reason}. Grant SHOW VIEW, TRIGGER and EVENT on "
                        f"{MYSQL.quote(database)}.* to it; {ADMIN_HINT}.",
                    )
                )
            if not hidden and not unreadable:
                detail = f"{len(objects)} views, routines, triggers and events readable by {_account(conn)}"
                findings.append(PreflightFinding("source definitions readable", True, detail))
            kinds.add("TABLE")
            versioned = versioned_tables(conn)
            if versioned:
                findings.append(PreflightFinding("no system-versioned tables", False, versioned_refusal(versioned)))
    finally:
        engine.dispose()
    return findings


def _has_super(conn: Connection) -> bool:
    found = conn.exec_driver_sql(
        "SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SUPER' "
        "AND GRANTEE = (SELECT CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', "
        "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), ''''))"
    ).scalar_one()
    return bool(found)


def _mysql_target(url: URL, kinds: set[str], source: URL) -> list[PreflightFinding]:
    findings: list[PreflightFinding] = []
    engine = _connect(url)
    try:
        with engine.connect() as conn:
            who = _account(conn)
            local = bool(conn.exec_driver_sql("SELECT @@GLOBAL.local_infile").scalar())
            findings.append(
                PreflightFinding(
                    "LOCAL INFILE on the target",
                    local,
                    "the server takes LOAD DATA LOCAL INFILE"
                    if local
                    else "the target server has local_infile off, and the load uses LOAD DATA LOCAL INFILE: turn it on "
                    "(SET GLOBAL local_infile = 1, or local_infile=1 in the server's configuration)",
                )
            )
            log_bin = bool(conn.exec_driver_sql("SELECT @@GLOBAL.log_bin").scalar())
            trust = bool(conn.exec_driver_sql("SELECT @@GLOBAL.log_bin_trust_function_creators").scalar())
            needs_code = sorted(kinds & {"FUNCTION", "TRIGGER", "PROCEDURE"})
            if log_bin and not trust and needs_code and not _has_super(conn):
                findings.append(
                    PreflightFinding(
                        "binary logging and stored code",
                        False,
                        f"the target server logs in binary and {who} has no SUPER privilege, so it cannot create "
                        f"the source's {', '.join(k.lower() + 's' for k in needs_code)}: set "
                        "log_bin_trust_function_creators = 1 on the target server (SET GLOBAL "
                        f"log_bin_trust_function_creators = 1), or grant SUPER to {who}; {ADMIN_HINT}",
                    )
                )
            else:
                findings.append(
                    PreflightFinding(
                        "binary logging and stored code",
                        True,
                        "binary logging is off"
                        if not log_bin
                        else "log_bin_trust_function_creators is on"
                        if trust
                        else "the target account has SUPER"
                        if needs_code
                        else "the source has no stored code",
                    )
                )
            findings += _mysql_probes(conn, who, kinds, url.database or "")
    finally:
        engine.dispose()
    return findings


def _mysql_probes(conn: Connection, who: str, kinds: set[str], database: str) -> list[PreflightFinding]:
    """Create and drop one object of each kind the source has, in the (empty) target: the right to create."""
    tag = f"changeover_probe_{secrets.token_hex(4)}"
    table, q = MYSQL.quote(tag), MYSQL.quote(tag + "_x")
    probes: list[tuple[str, str, list[str], list[str]]] = [
        ("TABLE", "CREATE", [f"CREATE TABLE {table} (i INT)"], [f"DROP TABLE IF EXISTS {table}"]),
        ("VIEW", "CREATE VIEW", [f"CREATE VIEW {q} AS SELECT 1 AS i"], [f"DROP VIEW IF EXISTS {q}"]),
        ("PROCEDURE", "CREATE ROUTINE", [f"CREATE PROCEDURE {q}() BEGIN END"], [f"DROP PROCEDURE IF EXISTS {q}"]),
        (
            "FUNCTION",
            "CREATE ROUTINE",
            [f"CREATE FUNCTION {q}() RETURNS INT DETERMINISTIC NO SQL RETURN 1"],
            [f"DROP FUNCTION IF EXISTS {q}"],
        ),
        (
            "TRIGGER",
            "TRIGGER",
            [f"CREATE TABLE {table} (i INT)", f"CREATE TRIGGER {q} BEFORE INSERT ON {table} FOR EACH ROW SET @x = 1"],
            [f"DROP TABLE IF EXISTS {table}"],
        ),
        (
            "EVENT",
            "EVENT",
            [f"CREATE EVENT {q} ON SCHEDULE AT '2999-01-01 00:00:00' DISABLE DO SET @x = 1"],
            [f"DROP EVENT IF EXISTS {q}"],
        ),
    ]
    failed: list[str] = []
    for kind, privilege, create, drop in probes:
        if kind not in kinds:
            continue
        try:
            for statement in create:
                conn.exec_driver_sql(statement)
        except sa.exc.DBAPIError as exc:
            failed.append(f"{kind.lower()}s ({privilege}: {driver_message(exc)})")
        finally:
            for statement in drop:
                try:
                    conn.exec_driver_sql(statement)
                except sa.exc.DBAPIError:
                    logger.warning("could not drop the pre-flight probe %s", statement.split()[-1])
    if failed:
        grants = sorted({p.split(" (")[1].split(":")[0] for p in failed})
        return [
            PreflightFinding(
                "target can create the source's objects",
                False,
                f"{who} cannot create {'; '.join(failed)} in the target: GRANT {', '.join(grants)} ON "
                f"{MYSQL.quote(database)}.* TO {who}; {ADMIN_HINT}",
            )
        ]
    return [PreflightFinding("target can create the source's objects", True, f"{who} can create them")]


# -------------------------------------------------------------------------------------------- PostgreSQL

_PG_USER = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'"


def _pg_source(url: URL, kinds: set[str]) -> list[PreflightFinding]:
    findings: list[PreflightFinding] = []
    engine = _connect(url)
    try:
        with engine.connect() as conn:
            who = str(conn.exec_driver_sql("SELECT current_user").scalar_one())
            schemas = conn.exec_driver_sql(
                f"SELECT n.nspname FROM pg_namespace n WHERE {_PG_USER} AND NOT has_schema_privilege(n.oid, 'USAGE')"
            ).scalars()
            blocked = [str(s) for s in schemas]
            relations = conn.exec_driver_sql(
                "SELECT n.nspname, c.relname, c.relkind = 'S' FROM pg_class c "
                f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_PG_USER} "
                "AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND has_schema_privilege(n.oid, 'USAGE') "
                "AND NOT has_table_privilege(c.oid, 'SELECT') ORDER BY 3, 1, 2"
            ).all()
            unreadable = [f"{schema}.{name}" for schema, name, _seq in relations]
            if blocked or unreadable:
                role = POSTGRESQL.quote(who)
                fixes = [f"GRANT USAGE ON SCHEMA {POSTGRESQL.quote(s)} TO {role}" for s in blocked]
                for schema in sorted({str(r[0]) for r in relations}):
                    for sequences, what in ((False, "TABLES"), (True, "SEQUENCES")):
                        if any(str(r[0]) == schema and bool(r[2]) == sequences for r in relations):
                            fixes.append(f"GRANT SELECT ON ALL {what} IN SCHEMA {POSTGRESQL.quote(schema)} TO {role}")
                shown = [*blocked, *unreadable]
                findings.append(
                    PreflightFinding(
                        "source readable",
                        False,
                        f"{who} cannot read {', '.join(shown[:10])}{', …' if len(shown) > 10 else ''}, so pg_dump "
                        f"would stop after maintenance is on: {'; '.join(fixes)}; {ADMIN_HINT}",
                    )
                )
            else:
                findings.append(PreflightFinding("source readable", True, f"{who} can read every table and sequence"))
            for (name,) in conn.exec_driver_sql("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'"):
                kinds.add(f"extension:{name}")
            owners = conn.exec_driver_sql(
                "SELECT DISTINCT r.rolname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                f"JOIN pg_roles r ON r.oid = p.proowner WHERE {_PG_USER} AND r.rolname <> current_user "
                "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') "
                "UNION SELECT DISTINCT r.rolname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"JOIN pg_roles r ON r.oid = c.relowner WHERE {_PG_USER} AND r.rolname <> current_user"
            ).scalars()
            others = sorted(str(o) for o in owners)
            if others:
                findings.append(
                    PreflightFinding(
                        "owners",
                        True,
                        f"objects owned by {', '.join(others)}: on the new database the loading user owns them "
                        "(reassign them afterwards with ALTER ... OWNER TO if that matters)",
                    )
                )
    finally:
        engine.dispose()
    return findings


#: what the built-in PostgreSQL copy (no pg_dump: :mod:`.formats.pgcopy`) does not carry, as catalog queries
_PG_BUILTIN_MISSES = {
    "domains": "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
    f"WHERE {_PG_USER} AND t.typtype = 'd'",
    "composite and range types": "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
    f"JOIN pg_class c ON c.oid = t.typrelid WHERE {_PG_USER} AND t.typtype = 'c' AND c.relkind = 'c' "
    "UNION SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
    f"WHERE {_PG_USER} AND t.typtype = 'r'",
    "partitioned tables": "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    f"WHERE {_PG_USER} AND c.relkind = 'p'",
    "materialized views": "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    f"WHERE {_PG_USER} AND c.relkind = 'm'",
    "extensions": "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'",
}


def _pg_builtin(url: URL) -> list[PreflightFinding]:
    """Without pg_dump of the server's version the built-in copy runs, and it does not carry everything."""
    from . import tools

    engine = _connect(url)
    try:
        with engine.connect() as conn:
            major = int(str(conn.exec_driver_sql("SHOW server_version").scalar_one()).split(".")[0])
            if tools.postgres_tools(major) is not None:
                return []
            found = {
                what: [str(r) for r in conn.exec_driver_sql(sql.replace("%", "%%")).scalars()]
                for what, sql in _PG_BUILTIN_MISSES.items()
            }
    finally:
        engine.dispose()
    missing = [
        f"{what} ({', '.join(names[:5])}{', …' if len(names) > 5 else ''})" for what, names in found.items() if names
    ]
    if not missing:
        return [PreflightFinding("built-in copy", True, "no pg_dump: the built-in copy carries everything here")]
    return [
        PreflightFinding(
            "built-in copy",
            False,
            f"pg_dump {major} or newer is missing and the built-in copy does not carry {'; '.join(missing)}: "
            f"install the PostgreSQL client tools {major} (Debian: postgresql-client-{major})",
        )
    ]


def _pg_target(url: URL, kinds: set[str], source: URL) -> list[PreflightFinding]:
    findings: list[PreflightFinding] = []
    engine = _connect(url)
    try:
        with engine.connect() as conn:
            who = str(conn.exec_driver_sql("SELECT current_user").scalar_one())
            superuser = bool(
                conn.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar()
            )
            schema_ok = bool(conn.exec_driver_sql("SELECT has_schema_privilege('public', 'CREATE')").scalar())
            db_ok = bool(conn.exec_driver_sql("SELECT has_database_privilege(current_database(), 'CREATE')").scalar())
            findings.append(
                PreflightFinding(
                    "target can create tables",
                    schema_ok,
                    f"{who} can create in schema public"
                    if schema_ok
                    else f"{who} cannot create in the target's schema public (PostgreSQL 15 and later allow only the "
                    f"database owner): ALTER DATABASE {POSTGRESQL.quote(url.database or '')} OWNER TO "
                    f"{POSTGRESQL.quote(who)}, or GRANT CREATE ON SCHEMA public TO {POSTGRESQL.quote(who)}",
                )
            )
            missing: list[str] = []
            for kind in sorted(k for k in kinds if k.startswith("extension:")):
                name = kind.split(":", 1)[1]
                row = conn.execute(
                    sa.text(
                        "SELECT a.name, coalesce(bool_or(v.trusted), false) FROM pg_available_extensions a "
                        "LEFT JOIN pg_available_extension_versions v ON v.name = a.name WHERE a.name = :n "
                        "GROUP BY a.name"
                    ),
                    {"n": name},
                ).first()
                if row is None:
                    missing.append(f"{name} is not installed on the target server (install its package there)")
                elif not superuser and not (row[1] and db_ok):
                    missing.append(
                        f"{name} needs a superuser to create (or a trusted extension and CREATE on the database): "
                        f"CREATE EXTENSION {POSTGRESQL.quote(name)} in the target first, as a superuser"
                    )
            if missing:
                findings.append(PreflightFinding("target extensions", False, "; ".join(missing)))
            elif any(k.startswith("extension:") for k in kinds):
                findings.append(PreflightFinding("target extensions", True, "every extension can be created"))
    finally:
        engine.dispose()
    return findings


# ------------------------------------------------------------------------------------------ cross-engine


def _cross_engine(source: URL, target: URL) -> list[PreflightFinding]:
    from .crossengine import CopyFailed, plan

    try:
        report = plan(source, target)
    except CopyFailed as exc:
        return [PreflightFinding("cross-engine plan", False, exc.message)]
    findings = [PreflightFinding("target empty", False, b) for b in report.blockers]
    findings += [PreflightFinding("adapted on the way", True, str(a)) for a in report.adaptations]
    findings += [PreflightFinding("not carried", True, str(n)) for n in report.not_carried]
    if report.bulk_path == MYSQL.insert_path:
        findings.append(
            PreflightFinding(
                "LOCAL INFILE on the target",
                True,
                "the target server has local_infile off: rows go as multi-row INSERTs, about half as fast (turn "
                "it on with SET GLOBAL local_infile = 1 for the fast path)",
            )
        )
    return findings
