"""Cross-engine copies of the corpus: every value is carried exactly or listed in the report first.

The report (:func:`crossengine.plan`, which writes nothing) must list every adaptation and omission the
corpus calls for, no more and no fewer; then the copy's verification (counts, checksums, every sequence)
must pass, and the values that have no twin on the target land where the report said.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core.transfer import crossengine
from changeover.core.transfer.verify import sequence_positions, sequence_states, verify
from tests.transfer.corpus import LONG_NAME, Corpus, mysql_corpus, pg_corpus, scalar

__all__ = ["mysql_corpus", "pg_corpus"]


def tables(url: URL) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return sorted(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def execute(url: URL, sql: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def why(report: crossengine.CopyReport, table: str, column: str) -> str:
    return next(a.why for a in report.adaptations if (a.table, a.column) == (table, column))


MARIADB_ADAPTED = {
    ("articles", "id"),
    (LONG_NAME, "(table name)"),
    (LONG_NAME, "enabled"),
    ("durations", "spent"),
    ("invoices", "issued"),
    ("legacy_dates", "day"),
    ("legacy_dates", "moment"),
    ("legacy_dates", "partial"),
    ("options", "big"),
    ("options", "code"),
    ("options", "flags"),
    ("options", "id"),
    ("options", "meta"),
    ("options", "size"),
    ("options", "tiny"),
    ("places", "area"),
    ("places", "id"),
    ("places", "location"),
}
MARIADB_NOT_CARRIED = {
    ("collation", "utf8mb4_unicode_ci (18 columns)"),
    ("default", "legacy_dates.day"),
    ("default", "legacy_dates.moment"),
    ("generated column", "options.label"),
    ("generated column", "options.total"),
    ("index", "articles.articles_text (FULLTEXT)"),
    ("index", "places.places_location (SPATIAL)"),
    ("routine", "article_count()"),
    ("routine", "forget_lines()"),
    ("trigger", "invoices_audit on invoices"),
    ("view", "article_titles"),
    ("view", "big_options"),
}


def test_mariadb_corpus_to_postgres(mysql_corpus: Callable[[], Corpus], make_postgres_db: Callable[..., URL]) -> None:
    corpus = mysql_corpus()
    target = make_postgres_db("co_corpus_pg")
    report = crossengine.plan(corpus.url, target)
    assert tables(target) == [], "the report is made before anything is written"
    assert {(a.table, a.column) for a in report.adaptations} == MARIADB_ADAPTED, report.lines()
    assert {(n.what, n.name) for n in report.not_carried} == MARIADB_NOT_CARRIED, report.lines()
    assert why(report, "legacy_dates", "day") == (
        "2 zero date(s) (year 0), which postgresql has no twin for: stored as -infinity"
    )
    assert "2 date(s) with month or day 0" in why(report, "legacy_dates", "partial")
    assert "beyond 24 hours or negative" in why(report, "durations", "spent")
    assert "WKT" in why(report, "places", "location") and "SET" in why(report, "options", "flags")
    assert "ZEROFILL" in why(report, "options", "code")
    assert "truncated" in why(report, LONG_NAME, "(table name)")

    crossengine.copy(corpus.url, target)

    result = verify(corpus.url, target)  # every carried value compares equal, every sequence is where it was
    assert result.sequences == 3, result.summary()
    source_sequences = sequence_states(corpus.url)
    carried = sequence_states(target)  # and one serial per AUTO_INCREMENT key
    assert {name: carried[name] for name in source_sequences} == source_sequences
    assert LONG_NAME[:63] in tables(target)
    spent = scalar(target, "SELECT array_agg(spent ORDER BY id) FROM durations")
    assert spent[:4] == [
        timedelta(hours=838, minutes=59, seconds=59),
        -timedelta(hours=838, minutes=59, seconds=59),
        timedelta(hours=25, minutes=30, milliseconds=500),
        timedelta(hours=100),
    ]
    assert scalar(target, "SELECT count(*) FROM legacy_dates WHERE day = '-infinity'") == 2
    assert scalar(target, "SELECT partial FROM legacy_dates WHERE id = 1") == date(2024, 1, 1)
    assert scalar(target, "SELECT location FROM places WHERE id = 7") == "POINT(0.7 45.07)"
    assert scalar(target, "SELECT flags FROM options WHERE id = 4") == "bold,italic,underline,strike"
    assert scalar(target, "SELECT big FROM options WHERE id = 1") == 18446744073709551614
    # positions carried, not recomputed: articles' AUTO_INCREMENT was past its highest id (rows deleted)
    assert sequence_positions(target)["articles"].next_value == sequence_positions(corpus.url)["articles"].next_value
    # the column default draws from the new database's own sequence, at the source's position
    before = sequence_states(target)["invoice_numbers"].next_value
    execute(target, "INSERT INTO invoices (amount) VALUES (1)")
    assert scalar(target, "SELECT max(number) FROM invoices") == before


PG_ADAPTED = {
    ("*", "text columns"),
    ("OrderItems", "Price"),
    ("audit_log", "at"),
    ("customers", "created_at"),
    ("customers", "email"),
    ("customers", "mood"),
    ("customers", "scores"),
    ("customers", "search"),
    ("customers", "tags"),
    ("customers", "valid_until"),
    ("events", "at"),
    ("orders", "placed_at"),
    ("orders", "ships_by"),
}
PG_NOT_CARRIED = {
    ("default", "customers.tags"),
    ("default", "orders.ships_by"),
    ("domain", "email CHECK ((VALUE ~ '^[^@ ]+@[^@ ]+$'::citext))"),
    ("domain", "positive_int CHECK ((VALUE > 0))"),
    ("extension", "citext"),
    ("generated column", "customers.search"),
    ("index", "customers.customers_lower_name"),
    ("index", "customers.customers_search"),
    ("index", "customers.customers_tags"),
    ("inheritance", "cities (children: cities_eu, cities_us)"),
    ("partitioning", "measurements RANGE (logdate)"),
    ("routine", "customer_total()"),
    ("routine", "forget_events()"),
    ("routine", "log_event()"),
    ("trigger", "events_logged on events"),
    ("view", "customer_totals"),
    ("view", "mood_counts"),
}


def test_postgres_corpus_to_mariadb(pg_corpus: Callable[[], Corpus], make_mysql_db: Callable[..., URL]) -> None:
    corpus = pg_corpus()
    target = make_mysql_db("co_corpus_my")
    report = crossengine.plan(corpus.url, target)
    assert tables(target) == []
    assert {(a.table, a.column) for a in report.adaptations} == PG_ADAPTED, report.lines()
    assert {(n.what, n.name) for n in report.not_carried} == PG_NOT_CARRIED, report.lines()
    infinite = scalar(corpus.url, "SELECT count(*) FROM customers WHERE valid_until IN ('infinity', '-infinity')")
    assert why(report, "customers", "valid_until").startswith(f"{infinite} value(s) ±infinity")
    assert "9999-12-31 / 0001-01-01" in why(report, "orders", "ships_by")

    crossengine.copy(corpus.url, target)

    result = verify(corpus.url, target)
    assert result.sequences == 5, result.summary()
    assert scalar(target, "SELECT MAX(valid_until) FROM customers") == datetime(9999, 12, 31, 23, 59, 59, 999999)
    assert scalar(target, "SELECT COUNT(*) FROM cities") == 6  # what a query on the parent returned
    # every sequence at its position: the unowned one behind customers.id, identity, serial, standalone
    positions = sequence_positions(target)
    assert (positions["customers"].next_value, positions["orders"].next_value) == (301, 5300)
    assert positions["events"].next_value == 121
    states = sequence_states(target)
    assert {name: s.next_value for name, s in states.items()} == {"invoice_numbers": 2535, "never_used_ids": 42}
    # orders.invoice still draws from invoice_numbers (a DEFAULT nextval on a column that is not the key)
    execute(target, "INSERT INTO orders (customer_id, quantity, total, placed_at) VALUES (101, 1, 1, NOW())")
    assert scalar(target, "SELECT invoice FROM orders WHERE id = 5300") == 2535
