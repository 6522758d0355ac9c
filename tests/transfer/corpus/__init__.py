"""The corpus: realistic schemas, one SQL fixture per engine, loaded into a database a test made.

``postgres.sql`` and ``mariadb.sql`` hold the shapes real databases have and our own rich schema does
not (see the comment at the top of each). They are loaded with the engine's own client (``psql``,
``mariadb``), as a DBA would, into the empty database at a URL. The roles they name (the owner of some
routines, the DEFINER of views, routines and triggers) get unique names per test: the fixtures
:func:`pg_corpus` and :func:`mysql_corpus` create them and drop them afterwards.

:func:`catalog` lists what a database holds (tables, views, materialized views, functions, procedures,
triggers, sequences, types and domains, indexes, extensions) so a test compares two databases' objects,
and :func:`sequences` lists every sequence with its position.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from tests.conftest import unique_name

HERE = Path(__file__).parent
LONG_NAME = "customer_subscription_renewal_notification_preferences_by_region"


@dataclass(frozen=True)
class Corpus:
    url: URL  # the loaded database (admin credentials)
    role: str  # the other role: owner of routines (PostgreSQL), DEFINER (MariaDB)


def _run(argv: list[str], sql: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, input=sql.encode(), capture_output=True, env=env, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{argv[0]} failed loading the corpus: {done.stderr.decode(errors='replace')[:2000]}")


def load_postgres(url: URL, owner: str) -> None:
    sql = (HERE / "postgres.sql").read_text(encoding="utf-8").replace("__OWNER__", f'"{owner}"')
    env = {**os.environ, "PGPASSWORD": str(url.password or "")}
    _run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-o",
            os.devnull,
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            "-d",
            url.database or "",
        ],
        sql,
        env,
    )


def load_mariadb(url: URL, definer: str) -> None:
    sql = (HERE / "mariadb.sql").read_text(encoding="utf-8").replace("__DEFINER__", definer)
    argv = ["mariadb", "--batch", "--silent", "-h", url.host or "127.0.0.1", "-P", str(url.port or 3306)]
    argv += ["-u", url.username or "root", url.database or ""]
    env = {**os.environ, "MYSQL_PWD": str(url.password or "")}
    _run(argv, sql, env)


@pytest.fixture
def pg_corpus(make_postgres_db: Callable[..., URL], postgres_admin: sa.Engine) -> Iterator[Callable[[], Corpus]]:
    """A factory: a new database holding the PostgreSQL corpus (and the role owning some of it)."""
    made: list[Corpus] = []

    def make() -> Corpus:
        role = unique_name("co_dba")
        with postgres_admin.connect() as conn:
            conn.execute(sa.text(f'CREATE ROLE "{role}" NOLOGIN'))
        url = make_postgres_db("co_corpus")
        corpus = Corpus(url, role)
        made.append(corpus)
        load_postgres(url, role)
        return corpus

    yield make
    # The databases are dropped after this fixture (make_postgres_db was set up first): the role must let go
    # of its objects in them before it can be dropped.
    for corpus in made:
        for url in [corpus.url]:
            engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text(f'REASSIGN OWNED BY "{corpus.role}" TO CURRENT_USER'))
            except sa.exc.OperationalError:
                pass  # already dropped
            finally:
                engine.dispose()
        with postgres_admin.connect() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{corpus.role}"'))


@pytest.fixture
def mysql_corpus(make_mysql_db: Callable[..., URL], mysql_admin: sa.Engine) -> Iterator[Callable[[], Corpus]]:
    """A factory: a new database holding the MariaDB corpus (its stored code defined by another account)."""
    accounts: list[str] = []

    def make() -> Corpus:
        account = unique_name("co_dba")
        with mysql_admin.connect() as conn:
            conn.execute(sa.text(f"CREATE USER '{account}'@'%' IDENTIFIED BY 'not-used-{account}'"))
        accounts.append(account)
        url = make_mysql_db("co_corpus")
        with mysql_admin.connect() as conn:
            conn.execute(sa.text(f"GRANT ALL ON `{url.database}`.* TO '{account}'@'%'"))
        load_mariadb(url, account)
        return Corpus(url, account)

    yield make
    with mysql_admin.connect() as conn:
        for account in accounts:
            conn.execute(sa.text(f"DROP USER IF EXISTS '{account}'@'%'"))


def scalar(url: URL, sql: str, **params: Any) -> Any:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


_PG_CATALOG = {
    "table": """SELECT c.relname || ' ' || c.relkind::text || CASE WHEN c.relispartition
                    THEN ' partition ' || pg_get_expr(c.relpartbound, c.oid) ELSE '' END
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')""",
    "inherits": """SELECT i.inhrelid::regclass::text || ' inherits ' || i.inhparent::regclass::text FROM pg_inherits i
                   JOIN pg_class c ON c.oid = i.inhrelid WHERE NOT c.relispartition""",
    "column": """SELECT table_name || '.' || column_name || ' ' || format_type(a.atttypid, a.atttypmod)
                    || ' null=' || is_nullable || ' default=' || coalesce(column_default, '-')
                    || ' generated=' || coalesce(generation_expression, '-') || ' identity=' || is_identity
                 FROM information_schema.columns ic
                 JOIN pg_attribute a ON a.attrelid = format('%I.%I', ic.table_schema, ic.table_name)::regclass
                      AND a.attname = ic.column_name
                 WHERE table_schema = 'public'""",
    "constraint": """SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
                     FROM pg_constraint WHERE connamespace = 'public'::regnamespace""",
    "view": "SELECT viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'",
    "matview": "SELECT matviewname || ' ' || definition FROM pg_matviews WHERE schemaname = 'public'",
    "routine": """SELECT p.prokind::text || ' ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') '
                     || pg_get_functiondef(p.oid) FROM pg_proc p
                  WHERE p.pronamespace = 'public'::regnamespace AND NOT EXISTS
                  (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')""",
    "trigger": "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal",
    "sequence": """SELECT c.relname || ' ' || format_type(s.seqtypid, NULL) || ' start ' || s.seqstart || ' by '
                      || s.seqincrement || ' ' || s.seqmin || '..' || s.seqmax || ' cache ' || s.seqcache
                   FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
                   WHERE c.relnamespace = 'public'::regnamespace""",
    "type": """SELECT t.typname || ' ' || t.typtype::text || ' '
                  || coalesce(format_type(t.typbasetype, t.typtypmod), '')
                  || ' ' || coalesce((SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum
                                      WHERE enumtypid = t.oid), '')
                  || ' ' || coalesce((SELECT string_agg(pg_get_constraintdef(oid), ',') FROM pg_constraint
                                      WHERE contypid = t.oid), '')
               FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('d', 'e')
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')""",
    "index": "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "extension": "SELECT extname || ' ' || extversion FROM pg_extension",
}

