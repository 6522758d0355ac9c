"""Shared fixtures: temp platform folders, an in-memory keyring, inventories, and the real servers.

Servers are reached through URLs from the environment (twelve-factor, like the product):
``CHANGEOVER_TEST_POSTGRES_URL`` and ``CHANGEOVER_TEST_MYSQL_URL``, defaulting to the local ones. A test
that needs a server that is not there is skipped with the reason, except when
``CHANGEOVER_REQUIRE_SERVERS=1`` (set by ``.ci/run``): then it fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keyring
import keyring.backend
import pytest
import sqlalchemy as sa
from hypothesis import settings
from sqlalchemy.engine import URL, make_url

from changeover.core.inventory.db import Inventory
from changeover.core.workspace import Workspace

from .memory_keyring import InMemoryKeyring

POSTGRES_URL = os.environ.get("CHANGEOVER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("CHANGEOVER_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql")
REQUIRE_SERVERS = os.environ.get("CHANGEOVER_REQUIRE_SERVERS") == "1"

# Hypothesis' 200 ms per example measured the machine's load, not the code (a shared 2-core machine, tests in
# parallel): no deadline; pytest-timeout still bounds every test.
settings.register_profile("changeover", deadline=None)
settings.load_profile("changeover")


@pytest.fixture(autouse=True)
def platform_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HOME and XDG folders, so nothing touches the user's files."""
    base = tmp_path_factory.mktemp("home")
    for var, sub in {
        "HOME": "",
        "XDG_DATA_HOME": ".local/share",
        "XDG_CONFIG_HOME": ".config",
        "XDG_CACHE_HOME": ".cache",
        "XDG_STATE_HOME": ".local/state",
    }.items():
        (base / sub).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(base / sub))
    monkeypatch.delenv("CHANGEOVER_DATABASE_URL", raising=False)
    return base


@pytest.fixture(autouse=True)
def memory_keyring(request: pytest.FixtureRequest) -> Iterator[InMemoryKeyring | None]:
    """An in-memory keyring for every test but those marked ``real_keyring``; no ``secrets.use_store``."""
    from changeover.core import secrets

    secrets.use_store(None)
    if request.node.get_closest_marker("real_keyring"):
        yield None
        return
    previous = keyring.get_keyring()
    backend = InMemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
    secrets.use_store(None)


def server_unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
    if REQUIRE_SERVERS:
        pytest.fail(message + " and CHANGEOVER_REQUIRE_SERVERS=1", pytrace=False)
    pytest.skip(message)


def _admin_engine(url: str, what: str) -> sa.Engine:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        server_unavailable(what, exc)
    return engine


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[sa.Engine]:
    engine = _admin_engine(POSTGRES_URL, "PostgreSQL")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def mysql_admin() -> Iterator[sa.Engine]:
    engine = _admin_engine(MYSQL_URL, "MariaDB/MySQL")
    yield engine
    engine.dispose()


def unique_name(prefix: str = "co_test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_postgres_db(postgres_admin: sa.Engine) -> Iterator[object]:
    """A factory of uniquely named, empty PostgreSQL databases, dropped after the test; returns their URL."""
    made: list[str] = []

    def make(prefix: str = "co_test") -> URL:
        name = unique_name(prefix)
        with postgres_admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(POSTGRES_URL).set(database=name)

    yield make
    with postgres_admin.connect() as conn:
        for name in made:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def make_mysql_db(mysql_admin: sa.Engine) -> Iterator[object]:
    """A factory of uniquely named, empty MariaDB databases (utf8mb4), dropped after the test."""
    made: list[str] = []

    def make(prefix: str = "co_test") -> URL:
        name = unique_name(prefix)
        with mysql_admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
        made.append(name)
        return make_url(MYSQL_URL).set(database=name)

    yield make
    with mysql_admin.connect() as conn:
        for name in made:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace over a fresh SQLite inventory in a temp folder."""
    ws = Workspace(Inventory(f"sqlite:///{tmp_path / 'inventory.sqlite3'}"), actor="tester@test")
    yield ws
    ws.close()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def any_workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """A workspace over a fresh inventory on each backend a team may use."""
    if request.param == "sqlite":
        url: str | URL = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    elif request.param == "postgresql":
        url = request.getfixturevalue("make_postgres_db")("co_inv")
    else:
        url = request.getfixturevalue("make_mysql_db")("co_inv")
    ws = Workspace(Inventory(url), actor="tester@test")
    yield ws
    ws.close()


#: fixtures that reach a real database server: a test using any of them (even indirectly) is marked `servers`
SERVER_FIXTURES = frozenset(
    {"postgres_admin", "mysql_admin", "make_postgres_db", "make_mysql_db", "any_workspace", "private_postgres"}
)


#: parameters naming an engine that lives on a server (a test parametrised with one reaches it at run time)
SERVER_ENGINES = frozenset({"postgresql", "mysql"})


def _needs_a_server(item: pytest.Item) -> bool:
    if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(v in SERVER_ENGINES for v in callspec.params.values() if isinstance(v, str))


#: folders of the longest tests (whole upgrades, crashes and resumes, RDS routes, dumps and loads), in that order:
#: in a parallel run (pytest-xdist, `--dist=loadgroup`: a few tests at a time to whichever worker is free) they are
#: handed out first, so that no worker is still in one of them long after the others ran out of tests
SLOW_FIRST = ("tests/upgrade/", "tests/replication/", "tests/aws/", "tests/transfer/")


def _slowness_rank(item: pytest.Item) -> int:
    path = item.path.as_posix()
    return next((rank for rank, folder in enumerate(SLOW_FIRST) if f"/{folder}" in path), len(SLOW_FIRST))


@contextlib.contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """Hold the lock ``name`` of this machine (``flock`` on a file in the temp folder) while the block runs.

    For tests that must make objects of fixed names on the shared servers: they take turns, in every
    pytest-xdist worker and in every checkout on the machine. (``xdist_group`` marks do not serialise:
    pytest-xdist 3.8 cannot rename pytest 9's node ids, which is how it groups.)
    """
    folder = Path(tempfile.gettempdir()) / "changeover-test-locks"
    folder.mkdir(exist_ok=True)
    with open(folder / f"{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a database server, so `pytest -m "not servers"` is the fast tier; in a
    parallel run, start with the slowest folders (a plain run keeps pytest's order)."""
    for item in items:
        if _needs_a_server(item):
            item.add_marker(pytest.mark.servers)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=_slowness_rank)  # stable: each module's tests stay together and in order


@pytest.fixture(autouse=True)
def collect_on_the_gui_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """For a test with Qt widgets, garbage is collected on the GUI thread only, as the app does (a
    collection in a job's thread may free a widget there and crash Qt): see gui/app.py GuiThreadCollector."""
    if "qtbot" not in request.fixturenames and "qapp" not in request.fixturenames:
        yield
        return
    from changeover.gui.app import GuiThreadCollector

    request.getfixturevalue("qapp")
    collector = GuiThreadCollector()
    try:
        yield
    finally:
        collector.stop()
        collector.deleteLater()
