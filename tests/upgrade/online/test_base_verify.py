"""The base copy is checked against the source *at the replication slot's snapshot*, while the app writes on."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from sqlalchemy.engine import URL

from changeover.core.jobs import no_progress
from changeover.core.replication.postgresql import STRATEGY
from changeover.core.transfer.verify import VerificationFailed

from .conftest import conninfo, sql

pytestmark = pytest.mark.servers

TABLE = "CREATE TABLE t (id INT PRIMARY KEY, v TEXT NOT NULL)"
ROWS = "INSERT INTO t SELECT g, 'value ' || g FROM generate_series(1, 100) g"


def test_the_base_is_compared_with_the_source_as_of_the_snapshot(
    make_source_db: Callable[[str], URL], make_target_db: Callable[[str], URL]
) -> None:
    source, target = make_source_db("co_online_bv"), make_target_db("co_online_bv_dst")
    for url in (source, target):
        sql(url, TABLE)
        sql(url, ROWS)
    with psycopg.connect(conninfo(source)) as holder:  # holds the snapshot, as the slot's connection does
        holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        row = holder.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        snapshot = str(row[0])
        sql(source, "UPDATE t SET v = 'changed after the snapshot' WHERE id = 5")  # the app goes on writing
        sql(source, "INSERT INTO t VALUES (101, 'new')")

        said = STRATEGY._verify_base(source, target, snapshot, no_progress, None)
        assert said == "base verified: 1 tables, 100 rows equal to the source at the snapshot"

        sql(target, "UPDATE t SET v = 'damaged' WHERE id = 7")
        with pytest.raises(VerificationFailed, match="same row count but different data"):
            STRATEGY._verify_base(source, target, snapshot, no_progress, None)