_MYSQL_CATALOG = {
    "table": "SELECT CONCAT(TABLE_NAME, ' ', TABLE_TYPE, ' ', ENGINE, ' ', TABLE_COLLATION) "
    "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
    "column": "SELECT CONCAT_WS(' ', TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, "
    "IFNULL(COLUMN_DEFAULT, '-'), EXTRA, IFNULL(GENERATION_EXPRESSION, '-'), IFNULL(COLLATION_NAME, '-')) "
    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()",
    "index": "SELECT CONCAT_WS(' ', TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, INDEX_TYPE, "
    "IFNULL(SUB_PART, '-'), IFNULL(COLLATION, '-')) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()",
    "foreign key": "SELECT CONCAT_WS(' ', r.TABLE_NAME, r.CONSTRAINT_NAME, r.REFERENCED_TABLE_NAME, "
    "r.UNIQUE_CONSTRAINT_NAME, r.UPDATE_RULE, r.DELETE_RULE, k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME) "
    "FROM information_schema.REFERENTIAL_CONSTRAINTS r JOIN information_schema.KEY_COLUMN_USAGE k "
    "ON k.CONSTRAINT_SCHEMA = r.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = r.CONSTRAINT_NAME "
    "AND k.TABLE_NAME = r.TABLE_NAME WHERE r.CONSTRAINT_SCHEMA = DATABASE()",
    "constraint": "SELECT CONCAT_WS(' ', TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE) "
    "FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = DATABASE()",
    "check": "SELECT CONCAT_WS(' ', TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE) "
    "FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()",
    "view": "SELECT CONCAT_WS(' ', TABLE_NAME, SECURITY_TYPE, VIEW_DEFINITION) FROM information_schema.VIEWS "
    "WHERE TABLE_SCHEMA = DATABASE()",
    "routine": "SELECT CONCAT_WS(' ', ROUTINE_TYPE, ROUTINE_NAME, SECURITY_TYPE, SQL_DATA_ACCESS, ROUTINE_DEFINITION) "
    "FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()",
    "trigger": "SELECT CONCAT_WS(' ', TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, "
    "ACTION_STATEMENT) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
}


def catalog(url: URL) -> dict[str, list[str]]:
    """What the database holds, by kind, each object as one line of its definition (sorted), with the
    database's own name replaced by ``<db>`` so two databases compare. Owners and DEFINERs are left out:
    a load makes the loading account their owner (see :func:`definers`)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    queries = _PG_CATALOG if engine.dialect.name == "postgresql" else _MYSQL_CATALOG
    found: dict[str, list[str]] = {}
    try:
        with engine.connect() as conn:
            for kind, sql in queries.items():
                rows = conn.exec_driver_sql(sql.replace("%", "%%")).scalars()
                found[kind] = sorted(str(r).replace(url.database or "", "<db>") for r in rows)
            if engine.dialect.name != "postgresql":
                sequences = conn.exec_driver_sql(
                    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                    "AND TABLE_TYPE = 'SEQUENCE'"
                ).scalars()
                found["sequence"] = sorted(
                    str(conn.exec_driver_sql(f"SHOW CREATE SEQUENCE `{name}`").one()[1]) for name in list(sequences)
                )
    finally:
        engine.dispose()
    return found


def definers(url: URL) -> dict[str, str]:
    """MariaDB: each view's, routine's and trigger's DEFINER."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT TABLE_NAME, DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() "
                "UNION ALL SELECT ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES "
                "WHERE ROUTINE_SCHEMA = DATABASE() "
                "UNION ALL SELECT TRIGGER_NAME, DEFINER FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE()"
            ).all()
    finally:
        engine.dispose()
    return {str(name): str(who) for name, who in rows}
