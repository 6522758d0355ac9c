"""Same-engine exactness on the corpus: backup + load (as the upgrade calls them), then verify.

Rows (counts and checksums), objects (the catalog listings of tables, views, materialized views, routines,
triggers, sequences, types, domains, indexes, extensions, column defaults) and every sequence's position
must be the same on both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core.transfer import tools
from changeover.core.transfer.backup import BackupParams, backup
from changeover.core.transfer.load import LoadParams, load
from changeover.core.transfer.verify import VerificationFailed, sequence_positions, sequence_states, verify
from tests.transfer.corpus import Corpus, catalog, definers, mysql_corpus, pg_corpus, scalar

__all__ = ["mysql_corpus", "pg_corpus"]


def backup_and_load(source: URL, target: URL, folder: Path, **options: str) -> None:
    """What the upgrade's backup and load steps do (core/upgrade/procedure.py: _backup, _load)."""
    result = backup(BackupParams(source, resource="corpus", folder=folder, **options))  # type: ignore[arg-type]
    load(LoadParams(result.folder, target, verify=True))


def execute(url: URL, sql: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def test_postgres_corpus_carries_exactly(
    pg_corpus: Callable[[], Corpus], make_postgres_db: Callable[..., URL], tmp_path: Path
) -> None:
    corpus = pg_corpus()
    target = make_postgres_db("co_corpus_copy")
    backup_and_load(corpus.url, target, tmp_path / "backup")

    report = verify(corpus.url, target)
    assert report.ok and report.sequences == 5, report.summary()
    assert catalog(target) == catalog(corpus.url)
    assert sequence_states(target) == sequence_states(corpus.url)
    # the unowned sequence behind customers.id is found through the column's DEFAULT nextval(...)
    position = sequence_positions(target)["customers"]
    assert (position.sequence, position.next_value, position.max_value) == ("legacy_customer_ids", 301, 290)
    states = sequence_states(target)
    assert states["invoice_numbers"].next_value == 1000 + 5 * 307  # 7 by hand, 300 by orders.invoice
    assert states["never_used_ids"].next_value == 42  # is_called false: 42 is still to come
    # the application goes on inserting without ids, on every kind of sequence
    execute(target, "INSERT INTO customers (name) VALUES ('new')")
    assert scalar(target, "SELECT max(id) FROM customers") == 301
    execute(target, "INSERT INTO orders (customer_id, quantity, total, placed_at) VALUES (101, 1, 1, now())")
    assert scalar(target, "SELECT max(id) FROM orders") == 5300
    assert scalar(target, "SELECT count(*) FROM ONLY cities") == 1
    assert scalar(target, "SELECT count(*) FROM cities") == 6


def test_a_lagging_unowned_sequence_fails_verification(
    pg_corpus: Callable[[], Corpus], make_postgres_db: Callable[..., URL], tmp_path: Path
) -> None:
    corpus = pg_corpus()
    target = make_postgres_db("co_corpus_copy")
    backup_and_load(corpus.url, target, tmp_path / "backup")
    execute(target, "SELECT setval('legacy_customer_ids', 295)")  # ahead of the data, behind the source
    execute(target, "SELECT setval('invoice_numbers', 1000)")
    execute(target, "DROP SEQUENCE never_used_ids")
    with pytest.raises(VerificationFailed) as failed:
        verify(corpus.url, target)
    message = failed.value.message
    assert "customers: sequence on id would hand out 296, but the source had reached 301" in message
    assert "sequence invoice_numbers would hand out 1005, but the source had reached 2535" in message
    assert "sequence never_used_ids is missing from the target" in message


#: the mariadb-dump SQL format needs two changes outside this test's reach (see H4's report): mariadb-dump
#: --skip-add-locks in backup._mysql_dump (a LOCK TABLES around a table whose DEFAULT draws from a sequence
#: fails: "Table 'invoice_numbers' was not locked with LOCK TABLES"), and load._mysql_load's transform made
#: mariadb_tsv.dump_rewriter() (the column default names the old database's sequence). Strict: remove this mark
#: once they are in.


@pytest.mark.parametrize("mysql_format", ["tsv", "tsv-without-client-tools", "sql"])
def test_mariadb_corpus_carries_exactly(
    mysql_format: str,
    mysql_corpus: Callable[[], Corpus],
    make_mysql_db: Callable[..., URL],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus = mysql_corpus()
    target = make_mysql_db("co_corpus_copy")
    if mysql_format == "tsv-without-client-tools":  # the built-in path, through PyMySQL alone
        monkeypatch.setattr(tools, "find_tool", lambda name: None)
        mysql_format = "tsv"
    backup_and_load(corpus.url, target, tmp_path / "backup", mysql_format=mysql_format)

    report = verify(corpus.url, target)
    assert report.ok and report.sequences == 3, report.summary()
    # the column default names the new database's sequence, not the old one's
    assert catalog(target) == catalog(corpus.url)
    assert sequence_states(target) == sequence_states(corpus.url)
    execute(target, "INSERT INTO invoices (amount) VALUES (1)")
    after = sequence_states(target)["invoice_numbers"].next_value
    assert after > sequence_states(corpus.url)["invoice_numbers"].next_value
    assert scalar(corpus.url, "SELECT count(*) FROM invoices") == 25
    # zero dates, TIME beyond 24 h, unsigned extremes and geometry came through as they were
    assert scalar(target, "SELECT count(*) FROM legacy_dates WHERE day = '0000-00-00'") == 2
    assert scalar(target, "SELECT MAX(spent) FROM durations") == scalar(corpus.url, "SELECT MAX(spent) FROM durations")
    assert scalar(target, "SELECT ST_AsText(location) FROM places WHERE id = 7") == "POINT(0.7 45.07)"
    # DEFINERs become the loading account (documented): a non-SUPER user can load the backup
    assert set(definers(target).values()) == {scalar(target, "SELECT CURRENT_USER()")}


def test_mariadb_keys_are_built_after_the_data(mysql_corpus: Callable[[], Corpus], tmp_path: Path) -> None:
    """The corpus's dumped schema: which tables get their secondary indexes and foreign keys after the data."""
    from changeover.core.transfer.formats.mariadb_tsv import defer_keys

    corpus = mysql_corpus()
    result = backup(BackupParams(corpus.url, resource="corpus", folder=tmp_path / "backup"))
    schema, deferred = defer_keys((result.artifact / "schema.sql").read_bytes())
    text = schema.decode()
    assert deferred.indexes == [
        "ALTER TABLE `product_reviews` ADD KEY `product_reviews_product_stars` (`product_id`,`stars`);",
        "ALTER TABLE `products` ADD UNIQUE KEY `products_vendor_sku` (`vendor_code`,`sku`), "
        "ADD KEY `products_price` (`price` DESC);",
        "ALTER TABLE `vendors` ADD UNIQUE KEY `vendors_code` (`code`), ADD KEY `vendors_name_prefix` (`name`(20)),"
        " ADD KEY `vendors_parent` (`parent_id`);",
    ]
    assert sorted(deferred.foreign_keys) == [
        "ALTER TABLE `product_reviews` ADD CONSTRAINT `product_reviews_product` FOREIGN KEY (`product_id`) "
        "REFERENCES `products` (`id`) ON DELETE CASCADE;",
        "ALTER TABLE `products` ADD CONSTRAINT `products_vendor` FOREIGN KEY (`vendor_code`) "
        "REFERENCES `vendors` (`code`) ON UPDATE CASCADE;",
        "ALTER TABLE `vendors` ADD CONSTRAINT `vendors_parent` FOREIGN KEY (`parent_id`) "
        "REFERENCES `vendors` (`id`) ON DELETE SET NULL;",
    ]
    # kept in the CREATE TABLE: the key an AUTO_INCREMENT outside the primary key's head needs, FULLTEXT, SPATIAL
    assert "KEY `tenant_events_id` (`id`)" in text and "FULLTEXT KEY `articles_text`" in text
    assert "SPATIAL KEY `places_location`" in text and "vendors_code" not in text
    assert "  `parent_id` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB" in text  # no dangling comma
