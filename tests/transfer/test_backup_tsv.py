"""The MariaDB tab-separated format's pieces that can be checked without a server: splitting and SQL."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from changeover.core.transfer.formats.mariadb_tsv import Column, Splitter, TableFile, load_statement, rewrite_definer

MARKER = b"changeover-split-0123456789abcdef0123456789abcdef:"


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_the_stream_is_cut_into_one_file_per_table_whatever_the_chunks(tmp_path: Path, chunk: int) -> None:
    tables = {
        "a.tsv": b"1\tx\n2\ty\\tz\n",
        "b.tsv": b"",
        "c.tsv": b"3\t\\N\n" * 50 + b"4\tchangeover-split-not-ours:1\n",
    }
    stream = b"".join(MARKER + str(i).encode() + b"\n" + body for i, body in enumerate(tables.values()))
    splitter = Splitter(tmp_path, MARKER, list(tables))
    rng = random.Random(chunk)
    at = 0
    while at < len(stream):
        size = rng.randint(1, chunk)
        splitter.write(stream[at : at + size])
        at += size
    splitter.close()

    assert {name: (tmp_path / name).read_bytes() for name in tables} == tables


def test_load_statement_decodes_each_column_kind() -> None:
    spec = TableFile(
        "we`ird",
        "data/0000.tsv",
        (
            Column("id", "plain"),
            Column("body", "text"),
            Column("blob", "hex"),
            Column("n", "nullword"),
            Column("b", "bit"),
        ),
    )

    sql = load_statement(Path("/tmp/it's/0000.tsv"), spec)

    assert sql.startswith("LOAD DATA LOCAL INFILE '/tmp/it''s/0000.tsv' INTO TABLE `we``ird` CHARACTER SET utf8mb4")
    assert "(`id`, `body`, @c2, @c3, @c4)" in sql
    assert "`blob` = UNHEX(@c2)" in sql and "`n` = NULLIF(@c3, 'NULL')" in sql and "`b` = CAST(@c4 AS UNSIGNED)" in sql


def test_definers_become_the_loading_user_but_data_is_untouched() -> None:
    trigger = b"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER t BEFORE INSERT ON x */;;\n"
    data = b"INSERT INTO `x` VALUES ('DEFINER=`root`@`localhost`');\n"

    assert rewrite_definer(trigger) == trigger.replace(b"`root`@`localhost`", b"CURRENT_USER")
    assert rewrite_definer(data) == data
