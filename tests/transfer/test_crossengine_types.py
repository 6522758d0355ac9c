"""Types beyond the rich schema, and MariaDB's slower data path, each copied and verified for real."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import URL

from changeover.core import engines
from changeover.core.transfer.crossengine import copy, plan
from changeover.core.transfer.verify import checksum_database, verify
from tests.transfer.helpers import Maker, scalar
from tests.transfer.richschema import create_rich_schema, expected_sums

pytestmark = pytest.mark.servers


def _run_all(url: URL, statements: list[str]) -> None:
    for statement in statements:
        scalar(url, statement)


MYSQL_ODD = [
    """CREATE TABLE odd (
        id bigint unsigned AUTO_INCREMENT PRIMARY KEY,
        flag bit(1), small tinyint unsigned, medium mediumint, huge bigint unsigned,
        tags set('red', 'green', 'blue'), yr year, code char(3), raw varbinary(16), body mediumtext,
        ratio float, d date
    ) DEFAULT CHARSET=utf8mb4""",
    """INSERT INTO odd (flag, small, medium, huge, tags, yr, code, raw, body, ratio, d) VALUES
        (b'1', 255, -8388608, 18446744073709551615, 'red,blue', 2024, 'abc', x'00ff10', REPEAT('ü', 70000), 1.1,
         '2024-02-29'),
        (b'0', 0, 8388607, 0, '', 1999, 'x', '', '', -0.5, NULL),
        (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)""",
]

POSTGRES_ODD = [
    """CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')""",
    """CREATE TABLE odd (
        id bigserial PRIMARY KEY, u uuid UNIQUE, nums integer[], span interval, feeling mood NOT NULL,
        big numeric, note text, at timestamptz DEFAULT now(), n smallint DEFAULT 7
    )""",
    """INSERT INTO odd (u, nums, span, feeling, big, note, at) VALUES
        ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,2,3}', '1 day 02:03:04', 'happy',
         123456789012345678901234567890.123456789, 'ß', '2024-02-29 23:30:00-05'),
        (NULL, '{}', NULL, 'sad', 0.000001, '', NULL)""",
]


@pytest.mark.parametrize("target_engine", ["postgresql", "sqlite"])
def test_mysql_odd_types_copy_and_verify(target_engine: str, make_db: Maker) -> None:
    source, target = make_db("mysql"), make_db(target_engine)
    _run_all(source, MYSQL_ODD)

    report = plan(source, target)
    adapted = {a.column: a for a in report.adaptations}
    assert {"small", "huge", "id", "tags"} <= set(adapted), report.lines()
    assert adapted["huge"].to_type == ("NUMERIC(20, 0)" if target_engine == "postgresql" else "VARCHAR(20)")

    copy(source, target)

    verify(source, target)
    assert int(scalar(target, "SELECT huge FROM odd WHERE id = 1")) == 18446744073709551615
    scalar(target, "INSERT INTO odd (code) VALUES ('new')")
    assert scalar(target, "SELECT id FROM odd WHERE code = 'new'") == 4


@pytest.mark.parametrize("target_engine", ["mysql", "sqlite"])
def test_postgres_odd_types_copy_and_verify(target_engine: str, make_db: Maker) -> None:
    source, target = make_db("postgresql"), make_db(target_engine)
    _run_all(source, POSTGRES_ODD)

    report = plan(source, target)
    adapted = {a.column for a in report.adaptations}
    assert {"u", "nums", "span", "feeling"} <= adapted, report.lines()

    copy(source, target)

    verify(source, target)
    scalar(target, "INSERT INTO odd (feeling) VALUES ('ok')")
    assert scalar(target, "SELECT n FROM odd WHERE id = 3") == 7, "a literal default is carried"
    with pytest.raises(Exception, match="(?i)constraint|check"):
        scalar(target, "INSERT INTO odd (feeling) VALUES ('angry')")


def test_mariadb_without_local_infile_takes_multi_row_inserts(make_db: Maker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers that forbid LOAD DATA LOCAL still get a bulk path, not row-by-row inserts."""
    monkeypatch.setattr(engines.MYSQL, "bulk_path_on", lambda conn: engines.MYSQL.insert_path)
    source, target = make_db("postgresql"), make_db("mysql")
    create_rich_schema(source)

    result = copy(source, target)

    assert "INSERT" in result.report.bulk_path
    assert checksum_database(target) == expected_sums()
