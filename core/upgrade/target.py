"""Emptying a new database that an interrupted load left half-filled (it is ours: the run made or checked it)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _empty_postgres(conn: sa.Connection) -> None:
    """Every schema and extension the load made goes, whatever its name; ``public`` comes back empty.

    The database was empty when the run took it, so nothing here predates the run.
    """
    owner = conn.execute(sa.text("SELECT current_user")).scalar_one()
    for (extension,) in conn.execute(sa.text("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")).all():
        conn.execute(sa.text(f"DROP EXTENSION IF EXISTS {_quoted(extension)} CASCADE"))
    schemas = conn.execute(
        sa.text(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'"
        )
    ).all()
    for (schema,) in schemas:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {_quoted(schema)} CASCADE"))
    conn.execute(sa.text(f"CREATE SCHEMA public AUTHORIZATION {_quoted(owner)}"))


def empty_database(url: URL) -> None:
    """Drop everything in the database at ``url``, so a load can start again."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = Path(url.database or "")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    engine = sa.create_engine(url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                _empty_postgres(conn)
            else:
                conn.execute(sa.text("SET FOREIGN_KEY_CHECKS = 0"))
                for name, kind in conn.execute(
                    sa.text(
                        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                    )
                ).all():
                    keyword = "VIEW" if kind == "VIEW" else "TABLE"
                    conn.execute(sa.text(f"DROP {keyword} IF EXISTS `{name}`"))
                for name, kind in conn.execute(
                    sa.text(
                        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
                        "WHERE ROUTINE_SCHEMA = DATABASE()"
                    )
                ).all():
                    conn.execute(sa.text(f"DROP {kind} IF EXISTS `{name}`"))
                for (name,) in conn.execute(
                    sa.text("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()")
                ).all():
                    conn.execute(sa.text(f"DROP EVENT IF EXISTS `{name}`"))
    finally:
        engine.dispose()
