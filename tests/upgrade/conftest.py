"""The example app as a real deploy, and the CLI as a real process, for end-to-end, crash and fault tests.

The in-process workspace and every ``changeover`` child share one SQLite inventory and one file keyring
(``tests.keyring_file.FileKeyring``), so a test can set things up through the core API, drive the upgrade
through the CLI, kill it, and check the outcome through either.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keyring
import pytest
import sqlalchemy as sa
from dotenv import dotenv_values
from sqlalchemy.engine import URL

from changeover.core import handles
from changeover.core.inventory.db import Inventory
from changeover.core.workspace import Workspace
from tests.keyring_file import FileKeyring
from tests.waiting import wait_for

REPO = Path(__file__).parents[2]
APP_DIR = REPO / "examples" / "twelve_factor_app"
APPCTL = APP_DIR / "appctl.py"
APP_PY = APP_DIR / "app.py"


def text(url: URL | str) -> str:
    """A URL as a handle, password included."""
    return url.render_as_string(hide_password=False) if isinstance(url, URL) else url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def items(url: URL | str) -> dict[int, str]:
    """The rows of the app's table: id -> value."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return {int(r[0]): str(r[1]) for r in conn.execute(sa.text("SELECT id, value FROM items"))}
    finally:
        engine.dispose()


def seed(url: URL | str, rows: int) -> None:
    """Create the app's table (as the app would) and fill it with ``rows`` rows."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            ident = {
                "postgresql": "id SERIAL PRIMARY KEY",
                "mysql": "id INT AUTO_INCREMENT PRIMARY KEY",
                "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT",
            }[conn.dialect.name]
            conn.execute(sa.text(f"CREATE TABLE items ({ident}, value VARCHAR(200) NOT NULL)"))
            conn.execute(sa.text("INSERT INTO items (value) VALUES (:v)"), [{"v": f"seed {i}"} for i in range(rows)])
    finally:
        engine.dispose()


def ballast(url: URL, rows: int, width: int = 6, schema: str | None = None) -> None:
    """A PostgreSQL table the app never reads, built inside the server: ``rows`` rows of ``32 * width`` bytes.

    With ``schema``, the table lives in that schema (created here) instead of ``public``.
    """
    table = f'"{schema}".ballast' if schema else "ballast"
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            if schema:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            conn.execute(sa.text(f"CREATE TABLE {table} (id INT PRIMARY KEY, body TEXT NOT NULL)"))
            conn.execute(
                sa.text(f"INSERT INTO {table} SELECT g, repeat(md5(g::text), :w) FROM generate_series(1, :n) g"),
                {"w": width, "n": rows},
            )
    finally:
        engine.dispose()


def processes_with(*needles: bytes) -> list[int]:
    """The live (not zombie) processes whose command line contains every one of ``needles``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z" and all(n in cmdline for n in needles):
                found.append(int(entry.name))
    return found


# -- a small table on any engine -----------------------------------------------------------------


ROWS = 3000


def fill(url: URL | str, rows: int = ROWS) -> None:
    """A table of ``rows`` items (text with a non-ASCII mark, decimals) on any engine."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        backend = conn.dialect.name
        ident = {
            "postgresql": "id SERIAL PRIMARY KEY",
            "mysql": "id INT AUTO_INCREMENT PRIMARY KEY",
            "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT",
        }[backend]
        conn.execute(sa.text(f"CREATE TABLE items ({ident}, name VARCHAR(100) NOT NULL, price NUMERIC(10,2))"))
        conn.execute(
            sa.text("INSERT INTO items (name, price) VALUES (:n, :p)"),
            [{"n": f"item {i} ✓", "p": i / 4} for i in range(rows)],
        )
    engine.dispose()


def count(url: URL | str) -> int:
    """The rows of the items table."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        result = int(conn.execute(sa.text("SELECT count(*) FROM items")).scalar_one())
    engine.dispose()
    return result


# -- a PostgreSQL server of the test's own -------------------------------------------------------


def _server_binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


