"""The inventory: created and stamped when new, migrated when old, refused when newer; all three backends."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import URL, make_url

from changeover.core.errors import InventoryError
from changeover.core.inventory.db import Inventory, alembic_config, create_inventory_engine, migrate
from changeover.core.inventory.models import Base
from changeover.core.workspace import Workspace

FIXTURES = Path(__file__).parents[1] / "fixtures"


def revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_default_inventory_lives_in_the_user_data_folder(platform_dirs: Path) -> None:
    ws = Workspace.open()
    try:
        assert ws.inventory.url.database is not None
        assert Path(ws.inventory.url.database).is_relative_to(platform_dirs)
        assert Path(ws.inventory.url.database).exists()
    finally:
        ws.close()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> URL:
    if request.param == "sqlite":
        return make_url(f"sqlite:///{tmp_path / 'inv.sqlite3'}")
    factory = request.getfixturevalue("make_postgres_db" if request.param == "postgresql" else "make_mysql_db")
    return factory("co_mig")  # type: ignore[no-any-return]


def test_migrations_build_exactly_the_models(empty_db_url: URL) -> None:
    """Running the migration scripts from nothing gives the schema the models describe."""
    engine = create_inventory_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            config = alembic_config(engine.url)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
        assert diffs == []
        migrate(engine)  # already at head: nothing to do, no error
    finally:
        engine.dispose()


def test_fresh_inventory_is_created_and_stamped(empty_db_url: URL) -> None:
    inventory = Inventory(empty_db_url)
    try:
        assert revision(inventory.engine) is not None
        assert set(sa.inspect(inventory.engine).get_table_names()) >= {"deploys", "resources", "attachments", "events"}
    finally:
        inventory.close()


def test_inventory_from_a_newer_changeover_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inv.sqlite3"
    Inventory(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(InventoryError, match="written by a newer Changeover"):
        Inventory(f"sqlite:///{path}")


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("inventory-*.sqlite3")))
def test_each_released_schema_upgrades_with_a_copy_first(fixture: str, tmp_path: Path) -> None:
    path = tmp_path / "inventory.sqlite3"
    shutil.copy(FIXTURES / fixture, path)
    ws = Workspace.open(f"sqlite:///{path}")
    try:
        assert [d.name for d in ws.list_deploys()] == ["shop"]
        assert ws.show_resource("shop-db").state == "attached"
        head = revision(ws.inventory.engine)
    finally:
        ws.close()
    released = fixture.removeprefix("inventory-").removesuffix(".sqlite3")
    if released != head:
        assert list(tmp_path.glob("inventory.sqlite3.before-migration-*")), "no copy was kept before migrating"


def test_unreachable_inventory_is_a_clear_error() -> None:
    with pytest.raises(InventoryError, match="Cannot open the inventory .* Check CHANGEOVER_DATABASE_URL"):
        Inventory("postgresql://nobody@127.0.0.1:1/none")


def test_garbage_inventory_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", "not a url")
    with pytest.raises(InventoryError, match="CHANGEOVER_DATABASE_URL is not a database URL"):
        Inventory()


def test_the_head_an_inventory_opens_at_without_alembic_is_the_migrations_head() -> None:
    from alembic.script import ScriptDirectory

    from changeover.core.inventory.db import HEAD

    assert ScriptDirectory.from_config(alembic_config(make_url("sqlite://"))).get_current_head() == HEAD


def test_an_inventory_at_the_head_opens_without_importing_alembic(tmp_path: Path) -> None:
    """The CLI's start-up: Alembic (and Mako) only load when there is something to migrate."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    Inventory(url).engine.dispose()  # created and stamped
    script = (
        "import sys\n"
        "from changeover.core.inventory.db import Inventory\n"
        f"Inventory({url!r}).engine.dispose()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako', 'boto3', 'botocore')))\n"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert shown.stdout.strip() == "[]", shown.stdout
