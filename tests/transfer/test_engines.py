"""The engine seam without a server: which engine a URL is, how it quotes, how URLs and driver errors show."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from changeover.core import engines
from changeover.core.engines import MYSQL, POSTGRESQL, SQLITE, UnsupportedEngine, display_url, driver_message


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("postgresql://u@h/d", POSTGRESQL),
        ("postgres://u@h/d", POSTGRESQL),
        ("postgresql+psycopg://u@h/d", POSTGRESQL),
        ("mariadb://u@h/d", MYSQL),
        ("mysql+pymysql://u@h/d", MYSQL),
        ("sqlite:////tmp/x.sqlite3", SQLITE),
        ("mysql", MYSQL),
        ("sqlite", SQLITE),
    ],
)
def test_of_knows_every_spelling(what: str, expected: engines.Engine) -> None:
    assert engines.of(what) is expected
    assert engines.of(sa.engine.make_url(what) if "://" in what else what) is expected


def test_of_a_connection_and_an_unknown_engine() -> None:
    engine = sa.create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            assert engines.of(conn) is SQLITE
    finally:
        engine.dispose()
    with pytest.raises(UnsupportedEngine, match="cannot handle oracle databases"):
        engines.of("oracle://u@h/d")


def test_every_engine_ships_its_driver_and_equals_its_name() -> None:
    assert engines.DRIVERS == {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "sqlite": "sqlite"}
    assert POSTGRESQL == "postgresql" and MYSQL != "postgresql" and f"{MYSQL}" == "mysql"
    assert {POSTGRESQL: 1}["postgresql"] == 1


def test_quoting_doubles_the_quote_and_qualifies_other_schemas() -> None:
    assert POSTGRESQL.quote('a"b') == '"a""b"'
    assert MYSQL.quote("a`b") == "`a``b`"
    assert POSTGRESQL.quote_table("sales.orders") == '"sales"."orders"'
    assert MYSQL.quote_table("a.b") == "`a.b`"  # one database, no schemas: the dot is part of the name
    assert SQLITE.quote_table("orders") == '"orders"'


def test_display_url_masks_every_secret_and_drops_the_driver() -> None:
    shown = display_url("postgresql+psycopg://app:s%40cret@db.internal:5432/app?sslpassword=k3y&sslmode=require")
    assert shown == "postgresql://app:•••@db.internal:5432/app?sslmode=require&sslpassword=•••"
    assert "s%40cret" not in shown and "k3y" not in shown
    assert display_url("mysql://app@db/app") == "mysql://app@db/app"
    assert display_url("sqlite:////srv/app.sqlite3") == "sqlite:////srv/app.sqlite3"


def test_driver_message_is_the_first_line_without_the_statement() -> None:
    engine = sa.create_engine("sqlite://")
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as caught:
            conn.execute(sa.text("SELECT * FROM missing_table WHERE secret = 'x'"))
    finally:
        engine.dispose()
    assert driver_message(caught.value) == "no such table: missing_table"
    assert driver_message(Exception(1146, "Table 'x' doesn't exist\nmore")) == "Table 'x' doesn't exist"
