"""The verify step shows the source stayed as backed up: a write that slipped past maintenance after the
backup stops the switch (MariaDB: by when each table last changed, which sees an update too; elsewhere, and
for what those times cannot vouch for, by exact row counts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core.upgrade import procedure
from changeover.core.upgrade.procedure import RunEvent, UpgradeFailed
from changeover.core.upgrade.quiesce import change_marks, changed_since
from changeover.core.workspace import Workspace
from tests.waiting import wait_for

from .conftest import fill

pytestmark = pytest.mark.servers


def past_the_last_write(url: URL) -> None:
    """Wait until the server's clock is past the second its tables last changed (MariaDB keeps seconds), so
    that marks read from now on vouch for them; nothing to wait for on other engines."""
    marks = change_marks(url)
    if marks is None:
        return
    last = max((at for at in marks["tables"].values() if at is not None), default="")
    wait_for(f"the server's clock past {last}", lambda: (change_marks(url) or {"at": ""})["at"] > last)


def execute(url: URL, statement: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(statement))
    engine.dispose()


@pytest.mark.parametrize(
    ("engine", "write", "named"),
    [
        ("mysql", "UPDATE items SET name = 'changed' WHERE id = 7", "items (written at "),  # the same row count
        ("mysql", "INSERT INTO items (name) VALUES ('late')", "items (written at "),
        ("postgresql", "INSERT INTO items (name) VALUES ('late')", "items (rows)"),
        ("mysql", "CREATE TABLE sneaked_in (id int PRIMARY KEY)", "sneaked_in (new)"),
    ],
)
def test_a_write_to_the_source_after_its_backup_stops_the_switch(
    workspace: Workspace, tmp_path: Path, request: pytest.FixtureRequest, engine: str, write: str, named: str
) -> None:
    make: Callable[[], URL] = request.getfixturevalue("make_postgres_db" if engine == "postgresql" else "make_mysql_db")
    source, target = make(), make()
    fill(source)
    past_the_last_write(source)  # the fill's own second is over before the backup's marks are read
    env_file = tmp_path / "shop.env"
    env_file.write_text("# shop\n")
    workspace.add_deploy("shop", str(env_file), restart_cmd="true", maintenance_var="MAINTENANCE_MODE")
    workspace.register_resource("shop-db", source.render_as_string(hide_password=False))
    workspace.attach("shop-db", "shop")
    config = env_file.read_text()
    plan = procedure.plan_upgrade(workspace, "shop-db", to_handle=target.render_as_string(hide_password=False))
    run = procedure.start_upgrade(workspace, plan)

    def sink(event: RunEvent) -> None:
        if event.step == "backup" and event.state == "done":  # a writer maintenance mode did not stop
            execute(source, write)

    with pytest.raises(UpgradeFailed, match="changed after its backup") as caught:
        procedure.execute(workspace, run.id, on_event=sink)
    assert named in caught.value.message and "Nothing was switched" in caught.value.message
    after = procedure.show_run(workspace, run.id)
    assert after.state == "rolled_back" and not after.switched
    assert env_file.read_text() == config


def test_the_marks_vouch_only_for_what_they_can_tell(make_mysql_db: Callable[[], URL]) -> None:
    url = make_mysql_db()
    fill(url, 10)
    execute(url, "CREATE TABLE going (id int PRIMARY KEY)")
    marks = change_marks(url)
    assert marks is not None and set(marks["tables"]) == {"items", "going"}
    assert marks["tables"]["items"] is not None  # written since the server started
    assert changed_since(url, marks) == ([], [] if marks["tables"]["items"] < marks["at"] else ["items"])
    # read in the very second of the last write: a write later in that second would leave the same time
    same_second = {"at": marks["tables"]["items"], "tables": marks["tables"]}
    assert changed_since(url, same_second) == ([], ["items"])
    past_the_last_write(url)  # the changes below fall in a later second than the marks'
    execute(url, "DELETE FROM items WHERE id = 3")
    execute(url, "DROP TABLE going")
    changed, _uncertain = changed_since(url, marks)
    assert changed[0].startswith("going (dropped)") and changed[1].startswith("items (written at ")


def test_postgresql_keeps_no_such_marks(make_postgres_db: Callable[[], URL]) -> None:
    url = make_postgres_db()
    fill(url, 10)
    assert change_marks(url) is None
