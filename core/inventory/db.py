"""Open the inventory, migrating it with Alembic at start-up.

Where it lives comes from ``CHANGEOVER_DATABASE_URL``; the default is a SQLite file in the user data
folder. A fresh database is created from the models and stamped; an older one is copied (SQLite) and
upgraded; one written by a newer Changeover is refused.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .. import engines, paths
from ..errors import InventoryError
from .models import Base

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
ENV_VAR = "CHANGEOVER_DATABASE_URL"
#: the newest migration's revision: an inventory already there opens without importing Alembic (a third of
#: the CLI's start-up); tests/core/test_inventory.py checks that it is the migrations' head
HEAD = "0007"


def inventory_url(explicit: str | None = None) -> URL:
    text = explicit or os.environ.get(ENV_VAR) or paths.default_inventory_url()
    try:
        url = make_url(text)
    except ArgumentError:
        raise InventoryError(
            f"{ENV_VAR} is not a database URL: use sqlite:////path/inventory.sqlite3 or postgresql://user@host/dbname.",
        ) from None
    try:
        engine = engines.of(url.get_backend_name())
    except engines.UnsupportedEngine as exc:
        raise InventoryError(f"{ENV_VAR}: {exc.message}") from None
    if "+" not in url.drivername:  # a bare scheme: the driver Changeover ships
        url = url.set(drivername=engine.driver)
    return url


def alembic_config(url: URL) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    return config


def create_inventory_engine(url: URL) -> Engine:
    if engines.of(url).file_based:
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the inventory to the newest schema, refusing one from a newer Changeover."""
    if _revision(engine) == HEAD:
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(engine.url))
    head = script.get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        has_tables = inspect(connection).has_table("deploys")
    if current == head:
        return
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise InventoryError(
            f"The inventory at {engine.url.render_as_string(hide_password=True)} was written by a newer "
            "Changeover (schema revision {current}); upgrade Changeover to open it.".replace("{current}", current),
        )
    config = alembic_config(engine.url)
    if current is None and not has_tables:
        Base.metadata.create_all(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.stamp(config, "head")
        logger.info("created a new inventory at revision %s", head)
        return
    _copy_before_migrating(engine.url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    logger.info("migrated the inventory from %s to %s", current, head)


def _revision(engine: Engine) -> str | None:
    """The revision the inventory is stamped with, None for a new one (no version table yet)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _copy_before_migrating(url: URL) -> None:
    if not engines.of(url).file_based or not url.database:
        return
    source = Path(url.database)
    if source.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        shutil.copy2(source, source.with_name(f"{source.name}.before-migration-{stamp}"))


class Inventory:
    """An opened, migrated inventory: hands out sessions."""

    def __init__(self, url: str | URL | None = None) -> None:
        self.url = url if isinstance(url, URL) else inventory_url(url)
        self.engine = create_inventory_engine(self.url)
        try:
            migrate(self.engine)
        except OperationalError as exc:
            self.engine.dispose()
            raise InventoryError(
                f"Cannot open the inventory at {self.location}: {exc.orig.__class__.__name__}. "
                f"Check {ENV_VAR} and that the database server is running.",
            ) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def location(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def session(self) -> Session:
        return self._sessions()

    def close(self) -> None:
        self.engine.dispose()
