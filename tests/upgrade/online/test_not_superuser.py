"""An online upgrade whose source handle is the app's own user (REPLICATION, owner of its tables), not a superuser.

No role of the run's own can be made then: the subscription connects as the app's user, so its WAL sender is
a session of that user on the source, which the quiet wait in maintenance must not wait for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import URL

from changeover.core.replication.postgresql import STRATEGY
from changeover.core.upgrade import procedure
from tests.conftest import unique_name

from ..conftest import Kit, Writer, on_one_database, seed, text, wait_for
from .conftest import LogicalPostgres, left_on_source, left_on_target, sql

pytestmark = pytest.mark.servers


@pytest.fixture
def app_role(logical_postgres: LogicalPostgres) -> Iterator[str]:
    """A plain login role with REPLICATION on the source cluster (dropped after its databases are)."""
    role = unique_name("co_app")
    sql(logical_postgres.url, f'CREATE ROLE "{role}" LOGIN REPLICATION')
    yield role
    sql(logical_postgres.url, f'DROP ROLE IF EXISTS "{role}"')


def test_online_with_the_apps_own_replication_user(
    app_role: str, make_source_db: Callable[[str], URL], make_target_db: Callable[[str], URL], kit: Kit
) -> None:
    admin = make_source_db("co_online_own")
    sql(admin, f'ALTER DATABASE "{admin.database}" OWNER TO "{app_role}"')
    sql(admin, f'ALTER SCHEMA public OWNER TO "{app_role}"')
    source = admin.set(username=app_role)
    seed(source, 100)  # the app's tables, owned by the app's user
    target = make_target_db("co_online_own_dst")
    app = kit.app("shop", source)
    kit.deploy(app)
    plan = procedure.plan_upgrade(kit.ws, "shop-db", to_handle=text(target), route="online")
    assert plan.ok, [c for c in plan.checks if not c.ok]
    found = {r.name: r for r in STRATEGY.requirements(source, target)}
    assert found["replication role"].ok and "source's own credentials" in found["replication role"].detail
    with Writer(app) as writer:
        wait_for("a few writes", lambda: len(writer.acked) >= 5)
        run = procedure.execute(kit.ws, procedure.start_upgrade(kit.ws, plan).id)
        wait_for("the app on the new database", app.serving)
    assert run.state == "done"
    assert "role" not in run.steps[2].data["state"]  # no role of the run's own was made
    on_one_database(kit, app, plan.target_name, {**writer.acked})
    assert left_on_source(admin.set(database="postgres"), admin.database or "") == []
    assert left_on_target(target) == []
