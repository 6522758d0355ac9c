"""A schema with everything that breaks naive copies, buildable on SQLite, MariaDB/MySQL and PostgreSQL.

``create_rich_schema(url)`` creates, in the (empty) database at ``url``: unicode text including 4-byte
characters, NULLs next to empty strings, a multi-megabyte blob, decimals, floats, dates, times,
timestamps with and without time zone, JSON, an ENUM (MySQL) / checked text (others), an unsigned
integer (MySQL), composite primary and foreign keys, a self-referencing and a circular foreign key, a
check constraint, a secondary index, a view and a trigger, and fills them with :data:`ROWS`.

:data:`ROWS` is the expected content (Python values, time-zone-aware datetimes in UTC) and
:func:`expected_sums` its checksums, computed here from the values alone: every engine's checksum of a
freshly built rich schema must equal them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core import engines
from changeover.core.engines import open_engine
from changeover.core.transfer.reading import Kind
from changeover.core.transfer.verify import SEP, TableSum, canonical_value
from changeover.core.transfer.verify.canonical import table_checksum

#: table -> column -> kind (the engine-neutral family the checksum renders)
KINDS: dict[str, dict[str, Kind]] = {
    "authors": {
        "id": "int",
        "name": "text",
        "bio": "text",
        "active": "bool",
        "rating": "decimal",
        "score": "float",
        "born": "date",
        "wakes_at": "time",
        "created_at": "datetime",
        "seen_at": "datetime_tz",
        "profile": "json",
        "avatar": "bytes",
        "mentor_id": "int",
        "favourite_book_id": "int",
        "status": "text",
    },
    "books": {
        "id": "int",
        "author_id": "int",
        "title": "text",
        "price": "decimal",
        "pages": "int",
        "published_at": "datetime",
        "meta": "json",
        "cover": "bytes",
    },
    "book_tags": {"book_id": "int", "tag": "text", "weight": "int"},
    "tag_votes": {"id": "int", "book_id": "int", "tag": "text", "voter": "text", "cast_at": "datetime_tz"},
    "counters": {"name": "text", "hits": "int", "ratio": "float", "enabled": "bool"},
}

#: tables with an auto-numbered ``id``
AUTO_ID = ("authors", "books", "tag_votes")
VIEWS = ("author_books",)
TRIGGERS = ("books_trim",)

BIG_BLOB = hashlib.sha256(b"changeover").digest() * (3 * 1024 * 1024 // 32)  # 3 MiB
UTC_NOON = datetime(2024, 2, 29, 12, 0, 0, 123456, tzinfo=UTC)


def _authors() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        dict(
            id=1,
            name="Zoë Ångström 😀",
            bio="",
            active=True,
            rating=Decimal("4.50"),
            score=3.141592653589793,
            born=date(1970, 1, 1),
            wakes_at=time(6, 30, 0, 250000),
            created_at=datetime(2001, 9, 9, 1, 46, 40),
            seen_at=UTC_NOON,
            profile={"b": [1, 2, {"z": None}], "a": "é𝄞", "price": 1.5, "tiny": 1e-07, "ok": True},
            avatar=b"\x00\x01\xff\x00",
            mentor_id=None,
            favourite_book_id=2,
            status="live",
        ),
        dict(
            id=2,
            name="山田 太郎",
            bio=None,
            active=False,
            rating=Decimal("0.00"),
            score=-0.001,
            born=None,
            wakes_at=None,
            created_at=datetime(1999, 12, 31, 23, 59, 59),
            seen_at=datetime(2030, 6, 1, 0, 0, 0, tzinfo=UTC),
            profile=None,
            avatar=BIG_BLOB,
            mentor_id=1,
            favourite_book_id=1,
            status="draft",
        ),
        dict(
            id=3,
            name='O\'Brien "quoted" \\ back\ttab\nnewline',
            bio="line1\r\nline2 \x01 ctrl",
            active=True,
            rating=Decimal("-12345678.99"),
            score=1e10,
            born=date(2000, 2, 29),
            wakes_at=time(23, 59, 59, 999999),
            created_at=None,
            seen_at=None,
            profile={},
            avatar=b"",
            mentor_id=3,
            favourite_book_id=None,
            status="gone",
        ),
    ]
    for i in range(4, 61):
        rows.append(
            dict(
                id=i,
                name=f"author {i} ✓",
                bio=f"bio {i}" * (i % 3),
                active=i % 2 == 0,
                rating=Decimal(i) / 4,
                score=i / 7,
                born=date(1950, 1, 1) + timedelta(days=i * 211),
                wakes_at=time(i % 24, i % 60, 0),
                created_at=datetime(2020, 1, 1) + timedelta(hours=i * 7, microseconds=i),
                seen_at=UTC_NOON - timedelta(days=i, seconds=i),
                profile=[i, str(i), {"n": i}],
                avatar=bytes([i % 256]) * i,
                mentor_id=(i - 1) if i % 4 else None,
                favourite_book_id=None,
                status=("draft", "live", "gone")[i % 3],
            )
        )
    return rows


def _books() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        dict(
            id=1,
            author_id=1,
            title="Über 𝄞 music",
            price=Decimal("19.9900"),
            pages=320,
            published_at=datetime(2010, 5, 1, 8, 0),
            meta={"isbn": "978-3-16-148410-0", "editions": [1, 2]},
            cover=BIG_BLOB[:1024],
        ),
        dict(
            id=2,
            author_id=2,
            title="",
            price=None,
            pages=0,
            published_at=None,
            meta=None,
            cover=None,
        ),
    ]
    for i in range(3, 151):
        rows.append(
            dict(
                id=i,
                author_id=(i % 60) + 1,
                title=f"book #{i} – ½",
                price=Decimal(i * 3) / 100,
                pages=i * 10,
                published_at=datetime(2015, 3, 1) + timedelta(days=i, seconds=i * 13),
                meta={"n": i, "tags": ["x"] * (i % 3)},
                cover=None,
            )
        )
    return rows


def _book_tags() -> list[dict[str, Any]]:
    tags = ("sf", "poésie", "🚀", "history")
    return [dict(book_id=b, tag=tags[(b + k) % 4], weight=k - 1) for b in range(1, 151) for k in range(b % 3 + 1)]


def _tag_votes(book_tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        dict(id=n + 1, book_id=bt["book_id"], tag=bt["tag"], voter=f"voter{n % 7}", cast_at=UTC_NOON + timedelta(n))
        for n, bt in enumerate(book_tags[::2])
    ]


_BOOK_TAGS = _book_tags()
#: the expected content of every table, in primary-key order
ROWS: dict[str, list[dict[str, Any]]] = {
    "authors": _authors(),
    "books": _books(),
    "book_tags": _BOOK_TAGS,
    "tag_votes": _tag_votes(_BOOK_TAGS),
    "counters": [
        dict(name="visits", hits=4_000_000_000, ratio=0.5, enabled=True),
        dict(name="", hits=0, ratio=None, enabled=None),
        dict(name="ünïcode", hits=None, ratio=-2.25, enabled=False),
    ],
}


def expected_sums() -> dict[str, TableSum]:
    """The checksums of :data:`ROWS`, computed from the values alone."""
    sums = {}
    for table, rows in ROWS.items():
        kinds = KINDS[table]
        cols = sorted(kinds, key=str.lower)
        first = second = 0
        for row in rows:
            text = SEP.join(canonical_value(kinds[c], row[c]) for c in cols)
            digest = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
            first += int(digest[:15], 16)
            second += int(digest[15:30], 16)
        sums[table] = TableSum(table, len(rows), table_checksum(first, second))
    return sums


# ------------------------------------------------------------------------------------------------ the DDL

_DDL: dict[str, list[str]] = {
    "postgresql": [
        """CREATE TABLE authors (
            id serial PRIMARY KEY,
            name varchar(200) NOT NULL UNIQUE,
            bio text,
            active boolean NOT NULL,
            rating numeric(10, 2),
            score double precision,
            born date,
            wakes_at time,
            created_at timestamp,
            seen_at timestamptz,
            profile jsonb,
            avatar bytea,
            mentor_id integer REFERENCES authors (id),
            favourite_book_id integer,
            status varchar(5) NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'live', 'gone'))
        )""",
        """CREATE TABLE books (
            id serial PRIMARY KEY,
            author_id integer NOT NULL REFERENCES authors (id),
            title varchar(300) NOT NULL,
            price numeric(12, 4),
            pages integer NOT NULL CHECK (pages >= 0),
            published_at timestamp,
            meta json,
            cover bytea
        )""",
        "CREATE INDEX ix_books_title ON books (title)",
        "ALTER TABLE authors ADD CONSTRAINT fk_authors_favourite FOREIGN KEY (favourite_book_id) REFERENCES books (id)",
        """CREATE TABLE book_tags (
            book_id integer NOT NULL REFERENCES books (id),
            tag varchar(50) NOT NULL,
            weight smallint,
            PRIMARY KEY (book_id, tag)
        )""",
        """CREATE TABLE tag_votes (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            book_id integer NOT NULL,
            tag varchar(50) NOT NULL,
            voter varchar(100) NOT NULL,
            cast_at timestamptz,
            FOREIGN KEY (book_id, tag) REFERENCES book_tags (book_id, tag)
        )""",
        """CREATE TABLE counters (name varchar(50) PRIMARY KEY, hits bigint, ratio real, enabled boolean)""",
    ],
    "mysql": [
        """CREATE TABLE authors (
            id int AUTO_INCREMENT PRIMARY KEY,
            name varchar(200) NOT NULL UNIQUE,
            bio text,
            active tinyint(1) NOT NULL,
            rating decimal(10, 2),
            score double,
            born date,
            wakes_at time(6),
            created_at datetime(6),
            seen_at timestamp(6) NULL DEFAULT NULL,
            profile json,
            avatar longblob,
            mentor_id int,
            favourite_book_id int,
            status enum('draft', 'live', 'gone') NOT NULL DEFAULT 'draft',
            CONSTRAINT fk_authors_mentor FOREIGN KEY (mentor_id) REFERENCES authors (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
        """CREATE TABLE books (
            id int AUTO_INCREMENT PRIMARY KEY,
            author_id int NOT NULL,
            title varchar(300) NOT NULL,
            price decimal(12, 4),
            pages int NOT NULL CHECK (pages >= 0),
            published_at datetime(6),
            meta json,
            cover longblob,
            KEY ix_books_title (title),
            CONSTRAINT fk_books_author FOREIGN KEY (author_id) REFERENCES authors (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci""",
        "ALTER TABLE authors ADD CONSTRAINT fk_authors_favourite FOREIGN KEY (favourite_book_id) REFERENCES books (id)",
        """CREATE TABLE book_tags (
            book_id int NOT NULL,
            tag varchar(50) NOT NULL,
            weight smallint,
            PRIMARY KEY (book_id, tag),
            CONSTRAINT fk_book_tags_book FOREIGN KEY (book_id) REFERENCES books (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin""",
        """CREATE TABLE tag_votes (
            id bigint AUTO_INCREMENT PRIMARY KEY,
            book_id int NOT NULL,
            tag varchar(50) NOT NULL,
            voter varchar(100) NOT NULL,
            cast_at timestamp(6) NULL DEFAULT NULL,
            CONSTRAINT fk_tag_votes_tag FOREIGN KEY (book_id, tag) REFERENCES book_tags (book_id, tag)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin""",
        """CREATE TABLE counters (name varchar(50) PRIMARY KEY, hits int unsigned, ratio float, enabled tinyint(1))
            ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin""",
    ],
    "sqlite": [
        """CREATE TABLE authors (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name VARCHAR(200) NOT NULL UNIQUE,
            bio TEXT,
            active BOOLEAN NOT NULL,
            rating NUMERIC(10, 2),
            score FLOAT,
            born DATE,
            wakes_at TIME,
            created_at DATETIME,
            seen_at TIMESTAMP WITH TIME ZONE,
            profile JSON,
            avatar BLOB,
            mentor_id INTEGER REFERENCES authors (id),
            favourite_book_id INTEGER REFERENCES books (id),
            status VARCHAR(5) NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'live', 'gone'))
        )""",
        """CREATE TABLE books (
            id INTEGER PRIMARY KEY,
            author_id INTEGER NOT NULL REFERENCES authors (id),
            title VARCHAR(300) NOT NULL,
            price NUMERIC(12, 4),
            pages INTEGER NOT NULL CHECK (pages >= 0),
            published_at DATETIME,
            meta JSON,
            cover BLOB
        )""",
        "CREATE INDEX ix_books_title ON books (title)",
        """CREATE TABLE book_tags (
            book_id INTEGER NOT NULL REFERENCES books (id),
            tag VARCHAR(50) NOT NULL,
            weight SMALLINT,
            PRIMARY KEY (book_id, tag)
        )""",
        """CREATE TABLE tag_votes (
            id INTEGER PRIMARY KEY,
            book_id INTEGER NOT NULL,
            tag VARCHAR(50) NOT NULL,
            voter VARCHAR(100) NOT NULL,
            cast_at TIMESTAMP WITH TIME ZONE,
            FOREIGN KEY (book_id, tag) REFERENCES book_tags (book_id, tag)
        )""",
        "CREATE TABLE counters (name VARCHAR(50) PRIMARY KEY, hits BIGINT, ratio REAL, enabled BOOLEAN)",
    ],
}

