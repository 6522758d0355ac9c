"""Fixtures the transfer tests share: new databases of any engine, admin handles, application accounts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from tests.conftest import MYSQL_URL, POSTGRES_URL, unique_name
from tests.transfer.helpers import ADMIN_PW, Maker


@pytest.fixture
def make_db(request: pytest.FixtureRequest, tmp_path: Path) -> Maker:
    """``make_db(engine)``: a new empty database of that engine, dropped after the test."""

    def make(engine: str) -> URL:
        if engine == "sqlite":
            return make_url(f"sqlite:///{tmp_path / unique_name('co_x')}.sqlite3")
        factory = request.getfixturevalue("make_postgres_db" if engine == "postgresql" else "make_mysql_db")
        url: URL = factory("co_x")
        return url

    return make


@pytest.fixture
def mysql_admin_handle(mysql_admin: sa.Engine) -> Iterator[str]:
    """A MariaDB admin with a real password, allowed to create databases and users."""
    user = f"co_admin_{uuid.uuid4().hex[:8]}"
    with mysql_admin.connect() as conn:
        conn.execute(sa.text("CREATE USER :u@'%' IDENTIFIED BY :p"), {"u": user, "p": ADMIN_PW})
        conn.execute(sa.text("GRANT ALL PRIVILEGES ON *.* TO :u@'%' WITH GRANT OPTION"), {"u": user})
    base = make_url(MYSQL_URL)
    yield f"mysql://{user}:{ADMIN_PW}@{base.host}:{base.port or 3306}/mysql"
    with mysql_admin.connect() as conn:
        conn.execute(sa.text("DROP USER IF EXISTS :u@'%'"), {"u": user})


@pytest.fixture
def postgres_admin_handle(postgres_admin: sa.Engine) -> str:
    base = make_url(POSTGRES_URL)
    return f"postgresql://{base.username}:{ADMIN_PW}@{base.host}:{base.port or 5432}/postgres"


@pytest.fixture
def cleanup(postgres_admin: sa.Engine, mysql_admin: sa.Engine) -> Iterator[list[tuple[str, str]]]:
    """Databases/users a test provisioned; dropped afterwards even when the test failed."""
    made: list[tuple[str, str]] = []
    yield made
    for kind, name in made:
        if kind == "postgresql":
            with postgres_admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{name}"'))
        else:
            with mysql_admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
                conn.execute(sa.text("DROP USER IF EXISTS :u@'%'"), {"u": name})
