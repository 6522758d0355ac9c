"""PostgreSQL foreign keys restored NOT VALID during an upgrade's window and validated after it
(core/transfer/foreign_keys.py), against the real local server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core.engines import open_engine
from changeover.core.transfer.backup import BackupParams, backup
from changeover.core.transfer.foreign_keys import ForeignKey, ForeignKeyViolated, validate
from changeover.core.transfer.load import LoadParams, load

pytestmark = pytest.mark.servers

SCHEMA = [
    "CREATE TABLE customers (id int PRIMARY KEY)",
    "CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id))",
    # MixedCase and a space in the table, the key's name and a column; a cascade and a deferrable key
    'CREATE TABLE "Order Lines" (id int PRIMARY KEY, "Order Id" int, '
    'CONSTRAINT "Lines Of Order" FOREIGN KEY ("Order Id") REFERENCES orders (id) '
    "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED)",
    # a partitioned table's key: PostgreSQL 15 refuses NOT VALID there, so the restore checks it
    "CREATE TABLE events (id int, customer_id int REFERENCES customers (id), at date NOT NULL) PARTITION BY RANGE (at)",
    "CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
    # a key the source holds NOT VALID (an orphan row is there): it must stay so, never be validated
    "CREATE TABLE notes (id int PRIMARY KEY, order_id int)",
    "INSERT INTO customers SELECT g FROM generate_series(1, 50) g",
    "INSERT INTO orders SELECT g, 1 + g % 50 FROM generate_series(1, 200) g",
    'INSERT INTO "Order Lines" SELECT g, 1 + g % 200 FROM generate_series(1, 1000) g',
    "INSERT INTO events SELECT g, 1 + g % 50, DATE '2026-03-01' FROM generate_series(1, 100) g",
    "INSERT INTO notes VALUES (1, 1), (2, 99999)",
    "ALTER TABLE notes ADD CONSTRAINT notes_order FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID",
]

KEYS = """
SELECT c.conrelid::regclass::text AS tab, c.conname, c.convalidated FROM pg_constraint c
WHERE c.contype = 'f' AND c.conparentid = 0 ORDER BY 1, 2
"""


def _keys(url: URL) -> dict[tuple[str, str], bool]:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return {(r.tab, r.conname): r.convalidated for r in conn.execute(sa.text(KEYS))}
    finally:
        engine.dispose()


def _execute(url: URL, *statements: str) -> None:
    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


@pytest.fixture
def loaded(make_postgres_db: Callable[[str], URL]) -> tuple[URL, URL, tuple[ForeignKey, ...]]:
    source, target = make_postgres_db("co_fk"), make_postgres_db("co_fk")
    _execute(source, *SCHEMA)
    result = backup(BackupParams(source, resource="fk"))
    loaded = load(LoadParams(result.folder, target, defer_foreign_keys=True))
    return source, target, loaded.unchecked


def test_keys_go_in_unchecked_and_are_validated_later(loaded: tuple[URL, URL, tuple[ForeignKey, ...]]) -> None:
    source, target, unchecked = loaded
    before = _keys(target)
    assert {(k.table, k.name) for k in unchecked} == {
        ("public.orders", "orders_customer_id_fkey"),
        ('public."Order Lines"', '"Lines Of Order"'),
    }
    assert before[("orders", "orders_customer_id_fkey")] is False
    assert before[('"Order Lines"', "Lines Of Order")] is False
    assert before[("events", "events_customer_id_fkey")] is True  # partitioned: checked by the restore
    assert before[("notes", "notes_order")] is False  # as the source holds it

    # unchecked, yet enforced on every new row at once
    with pytest.raises(sa.exc.IntegrityError):
        _execute(target, "INSERT INTO orders VALUES (9999, 424242)")

    seen: list[tuple[int, int | None, str]] = []
    assert validate(target, list(unchecked), lambda d, t, u, m: seen.append((d, t, m))) == 2
    assert _keys(target) == _keys(source)  # every key as valid as the source's, notes_order still not
    assert any("Lines Of Order" in m for _d, _t, m in seen)
    assert validate(target, list(unchecked), lambda *a: None) == 0  # idempotent: a resumed step reads nothing


def test_a_broken_key_is_named_with_the_way_out(loaded: tuple[URL, URL, tuple[ForeignKey, ...]]) -> None:
    _source, target, unchecked = loaded
    # an orphan row slipped past the key (what a source loaded with triggers off can hold)
    _execute(target, "SET LOCAL session_replication_role = replica", "INSERT INTO orders VALUES (9999, 424242)")
    with pytest.raises(ForeignKeyViolated) as caught:
        validate(target, list(unchecked), lambda *a: None)
    assert "orders_customer_id_fkey on public.orders" in caught.value.message
    assert "resume the run" in caught.value.message
    assert "424242" not in caught.value.message  # the row's values are not repeated
    assert _keys(target)[("orders", "orders_customer_id_fkey")] is False


def test_a_plain_load_checks_every_key(make_postgres_db: Callable[[str], URL]) -> None:
    source, target = make_postgres_db("co_fk"), make_postgres_db("co_fk")
    _execute(source, *SCHEMA)
    result = backup(BackupParams(source, resource="fk"))
    assert load(LoadParams(result.folder, target)).unchecked == ()
    assert _keys(target) == _keys(source)