@dataclass
class PrivatePostgres:
    """A PostgreSQL instance of the test's own: its admin URL, and how to crash and start it again."""

    url: URL
    crash: Callable[[], None]
    start: Callable[[], None]


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL instance of our own on a free port (never the shared one).

    initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user.
    """
    from tests.conftest import REQUIRE_SERVERS

    bindir = _server_binaries()
    if bindir is None:
        message = "no PostgreSQL server binaries under /usr/lib/postgresql (Debian: postgresql)"
        if REQUIRE_SERVERS:
            pytest.fail(message + " and CHANGEOVER_REQUIRE_SERVERS=1", pytrace=False)
        pytest.skip(message)
    base = Path(tempfile.mkdtemp(prefix="co_pg_"))
    owner = "postgres" if os.geteuid() == 0 else None
    if owner:
        shutil.chown(base, owner)
    data, port = base / "data", free_port()

    def pg(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, user=owner, capture_output=True, text=True, timeout=60, check=False)

    def crash() -> None:
        stopped = pg(str(bindir / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate")
        assert stopped.returncode == 0, stopped.stderr

    def start() -> None:
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        started = pg(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start")
        assert started.returncode == 0, started.stderr + (base / "log").read_text()

    try:
        made = pg(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        assert made.returncode == 0, made.stderr
        start()
        yield PrivatePostgres(
            URL.create("postgresql+psycopg", "postgres", None, "127.0.0.1", port, "postgres"), crash, start
        )
    finally:
        if (data / "postmaster.pid").exists():
            pg(str(bindir / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate")
        shutil.rmtree(base, ignore_errors=True)


# -- the example app as a deploy --------------------------------------------------------------------


class TwelveFactorApp:
    """One deploy of the example app: its folder, .env, port, and its restart hook command."""

    def __init__(self, folder: Path, database_url: str) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.env_file = folder / ".env"
        self.port = free_port()
        self.env_file.write_text(f"# the example app\nPORT={self.port}\nDATABASE_URL={database_url}\n")
        self.env_file.chmod(0o600)
        self.restart_cmd = f"{sys.executable} {APPCTL} restart"

    # control

    def ctl(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(APPCTL), action],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self) -> None:
        done = self.ctl("start")
        assert done.returncode == 0, done.stderr

    def pids(self) -> list[int]:
        """Every live process running the app for this folder (the pid file may be gone after a crash)."""
        return processes_with(str(APP_PY).encode(), str(self.env_file).encode())

    def kill(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for("the app to be gone", lambda: not self.pids(), 10)

    # config

    def config(self) -> dict[str, str]:
        return {k: v or "" for k, v in dotenv_values(self.env_file).items()}

    # HTTP

    def request(self, method: str, path: str, body: object = None, timeout: float = 5) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data else {}
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
        finally:
            connection.close()

    def post(self, value: str) -> int:
        status, body = self.request("POST", "/items", {"value": value})
        assert status == 201, (status, body)
        return int(body["id"])

    def get_items(self) -> dict[int, str]:
        status, body = self.request("GET", "/items")
        assert status == 200, (status, body)
        return {int(r["id"]): str(r["value"]) for r in body["items"]}

    def serving(self) -> bool:
        """True once the app answers out of maintenance."""
        with contextlib.suppress(OSError):
            status, body = self.request("GET", "/health", timeout=1)
            return status == 200 and not body["maintenance"]
        return False


def on_one_database(
    kit: Kit, app: TwelveFactorApp, resource: str, committed: dict[int, str] | None = None, deploy: str = "shop"
) -> URL:
    """The deploy is on exactly one database, ``resource``, and serves from it, out of maintenance.

    Its .env and the inventory agree, the database holds every ``committed`` row, the app lists exactly
    the database's rows, and a new write through the app lands there. Returns the database's URL.
    """
    config = app.config()
    assert "MAINTENANCE_MODE" not in config, f"{deploy} was left in maintenance"
    attached = [(r.name, a.env_var) for r in kit.ws.list_resources() for a in r.attachments if a.deploy == deploy]
    assert attached == [(resource, "DATABASE_URL")]
    assert config["DATABASE_URL"] == kit.ws.full_handle(resource)
    url = handles.parse(config["DATABASE_URL"]).sqlalchemy_url()
    rows = items(url)
    lost = {i: v for i, v in (committed or {}).items() if rows.get(i) != v}
    assert not lost, f"{len(lost)} committed rows are missing: {list(lost.items())[:5]}"
    wait_for(f"{deploy} to serve", app.serving)
    assert app.get_items() == rows
    new_id = app.post(f"after, through {deploy}")
    assert items(url)[new_id] == f"after, through {deploy}"
    return url


@dataclass
class Writer:
    """Writes to the app from a thread for as long as it runs, recording what was acknowledged."""

    app: TwelveFactorApp
    acked: dict[int, str] = field(default_factory=dict)  # id -> value, for each 2xx answer
    unavailable: int = 0  # 503s: maintenance
    failed: list[str] = field(default_factory=list)  # connection errors (restarts) and other answers
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def __enter__(self) -> Writer:
        self.thread = threading.Thread(target=self._loop, name="app-writer", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(30)

    def _loop(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            value = f"w{n}-{uuid.uuid4().hex[:6]}"
            try:
                status, body = self.app.request("POST", "/items", {"value": value})
            except OSError as exc:  # refused or reset while the app restarts
                self.failed.append(type(exc).__name__)
                self.stop.wait(0.02)
                continue
            if 200 <= status < 300:
                self.acked[int(body["id"])] = value
            elif status == 503:
                self.unavailable += 1
                self.stop.wait(0.02)
            else:
                self.failed.append(f"HTTP {status}")
            self.stop.wait(0.005)


# -- the CLI as a process ---------------------------------------------------------------------------


@dataclass
class Kit:
    """A workspace and a matching environment for ``changeover`` child processes."""

    ws: Workspace
    env: dict[str, str]
    tmp: Path
    apps: list[TwelveFactorApp] = field(default_factory=list)

    def app(self, name: str, database_url: URL | str) -> TwelveFactorApp:
        app = TwelveFactorApp(self.tmp / name, text(database_url))
        self.apps.append(app)
        return app

    def deploy(self, app: TwelveFactorApp, name: str = "shop", resource: str = "shop-db", **hooks: Any) -> None:
        """Add the app as a deploy whose DATABASE_URL is the resource (registered if new), and start it."""
        options: dict[str, Any] = {
            "restart_cmd": app.restart_cmd,
            "maintenance_var": "MAINTENANCE_MODE",
            "hook_timeout": 30,
        }
        options.update(hooks)
        self.ws.add_deploy(name, str(app.env_file), **options)
        if resource not in [r.name for r in self.ws.list_resources()]:
            self.ws.register_resource(resource, app.config()["DATABASE_URL"])
        self.ws.attach(resource, name, "DATABASE_URL", replace=True)  # the restart hook starts the app
        wait_for(f"{name} to serve", app.serving)

    def cli(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "changeover.cli", *argv],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "changeover.cli", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            start_new_session=True,
        )


def json_documents(stream: str) -> list[Any]:
    """Every JSON value in ``stream`` (events are one per line; the plan and the final run are indented)."""
    decoder = json.JSONDecoder()
    found, index = [], 0
    while True:
        while index < len(stream) and stream[index].isspace():
            index += 1
        if index >= len(stream):
            return found
        value, index = decoder.raw_decode(stream, index)
        found.append(value)


def events_of(stream: str) -> list[dict[str, Any]]:
    return [d for d in json_documents(stream) if isinstance(d, dict) and "run_id" in d and "state" in d]


@pytest.fixture(autouse=True)
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step past the switch retries at once: the back-off is a wait for the admin, not behaviour under test."""
    from changeover.core.upgrade import runner

    monkeypatch.setattr(runner, "retry_sleep", lambda seconds: None)


