"""The benchmark dataset: five tables with foreign keys, text, blobs, decimals, timestamps, NULLs and an
empty one, generated inside the servers (generate_series / MariaDB's SEQUENCE engine) so making
millions of rows takes seconds.

    python benchmarks/dataset.py --rows 3000000      # creates co_bench on PostgreSQL and MariaDB

Rows are split: customers 6 %, orders 33 %, order_lines 59 %, attachments 2 %, audit_log 0 (empty).
"""

from __future__ import annotations

import argparse
import os
import time

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

POSTGRES_ADMIN = os.environ.get("CHANGEOVER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MYSQL_ADMIN = os.environ.get("CHANGEOVER_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql")
DATABASE = "co_bench"
SHARES = {"customers": 0.06, "orders": 0.33, "order_lines": 0.59, "attachments": 0.02, "audit_log": 0.0}

PG_SCHEMA = """
CREATE TABLE customers (
    id bigserial PRIMARY KEY, name text NOT NULL, email varchar(200) NOT NULL UNIQUE,
    created_at timestamp NOT NULL, balance numeric(14, 2) NOT NULL DEFAULT 0, note text);
CREATE TABLE orders (
    id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id),
    placed_at timestamptz NOT NULL, total numeric(12, 2) NOT NULL, status varchar(20) NOT NULL,
    comment text);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE TABLE order_lines (
    id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders (id), sku varchar(40) NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0), price numeric(10, 2) NOT NULL, discount numeric(5, 2));
CREATE INDEX order_lines_order ON order_lines (order_id);
CREATE TABLE attachments (
    id bigserial PRIMARY KEY, order_id bigint REFERENCES orders (id), mime varchar(100) NOT NULL,
    body bytea NOT NULL, uploaded_at timestamptz);
CREATE TABLE audit_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL, what text NOT NULL);
"""

MYSQL_SCHEMA = """
CREATE TABLE customers (
    id bigint AUTO_INCREMENT PRIMARY KEY, name text NOT NULL, email varchar(200) NOT NULL UNIQUE,
    created_at datetime(6) NOT NULL, balance decimal(14, 2) NOT NULL DEFAULT 0, note text);
CREATE TABLE orders (
    id bigint AUTO_INCREMENT PRIMARY KEY, customer_id bigint NOT NULL,
    placed_at timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), total decimal(12, 2) NOT NULL,
    status varchar(20) NOT NULL, comment text, FOREIGN KEY (customer_id) REFERENCES customers (id));
CREATE TABLE order_lines (
    id bigint AUTO_INCREMENT PRIMARY KEY, order_id bigint NOT NULL, sku varchar(40) NOT NULL,
    quantity int NOT NULL CHECK (quantity > 0), price decimal(10, 2) NOT NULL, discount decimal(5, 2),
    FOREIGN KEY (order_id) REFERENCES orders (id));
CREATE TABLE attachments (
    id bigint AUTO_INCREMENT PRIMARY KEY, order_id bigint, mime varchar(100) NOT NULL, body mediumblob NOT NULL,
    uploaded_at timestamp(6) NULL, FOREIGN KEY (order_id) REFERENCES orders (id));
CREATE TABLE audit_log (id bigint AUTO_INCREMENT PRIMARY KEY, at timestamp(6) NOT NULL, what text NOT NULL);
"""


def counts(rows: int) -> dict[str, int]:
    return {table: max(1, int(rows * share)) if share else 0 for table, share in SHARES.items()}


def pg_fill(n: dict[str, int]) -> list[str]:
    c, o, lines, a = n["customers"], n["orders"], n["order_lines"], n["attachments"]
    return [
        f"""INSERT INTO customers (name, email, created_at, balance, note)
            SELECT 'Customer ' || g || ' Ünïcødé ✓', 'c' || g || '@example.com',
                   timestamp '2015-01-01' + g * interval '37 seconds', mod(g, 100000) / 7.0,
                   CASE WHEN mod(g, 4) = 0 THEN NULL ELSE repeat('note ', 1 + mod(g, 12)) END
            FROM generate_series(1, {c}) g""",
        f"""INSERT INTO orders (customer_id, placed_at, total, status, comment)
            SELECT 1 + mod(g, {c}), timestamptz '2020-01-01 00:00+00' + g * interval '11 seconds',
                   mod(g, 50000) / 3.0, (ARRAY['new', 'paid', 'shipped', 'done'])[1 + mod(g, 4)],
                   CASE WHEN mod(g, 3) = 0 THEN NULL ELSE 'order comment ' || md5(g::text) END
            FROM generate_series(1, {o}) g""",
        f"""INSERT INTO order_lines (order_id, sku, quantity, price, discount)
            SELECT 1 + mod(g, {o}), 'SKU-' || mod(g, 9973), 1 + mod(g, 9), mod(g, 10000) / 9.0,
                   CASE WHEN mod(g, 5) = 0 THEN NULL ELSE mod(g, 50) / 2.0 END
            FROM generate_series(1, {lines}) g""",
        f"""INSERT INTO attachments (order_id, mime, body, uploaded_at)
            SELECT CASE WHEN mod(g, 10) = 0 THEN NULL ELSE 1 + mod(g, {o}) END, 'application/octet-stream',
                   decode(repeat(md5(g::text), 8 + mod(g, 24)), 'hex'),
                   CASE WHEN mod(g, 7) = 0 THEN NULL ELSE now() - g * interval '1 minute' END
            FROM generate_series(1, {a}) g""",
        "ANALYZE",
    ]


def mysql_fill(n: dict[str, int]) -> list[str]:
    c, o, lines, a = n["customers"], n["orders"], n["order_lines"], n["attachments"]
    return [
        f"""INSERT INTO customers (name, email, created_at, balance, note)
            SELECT CONCAT('Customer ', seq, ' Ünïcødé ✓'), CONCAT('c', seq, '@example.com'),
                   TIMESTAMPADD(SECOND, seq * 37, '2015-01-01'), mod(seq, 100000) / 7.0,
                   IF(mod(seq, 4) = 0, NULL, REPEAT('note ', 1 + mod(seq, 12)))
            FROM seq_1_to_{c}""",
        f"""INSERT INTO orders (customer_id, placed_at, total, status, comment)
            SELECT 1 + mod(seq, {c}), TIMESTAMPADD(SECOND, seq * 11, '2020-01-01'), mod(seq, 50000) / 3.0,
                   ELT(1 + mod(seq, 4), 'new', 'paid', 'shipped', 'done'),
                   IF(mod(seq, 3) = 0, NULL, CONCAT('order comment ', MD5(seq)))
            FROM seq_1_to_{o}""",
        f"""INSERT INTO order_lines (order_id, sku, quantity, price, discount)
            SELECT 1 + mod(seq, {o}), CONCAT('SKU-', mod(seq, 9973)), 1 + mod(seq, 9), mod(seq, 10000) / 9.0,
                   IF(mod(seq, 5) = 0, NULL, mod(seq, 50) / 2.0)
            FROM seq_1_to_{lines}""",
        f"""INSERT INTO attachments (order_id, mime, body, uploaded_at)
            SELECT IF(mod(seq, 10) = 0, NULL, 1 + mod(seq, {o})), 'application/octet-stream',
                   UNHEX(REPEAT(MD5(seq), 8 + mod(seq, 24))),
                   IF(mod(seq, 7) = 0, NULL, TIMESTAMPADD(MINUTE, -seq, '2025-01-01'))
            FROM seq_1_to_{a}""",
        "ANALYZE TABLE customers, orders, order_lines, attachments, audit_log",
    ]


def create(engine: str, rows: int, name: str = DATABASE) -> URL:
    """(Re)create the dataset database ``name`` on ``engine`` with about ``rows`` rows; return its URL."""
    admin_url = make_url(POSTGRES_ADMIN if engine == "postgresql" else MYSQL_ADMIN)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        if engine == "postgresql":
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        else:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
            conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    admin.dispose()
    url = admin_url.set(database=name)
    target = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    n = counts(rows)
    with target.connect() as conn:
        if engine == "mysql":
            conn.exec_driver_sql("SET SESSION max_recursive_iterations = 4294967295")
        for statement in (PG_SCHEMA if engine == "postgresql" else MYSQL_SCHEMA).split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        for statement in pg_fill(n) if engine == "postgresql" else mysql_fill(n):
            conn.exec_driver_sql(statement)
    target.dispose()
    return url


def _admin(url: URL) -> sa.Engine:
    """An autocommit engine on the server's maintenance database, to create and drop databases."""
    return sa.create_engine(
        url.set(database="postgres" if url.get_backend_name() == "postgresql" else "mysql"),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.NullPool,
    )


def drop(url: URL) -> None:
    admin = _admin(url)
    with admin.connect() as conn:
        if url.get_backend_name() == "postgresql":
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        else:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{url.database}`")
    admin.dispose()


def empty(url: URL, name: str) -> URL:
    """A new empty database ``name`` next to ``url`` (dropped first if it exists)."""
    target = url.set(database=name)
    drop(target)
    admin = _admin(url)
    with admin.connect() as conn:
        if url.get_backend_name() == "postgresql":
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        else:
            conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    admin.dispose()
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000_000, help="total rows over the five tables")
    parser.add_argument("--engine", choices=["postgresql", "mysql", "both"], default="both")
    args = parser.parse_args()
    for engine in ["postgresql", "mysql"] if args.engine == "both" else [args.engine]:
        started = time.monotonic()
        url = create(engine, args.rows)
        print(f"{engine}: {url.render_as_string()} with {args.rows} rows in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
