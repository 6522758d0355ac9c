"""The upgrade, end to end through the core API, of the corpus's realistic schemas.

Same engine: the new database holds the same rows, the same objects and every sequence at its position.
Across engines: the plan's report lists what is adapted and left behind, and the upgrade verifies.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from changeover.core.transfer.verify import sequence_states, verify
from changeover.core.upgrade import procedure
from changeover.core.workspace import Workspace
from tests.transfer.corpus import Corpus, catalog, mysql_corpus, pg_corpus
from tests.transfer.test_corpus_preflight import mysql_app_user

__all__ = ["mysql_app_user", "mysql_corpus", "pg_corpus"]

pytestmark = pytest.mark.servers


def handle(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def shop(ws: Workspace, tmp_path: Path, source: URL) -> Path:
    """A deploy using the corpus database; returns its .env."""
    env_file = tmp_path / "shop.env"
    env_file.write_text("# shop\nDEBUG=0\n")
    ws.add_deploy("shop", str(env_file), restart_cmd="true", maintenance_var="MAINTENANCE_MODE")
    ws.register_resource("corpus-db", handle(source))
    ws.attach("corpus-db", "shop")
    return env_file


def run(ws: Workspace, plan: procedure.UpgradePlan, env_file: Path, target: URL) -> procedure.RunInfo:
    assert plan.ok, [c for c in plan.checks if not c.ok]
    done = procedure.execute(ws, procedure.start_upgrade(ws, plan).id)
    assert done.state == "done", done.error
    assert f"DATABASE_URL={handle(target)}" in env_file.read_text()
    return done


def upgrade(ws: Workspace, tmp_path: Path, source: URL, target: URL) -> procedure.RunInfo:
    env_file = shop(ws, tmp_path, source)
    return run(ws, procedure.plan_upgrade(ws, "corpus-db", to_handle=handle(target)), env_file, target)


def test_postgres_corpus_upgrades_exactly(
    workspace: Workspace, tmp_path: Path, pg_corpus: Callable[[], Corpus], make_postgres_db: Callable[..., URL]
) -> None:
    corpus = pg_corpus()
    target = make_postgres_db("co_corpus_new")
    done = upgrade(workspace, tmp_path, corpus.url, target)
    # the foreign keys went in NOT VALID during the window and were validated after it: the catalog (which
    # prints NOT VALID in a key's definition) is the source's again
    keys = next(s for s in done.steps if s.name == "constraints")
    assert keys.state == "done" and keys.message.startswith("2 foreign keys validated"), keys.message
    load = next(s for s in done.steps if s.name == "load")
    assert {k["name"] for k in load.data["unchecked"]} == {"orders_customer_id_fkey", '"OrderItems_orderId_fkey"'}
    assert catalog(target) == catalog(corpus.url)
    assert sequence_states(target) == sequence_states(corpus.url)
    assert verify(corpus.url, target).ok


def test_mariadb_corpus_upgrades_exactly(
    workspace: Workspace, tmp_path: Path, mysql_corpus: Callable[[], Corpus], make_mysql_db: Callable[..., URL]
) -> None:
    corpus = mysql_corpus()
    target = make_mysql_db("co_corpus_new")
    done = upgrade(workspace, tmp_path, corpus.url, target)
    # MariaDB's keys are added without a scan (foreign_key_checks=0) and the copy is verified equal to the source
    assert next(s for s in done.steps if s.name == "constraints").message == "no foreign key left to validate"
    assert catalog(target) == catalog(corpus.url)
    assert sequence_states(target) == sequence_states(corpus.url)


def test_mariadb_corpus_upgrades_to_postgres_with_its_report(
    workspace: Workspace,
    tmp_path: Path,
    mysql_corpus: Callable[[], Corpus],
    make_postgres_db: Callable[..., URL],
) -> None:
    corpus = mysql_corpus()
    target = make_postgres_db("co_corpus_new")
    env_file = shop(workspace, tmp_path, corpus.url)
    plan = procedure.plan_upgrade(workspace, "corpus-db", to_handle=handle(target))
    assert plan.cross_engine
    assert any("zero date" in a for a in plan.adaptations) and any("view article_titles" in n for n in plan.not_carried)
    run(workspace, plan, env_file, target)
    assert verify(corpus.url, target).ok


def test_postgres_corpus_upgrades_to_mariadb_with_its_report(
    workspace: Workspace,
    tmp_path: Path,
    pg_corpus: Callable[[], Corpus],
    make_mysql_db: Callable[..., URL],
) -> None:
    corpus = pg_corpus()
    target = make_mysql_db("co_corpus_new")
    env_file = shop(workspace, tmp_path, corpus.url)
    plan = procedure.plan_upgrade(workspace, "corpus-db", to_handle=handle(target))
    assert plan.cross_engine
    assert any("±infinity" in a for a in plan.adaptations)
    assert any(n.startswith("partitioning measurements") for n in plan.not_carried)
    run(workspace, plan, env_file, target)
    assert verify(corpus.url, target).ok


def test_the_plan_refuses_definer_code_the_source_user_cannot_read(
    workspace: Workspace,
    tmp_path: Path,
    mysql_corpus: Callable[[], Corpus],
    make_mysql_db: Callable[..., URL],
    mysql_app_user: Callable[..., URL],
) -> None:
    """Before maintenance: the backup would stop on 'insufficient privileges to SHOW CREATE FUNCTION'."""
    corpus = mysql_corpus()
    target = make_mysql_db("co_corpus_new")
    app = mysql_app_user(corpus.url, target)
    shop(workspace, tmp_path, app)
    plan = procedure.plan_upgrade(workspace, "corpus-db", to_handle=handle(app.set(database=target.database)))
    failed = [c for c in plan.checks if not c.ok]
    assert not plan.ok and any("GRANT SELECT ON mysql.proc" in c.message for c in failed), plan.checks
