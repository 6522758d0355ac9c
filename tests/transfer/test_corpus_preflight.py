"""Pre-flight on the corpus: what would fail for lack of privilege is found before anything changes.

The accounts here are what a real deploy has: an application user with every right on its own database
and nothing else, while a DBA's account defined the stored code.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core.transfer import tools
from changeover.core.transfer.backup import BackupParams, backup
from changeover.core.transfer.load import LoadParams, load
from changeover.core.transfer.preflight import PreflightFinding, check_source
from tests.conftest import unique_name
from tests.transfer.corpus import Corpus, mysql_corpus, pg_corpus, scalar

__all__ = ["mysql_corpus", "pg_corpus"]

Account = Callable[[URL], URL]


def by_name(findings: list[PreflightFinding], name: str) -> list[PreflightFinding]:
    found = [f for f in findings if f.name == name]
    assert found, f"no finding {name!r} in {[str(f) for f in findings]}"
    return found


@pytest.fixture
def mysql_app_user(mysql_admin: sa.Engine) -> Iterator[Callable[..., URL]]:
    """An application account with ALL on the databases named, and nothing else; dropped afterwards."""
    made: list[str] = []

    def make(*urls: URL, privileges: str = "ALL") -> URL:
        user, password = unique_name("co_app"), secrets.token_hex(8)
        with mysql_admin.connect() as conn:
            conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"))
            for url in urls:
                conn.execute(sa.text(f"GRANT {privileges} ON `{url.database}`.* TO '{user}'@'%'"))
        made.append(user)
        return urls[0].set(username=user, password=password)

    yield make
    with mysql_admin.connect() as conn:
        for user in made:
            conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))


@pytest.fixture
def pg_app_user(postgres_admin: sa.Engine) -> Iterator[Callable[..., URL]]:
    made: list[tuple[str, list[URL]]] = []

    def make(*urls: URL) -> URL:
        user, password = unique_name("co_app"), secrets.token_hex(8)
        with postgres_admin.connect() as conn:
            conn.execute(sa.text(f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'"))
        made.append((user, list(urls)))
        return urls[0].set(username=user, password=password)

    yield make
    for user, urls in made:
        for url in urls:
            engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text(f'DROP OWNED BY "{user}"'))
            finally:
                engine.dispose()
        with postgres_admin.connect() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{user}"'))


def admin_execute(url: URL, *statements: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def test_definer_code_unreadable_by_the_app_user_is_found_with_its_grant(
    mysql_corpus: Callable[[], Corpus],
    make_mysql_db: Callable[..., URL],
    mysql_app_user: Callable[..., URL],
    mysql_admin: sa.Engine,
    tmp_path: Path,
) -> None:
    corpus = mysql_corpus()
    target = make_mysql_db("co_corpus_copy")
    app = mysql_app_user(corpus.url, target)
    findings = check_source(app, app.set(database=target.database))

    (definitions,) = by_name(findings, "source definitions readable")
    assert not definitions.ok
    user = app.username
    assert f"GRANT SELECT ON mysql.proc TO '{user}'@'%'" in definitions.detail
    assert "function article_count" in definitions.detail and "procedure forget_lines" in definitions.detail
    assert corpus.role in definitions.detail and "admin credentials" in definitions.detail
    assert app.password not in str(findings)
    # the finding is real: the backup with this account stops exactly there
    with pytest.raises(tools.TransferError, match="insufficient privileges to SHOW CREATE FUNCTION"):
        backup(BackupParams(app, folder=tmp_path / "first"))
    # and its fix is the fix: granted, pre-flight passes and so does the backup
    with mysql_admin.connect() as conn:
        conn.execute(sa.text(f"GRANT SELECT ON mysql.proc TO '{user}'@'%'"))
    assert by_name(check_source(app), "source definitions readable")[0].ok
    backup(BackupParams(app, folder=tmp_path / "second"))


def test_a_target_user_that_cannot_create_routines_and_triggers_is_found(
    mysql_corpus: Callable[[], Corpus], make_mysql_db: Callable[..., URL], mysql_app_user: Callable[..., URL]
) -> None:
    corpus = mysql_corpus()
    target = make_mysql_db("co_corpus_copy")
    loader = mysql_app_user(target, privileges="SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER")
    findings = check_source(corpus.url, loader)
    (create,) = by_name(findings, "target can create the source's objects")
    assert not create.ok
    assert "GRANT CREATE ROUTINE, CREATE VIEW, TRIGGER ON" in create.detail
    assert f"`{target.database}`.* TO '{loader.username}'@'%'" in create.detail
    assert by_name(findings, "LOCAL INFILE on the target")[0].ok
    # the probes left the target empty
    engine = sa.create_engine(target, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            assert (
                conn.exec_driver_sql(
                    "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                ).scalar()
                == 0
            )
    finally:
        engine.dispose()


def test_postgres_tables_the_user_cannot_read_and_other_owners_are_found(
    pg_corpus: Callable[[], Corpus],
    make_postgres_db: Callable[..., URL],
    pg_app_user: Callable[..., URL],
) -> None:
    corpus = pg_corpus()
    target = make_postgres_db("co_corpus_copy")
    app = pg_app_user(corpus.url, target)
    admin_execute(corpus.url, f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{app.username}"')
    admin_execute(corpus.url, f'REVOKE SELECT ON customers FROM "{app.username}"')
    findings = check_source(app, app.set(database=target.database))
    (readable,) = by_name(findings, "source readable")
    assert not readable.ok
    assert "cannot read public.customers, public.events_id_seq" in readable.detail
    role = f'"{app.username}"'
    assert f'GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO {role}' in readable.detail
    assert f'GRANT SELECT ON ALL SEQUENCES IN SCHEMA "public" TO {role}' in readable.detail
    assert corpus.role in by_name(findings, "owners")[0].detail
    # PostgreSQL 15: only the database owner creates in public; citext is trusted but needs CREATE on the database
    (tables,) = by_name(findings, "target can create tables")
    assert not tables.ok and f'ALTER DATABASE "{target.database}" OWNER TO "{app.username}"' in tables.detail
    (extensions,) = by_name(findings, "target extensions")
    assert not extensions.ok and 'CREATE EXTENSION "citext"' in extensions.detail


def test_cross_engine_preflight_lists_what_the_path_does_not_carry(
    pg_corpus: Callable[[], Corpus], make_mysql_db: Callable[..., URL]
) -> None:
    corpus = pg_corpus()
    target = make_mysql_db("co_corpus_copy")
    findings = check_source(corpus.url, target, cross_engine=True)
    left = {f.detail.split(":")[0] for f in by_name(findings, "not carried")}
    assert {"view customer_totals", "trigger events_logged on events", "routine customer_total()"} <= left
    assert all(f.ok for f in findings if f.name == "not carried")


def test_without_pg_dump_preflight_names_what_the_built_in_copy_would_lose(
    pg_corpus: Callable[[], Corpus],
    make_postgres_db: Callable[..., URL],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    corpus = pg_corpus()
    monkeypatch.setattr(tools, "find_tool", lambda name: None)  # a machine without the client tools
    (builtin,) = by_name(check_source(corpus.url), "built-in copy")
    assert not builtin.ok
    assert "domains (email, positive_int)" in builtin.detail and "partitioned tables (measurements)" in builtin.detail
    assert "materialized views (mood_counts)" in builtin.detail and "extensions (citext)" in builtin.detail
    major = str(scalar(corpus.url, "SHOW server_version")).split(".")[0]
    assert builtin.detail.endswith(f"install the PostgreSQL client tools {major} (Debian: postgresql-client-{major})")
    # the finding is real: the built-in copy fails on this schema
    result = backup(BackupParams(corpus.url, folder=tmp_path / "backup"))
    with pytest.raises(tools.TransferError, match="positive_int"):
        load(LoadParams(result.folder, make_postgres_db("co_corpus_copy")))