_AFTER_DATA: dict[str, list[str]] = {
    "postgresql": [
        "CREATE VIEW author_books AS SELECT a.name, b.title FROM authors a JOIN books b ON b.author_id = a.id",
        """CREATE FUNCTION books_trim_title() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN NEW.title := btrim(NEW.title); RETURN NEW; END $$""",
        """CREATE TRIGGER books_trim BEFORE INSERT OR UPDATE ON books
            FOR EACH ROW EXECUTE FUNCTION books_trim_title()""",
    ],
    "mysql": [
        "CREATE VIEW author_books AS SELECT a.name, b.title FROM authors a JOIN books b ON b.author_id = a.id",
        "CREATE TRIGGER books_trim BEFORE INSERT ON books FOR EACH ROW SET NEW.title = TRIM(NEW.title)",
    ],
    "sqlite": [
        "CREATE VIEW author_books AS SELECT a.name, b.title FROM authors a JOIN books b ON b.author_id = a.id",
        """CREATE TRIGGER books_trim AFTER INSERT ON books BEGIN
            UPDATE books SET title = trim(NEW.title) WHERE id = NEW.id; END""",
    ],
}


def _bind(engine: str, kind: Kind, value: Any) -> Any:
    if value is None:
        return None
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, default=str)
    if engine == "mysql" and kind == "datetime_tz":
        return value.astimezone(UTC).replace(tzinfo=None)
    if engine == "sqlite":
        if kind in ("datetime", "datetime_tz"):
            return value.strftime("%Y-%m-%d %H:%M:%S.%f") + ("+00:00" if kind == "datetime_tz" else "")
        if kind == "time":
            return value.strftime("%H:%M:%S.%f")
        if kind == "date":
            return value.isoformat()
        if kind == "decimal":
            return str(value)
    return value


