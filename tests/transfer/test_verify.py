"""Checksums and verification on the real local servers.

Every engine's checksum of the rich schema equals the one computed from the expected values alone (so the
in-database normalisation and the Python one agree); verification finds a changed value, a missing row, a
NULL turned into an empty string and a sequence left behind, and names the table.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy.engine import URL, make_url

from changeover.core.errors import Cancelled
from changeover.core.transfer.verify import (
    DatabaseError,
    VerificationFailed,
    canonical_value,
    checksum_database,
    field_renderer,
    sequence_positions,
    verify,
)
from changeover.core.transfer.verify import checksums as verify_module
from tests.transfer.helpers import ENGINES, Maker, scalar
from tests.transfer.richschema import AUTO_ID, ROWS, create_rich_schema, expected_sums

pytestmark = pytest.mark.servers


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def twins(engine: str, make_db: Maker) -> tuple[URL, URL]:
    """Two databases of ``engine`` built identically from the rich schema."""
    first, second = make_db(engine), make_db(engine)
    create_rich_schema(first)
    create_rich_schema(second)
    return first, second


def test_each_engine_checksums_the_expected_values(engine: str, make_db: Maker) -> None:
    url = make_db(engine)
    create_rich_schema(url)
    seen: list[tuple[int, int | None]] = []

    sums = checksum_database(url, progress=lambda d, t, u, m: seen.append((d, t)))

    assert sums == expected_sums()
    total = sum(len(r) for r in ROWS.values())
    assert seen[0][1] is not None, "the total is known before the first row"
    if engine == "sqlite":
        assert seen[0][1] == total, "SQLite's total is an exact count"
    assert seen[-1][0] == seen[-1][1] == total


def test_checksums_are_chunked_along_the_key_and_still_equal(
    engine: str, make_db: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_db(engine)
    create_rich_schema(url)
    monkeypatch.setattr(verify_module, "CHUNK_ROWS", 7)  # many chunks, composite keys included
    assert checksum_database(url) == expected_sums()


def test_identical_databases_verify(twins: tuple[URL, URL]) -> None:
    report = verify(*twins)
    assert report.ok and {t.table for t in report.tables} == set(ROWS)
    assert all(t.sequence is not None for t in report.tables if t.table in AUTO_ID)


@pytest.mark.parametrize(
    ("change", "table", "problem"),
    [
        ("UPDATE books SET price = 19.9901 WHERE id = 1", "books", "different data"),
        ("UPDATE authors SET bio = NULL WHERE id = 1", "authors", "different data"),  # '' became NULL
        ("UPDATE tag_votes SET voter = 'Voter0' WHERE id = 1", "tag_votes", "different data"),
        ("DELETE FROM tag_votes WHERE id = 150", "tag_votes", "150 rows in the source, 149 in the target"),
    ],
)
def test_verification_names_the_table_that_differs(
    twins: tuple[URL, URL], change: str, table: str, problem: str
) -> None:
    source, target = twins
    scalar(target, change)

    with pytest.raises(VerificationFailed) as caught:
        verify(source, target)

    assert [t.table for t in caught.value.report.failed] == [table]
    assert table in caught.value.message and problem in caught.value.message


def test_a_sequence_behind_the_data_fails(make_db: Maker) -> None:
    source, target = make_db("postgresql"), make_db("postgresql")
    create_rich_schema(source)
    create_rich_schema(target)
    scalar(target, "SELECT setval(pg_get_serial_sequence('books', 'id'), 10)")

    assert sequence_positions(target)["books"].next_value == 11
    with pytest.raises(VerificationFailed) as caught:
        verify(source, target)

    assert [t.table for t in caught.value.report.failed] == ["books"]
    assert "would hand out 11, but 150 is used" in caught.value.message


def test_verification_across_engines_sees_a_changed_timestamp(make_db: Maker) -> None:
    source, target = make_db("mysql"), make_db("postgresql")
    create_rich_schema(source)
    create_rich_schema(target)
    verify(source, target)
    scalar(target, "UPDATE authors SET seen_at = seen_at + interval '1 microsecond' WHERE id = 2")
    with pytest.raises(VerificationFailed, match="authors"):
        verify(source, target)


def test_cancel_stops_the_checksum(make_db: Maker) -> None:
    url = make_db("postgresql")
    create_rich_schema(url)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        checksum_database(url, cancel=cancel)


def test_an_unreachable_database_is_reported_without_its_password() -> None:
    url = make_url("postgresql+psycopg://postgres:Sup3rSecret@127.0.0.1:1/nowhere")
    with pytest.raises(DatabaseError) as caught:
        checksum_database(url)
    assert "Sup3rSecret" not in caught.value.message and "127.0.0.1:1/nowhere" in caught.value.message


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("decimal", ["1.50", 1.5, "1.5000"]),
        ("float", [0.1 + 0.2, 0.3, "0.3"]),
        ("bool", [True, 1, "t"]),
        ("datetime_tz", ["2024-01-01 01:00:00+01:00", "2024-01-01 00:00:00", "2024-01-01T00:00:00Z"]),
        ("json", ['{"b": 1, "a": [1.50, 2]}', '{"a":[1.50,2],"b":1}']),
        ("bytes", [b"\x00\xff", "\x00\xff".encode("latin-1")]),
    ],
)
def test_equal_values_render_alike(kind: Any, values: list[Any]) -> None:
    assert len({canonical_value(kind, v) for v in values}) == 1


def test_null_and_empty_text_differ() -> None:
    assert canonical_value("text", None) != canonical_value("text", "")
    assert canonical_value("json", '{"a": 1.50}') != canonical_value("json", '{"a": 1.5}')  # jsonb keeps the scale


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("text", ["", "é😀", None, 12, b"bytes"]),
        ("int", [0, -5, 2**70, None, True, "7"]),
        ("datetime", ["2024-01-01 10:00:00.000000", "2024-01-01 10:00:00", "2024-01-01 10:00:00.000000+02:00"]),
        ("datetime_tz", ["2024-01-01 10:00:00.123456", "2024-01-01T10:00:00Z", None]),
        ("float", [2.0, -0.0, 1e15, 1e16, 0.1, None]),
        ("decimal", [4.5, 12.0, -0.0, 0.0, 1e-07, 1e22, 123456789.125, 7, "1.50", float("inf"), float("nan")]),
        ("datetime_tz", ["2024-01-01 10:00:00.123456+00:00", "2024-01-01 10:00:00.123456+01:00"]),
    ],
)
def test_shortcut_renderers_agree_with_the_canonical_form(kind: Any, values: list[Any]) -> None:
    render = field_renderer(kind)
    assert [render(v) for v in values] == [canonical_value(kind, v) for v in values]


def test_postgresql_tables_in_other_schemas_are_checked_and_copied_or_reported(
    make_postgres_db: Any, tmp_path: Any
) -> None:
    """A same-engine backup carries every schema, so verification checks every schema; a copy across
    engines carries the current one only, and says so before anything is written."""
    import sqlalchemy as sa

    from changeover.core.transfer import crossengine

    source, target = make_postgres_db("co_schemas_src"), make_postgres_db("co_schemas_dst")
    for url, rows in ((source, 3), (target, 2)):
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text('CREATE SCHEMA "Sales"'))
            conn.execute(sa.text('CREATE TABLE "Sales"."Orders" (id int PRIMARY KEY, total numeric(10, 2))'))
            conn.execute(
                sa.text('INSERT INTO "Sales"."Orders" SELECT g, g * 1.5 FROM generate_series(1, :n) g'), {"n": rows}
            )
        engine.dispose()

    sums = checksum_database(source)
    assert sums["Sales.Orders"].rows == 3
    with pytest.raises(VerificationFailed, match="Sales.Orders"):
        verify(source, target)

    report = crossengine.plan(source, f"sqlite:///{tmp_path / 'copy.sqlite3'}")
    assert [(n.what, n.name) for n in report.not_carried if n.what == "table"] == [("table", "Sales.Orders")]
