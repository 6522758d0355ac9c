"""Alembic environment: runs on the connection Changeover hands over (see ``inventory.db``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from changeover.core import engines
from changeover.core.inventory.models import Base

config = context.config
connection = config.attributes.get("connection")


def _run(conn: Connection) -> None:
    context.configure(
        connection=conn,
        target_metadata=Base.metadata,
        render_as_batch=not engines.of(conn).alters_constraints,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.attributes["url"])
    with engine.begin() as conn:
        _run(conn)