def _insert(conn: sa.Connection, engine: str, table: str, rows: list[dict[str, Any]]) -> None:
    kinds = KINDS[table]
    cols = list(kinds)
    values = []
    for c in cols:
        if engine == "postgresql" and kinds[c] == "json":
            values.append(f"CAST(:{c} AS jsonb)" if table == "authors" else f"CAST(:{c} AS json)")
        else:
            values.append(f":{c}")
    sql = sa.text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(values)})")
    conn.execute(sql, [{c: _bind(engine, kinds[c], row[c]) for c in cols} for row in rows])


def create_rich_schema(url: URL | str) -> None:
    """Build the rich schema in the empty database at ``url`` and fill it with :data:`ROWS`."""
    engine_ = open_engine(url)
    try:
        with engine_.begin() as conn:
            engine = engines.of(conn).name
            for statement in _DDL[engine]:
                conn.exec_driver_sql(statement)
            # The circular key: authors first without their favourite book, then books, then the link.
            authors = [dict(row, favourite_book_id=None) for row in ROWS["authors"]]
            _insert(conn, engine, "authors", authors)
            _insert(conn, engine, "books", ROWS["books"])
            conn.execute(
                sa.text("UPDATE authors SET favourite_book_id = :f WHERE id = :id"),
                [{"f": r["favourite_book_id"], "id": r["id"]} for r in ROWS["authors"] if r["favourite_book_id"]],
            )
            for table in ("book_tags", "tag_votes", "counters"):
                _insert(conn, engine, table, ROWS[table])
            if engine == "postgresql":
                for table in AUTO_ID:
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
            for statement in _AFTER_DATA[engine]:
                conn.exec_driver_sql(statement)
    finally:
        engine_.dispose()
