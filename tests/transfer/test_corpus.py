"""The corpus loads on each engine, and holds what it promises (rows in every table, moved sequences)."""

from __future__ import annotations

from collections.abc import Callable

from tests.transfer.corpus import LONG_NAME, Corpus, definers, mysql_corpus, pg_corpus, scalar

__all__ = ["mysql_corpus", "pg_corpus"]


def test_postgres_corpus_loads_with_rows_everywhere(pg_corpus: Callable[[], Corpus]) -> None:
    corpus = pg_corpus()
    assert scalar(corpus.url, "SELECT count(*) FROM customers") == 191
    assert scalar(corpus.url, "SELECT last_value FROM legacy_customer_ids") == 300
    assert scalar(corpus.url, "SELECT pg_get_serial_sequence('customers', 'id')") is None


def test_mariadb_corpus_loads_with_rows_everywhere(mysql_corpus: Callable[[], Corpus]) -> None:
    corpus = mysql_corpus()
    assert scalar(corpus.url, f"SELECT count(*) FROM {LONG_NAME}") == 4
    assert definers(corpus.url) == dict.fromkeys(
        ("article_titles", "big_options", "article_count", "forget_lines", "invoices_audit"), f"{corpus.role}@%"
    )