@pytest.fixture
def kit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory_keyring: object, postgres_admin: sa.Engine
) -> Iterator[Kit]:
    inventory = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    keyring_file = tmp_path / "keyring.json"
    monkeypatch.setenv("CHANGEOVER_TEST_KEYRING_FILE", str(keyring_file))
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    env = {
        **os.environ,
        "CHANGEOVER_DATABASE_URL": inventory,
        "PYTHON_KEYRING_BACKEND": "tests.keyring_file.FileKeyring",
        "CHANGEOVER_TEST_KEYRING_FILE": str(keyring_file),
        "PYTHONPATH": str(REPO),
    }
    ws = Workspace(Inventory(inventory), actor="tester@test")
    made = Kit(ws, env, tmp_path)
    try:
        yield made
    finally:
        for app in made.apps:
            app.kill()
        try:
            _drop_provisioned(ws)
        finally:
            ws.close()
            keyring.set_keyring(previous)


def _drop_provisioned(ws: Workspace) -> None:
    """Drop every database (and user) a test provisioned on the shared servers, connected or not."""
    from tests.conftest import MYSQL_URL, POSTGRES_URL

    for resource in ws.list_resources("all"):
        if resource.origin != "provisioned" or resource.kind not in ("postgresql", "mysql"):
            continue
        url = sa.engine.make_url(resource.handle.replace("•••", "x"))
        admin = POSTGRES_URL if resource.kind == "postgresql" else MYSQL_URL
        if (url.host, url.port) != (sa.engine.make_url(admin).host, sa.engine.make_url(admin).port):
            continue  # a private server, stopped and removed by its own fixture
        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        with engine.connect() as conn:
            if resource.kind == "postgresql":
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{url.username}"'))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{url.database}`"))
                conn.execute(sa.text(f"DROP USER IF EXISTS '{url.username}'@'%'"))
        engine.dispose()
