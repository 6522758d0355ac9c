"""The cross-engine copy on the real local servers: every pair of SQLite, MariaDB and PostgreSQL.

Each copy starts from the rich schema (tests/transfer/richschema.py) and must end with the target's checksums
equal to the ones computed from the expected rows alone, working sequences and foreign keys, and a plan
that names what was left behind.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from changeover.core import engines
from changeover.core.errors import Cancelled
from changeover.core.transfer.copy.schema import portable_check
from changeover.core.transfer.crossengine import CopyFailed, TargetNotEmpty, copy, plan
from changeover.core.transfer.verify import checksum_database, verify
from tests.transfer.helpers import PAIRS, Maker, scalar, tables_of
from tests.transfer.richschema import AUTO_ID, ROWS, TRIGGERS, VIEWS, create_rich_schema, expected_sums

pytestmark = pytest.mark.servers


@pytest.mark.parametrize(("source_engine", "target_engine"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_copy_carries_the_rich_schema(source_engine: str, target_engine: str, make_db: Maker) -> None:
    source, target = make_db(source_engine), make_db(target_engine)
    create_rich_schema(source)

    report = plan(source, target)
    left_behind = {n.name.split(" ")[0] for n in report.not_carried}
    assert set(VIEWS) <= left_behind and set(TRIGGERS) <= left_behind
    assert {n.what for n in report.not_carried} >= {"view", "trigger"}
    assert not report.blockers
    assert tables_of(target) == [], "plan() must write nothing"
    if "mysql" in (source_engine, target_engine):
        assert any(a.column == "active" for a in report.adaptations), "the boolean's change of type is reported"

    seen: list[tuple[int, int | None, str]] = []
    result = copy(source, target, progress=lambda d, t, u, m: seen.append((d, t, u)))

    assert result.rows == {t: len(rows) for t, rows in ROWS.items()}
    row_reports = [(d, t) for d, t, u in seen if u == "rows"]
    assert row_reports and all(t is not None and t > 0 for _, t in row_reports), "the total is known up front"
    assert row_reports[-1][0] == sum(len(r) for r in ROWS.values())
    # Equal data, computed from the expected values alone, and the same on both sides.
    assert checksum_database(target) == expected_sums()
    verify(source, target)

    # Sequences were moved past the highest id: a new row without an id gets the next one.
    for table in AUTO_ID:
        assert scalar(target, f"SELECT max(id) FROM {table}") == len(ROWS[table])
    scalar(target, "INSERT INTO counters (name, hits) VALUES ('new', 1)")
    scalar(target, "INSERT INTO authors (name, active, status) VALUES ('Newcomer', :a, 'live')", a=True)
    assert scalar(target, "SELECT id FROM authors WHERE name = 'Newcomer'") == len(ROWS["authors"]) + 1
    if target_engine != "sqlite":  # SQLite declares foreign keys but checks them only on request
        with pytest.raises(sa.exc.IntegrityError):
            scalar(target, "INSERT INTO books (author_id, title, pages) VALUES (99999, 'orphan', 1)")
    # A portable check constraint came along.
    with pytest.raises(sa.exc.IntegrityError if target_engine != "mysql" else sa.exc.OperationalError):
        scalar(target, "INSERT INTO books (author_id, title, pages) VALUES (1, 'negative', -1)")


def test_copy_refuses_a_non_empty_target_and_changes_nothing(make_db: Maker) -> None:
    source, target = make_db("sqlite"), make_db("postgresql")
    create_rich_schema(source)
    scalar(target, "CREATE TABLE keep (id integer PRIMARY KEY)")
    scalar(target, "INSERT INTO keep VALUES (7)")

    assert plan(source, target).blockers, "the plan shows the blocker before anything is tried"
    with pytest.raises(TargetNotEmpty) as caught:
        copy(source, target)

    assert "not empty" in caught.value.message and "nothing was changed" in caught.value.message
    assert "keep" in caught.value.message
    assert tables_of(target) == ["keep"]
    assert scalar(target, "SELECT count(*) FROM keep") == 1
    assert checksum_database(source) == expected_sums()


@pytest.mark.parametrize(("source_engine", "target_engine"), [("mysql", "postgresql"), ("postgresql", "mysql")])
def test_cancelled_copy_says_so_and_leaves_the_source_untouched(
    source_engine: str, target_engine: str, make_db: Maker
) -> None:
    source, target = make_db(source_engine), make_db(target_engine)
    create_rich_schema(source)
    cancel = threading.Event()

    def progress(done: int, total: int | None, unit: str, message: str) -> None:
        if unit == "rows" and done > 0:
            cancel.set()

    with pytest.raises(Cancelled) as caught:
        copy(source, target, progress=progress, cancel=cancel)

    message = caught.value.message
    assert "cancelled" in message and "unchanged" in message and "partial copy" in message
    assert checksum_database(source) == expected_sums()
    copied = sum(scalar(target, f"SELECT count(*) FROM {t}") for t in tables_of(target))
    assert copied < sum(len(r) for r in ROWS.values()), "the copy stopped before the end"
    for table in tables_of(target):  # droppable: nothing holds it
        scalar(target, f"DROP TABLE {table} CASCADE" if target_engine == "postgresql" else f"DROP TABLE {table}")
    if target_engine == "mysql":
        scalar(target, "SET FOREIGN_KEY_CHECKS = 1")
    assert tables_of(target) == []


def test_errors_never_show_the_password(make_db: Maker) -> None:
    target = make_db("postgresql")
    source = make_url("mysql+pymysql://root:Hunter2Secret@127.0.0.1:3306/mysql")
    with pytest.raises(CopyFailed) as caught:
        copy(source, target)
    assert "Hunter2Secret" not in caught.value.message
    assert "Hunter2Secret" not in str(caught.value)


def test_same_engine_is_sent_to_backup_and_load(make_db: Maker) -> None:
    with pytest.raises(Exception, match="backup and load"):
        plan(make_db("sqlite"), make_db("sqlite"))


@pytest.mark.parametrize(
    ("sql", "source", "target", "expected"),
    [
        (
            "status::text = ANY (ARRAY['a'::character varying, 'b'::character varying]::text[])",
            "postgresql",
            "mysql",
            "`status` IN ( 'a' , 'b' )",
        ),
        ("(pages >= 0)", "postgresql", "sqlite", '( "pages" >= 0 )'),
        ("`pages` > 0 AND `pages` < 10", "mysql", "postgresql", '"pages" > 0 AND "pages" < 10'),
        ("length(name) > 3", "sqlite", "postgresql", None),
        ("json_valid(`j`)", "mysql", "postgresql", None),
    ],
)
def test_portable_checks_are_rewritten_and_others_refused(
    sql: str, source: Any, target: Any, expected: str | None
) -> None:
    assert portable_check(sql, engines.of(source), engines.of(target)) == expected
