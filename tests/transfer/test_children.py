"""``kill -9`` of Changeover in the middle of a backup: its tool children die too, no credential is left on
disk, and the partial backup folder it left is cleaned by the next start.

A separate Python process runs a real backup. The dump is held mid-run by a lock this test takes (pg_dump
waits to read a sequence renamed by an open transaction, mariadb-dump for a table's metadata lock), so
the tool is certainly running when the process is killed, without any sleep.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.core import paths
from changeover.core.backups import list_backups
from changeover.core.transfer import partials, tools
from changeover.core.transfer.backup import BackupParams, backup
from changeover.core.transfer.load import LoadParams, load
from tests.conftest import unique_name
from tests.waiting import wait_for as shared_wait_for

pytestmark = pytest.mark.servers

SCRIPT = """
import os
from sqlalchemy.engine import make_url
from changeover.core.transfer.backup import BackupParams, backup
from changeover.core.transfer.load import LoadParams, load
backup(BackupParams(make_url(os.environ["KID_URL"]), resource="kid", mysql_format=os.environ["KID_FORMAT"]))
"""


def wait_for(condition: Callable[[], object], deadline: float, what: str) -> object:
    return shared_wait_for(what, condition, deadline)


def _stat(pid: int) -> tuple[str, str, int] | None:
    """(command name, state, parent pid) of ``pid``, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    return name, fields[0], int(fields[1])


def children_named(parent: int, names: tuple[str, ...]) -> list[int]:
    """The running children of ``parent`` called one of ``names``, not counting a ``--version`` probe."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _stat(int(entry.name))) and info[0] in names and info[2] == parent:
            with contextlib.suppress(OSError):
                if info[1] != "Z" and b"--version" not in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    info = _stat(pid)
    return info is not None and info[1] != "Z"


@contextlib.contextmanager
def backup_process(url: URL, mysql_format: str = "sql") -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ, KID_URL=url.render_as_string(hide_password=False), KID_FORMAT=mysql_format)
    child = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stderr=subprocess.PIPE)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        assert child.stderr is not None
        child.stderr.close()


def kill_during(url: URL, names: tuple[str, ...], mysql_format: str = "sql") -> list[int]:
    """Start the backup process, wait for one of ``names`` to run under it, kill -9 it; return the names' pids."""
    with backup_process(url, mysql_format) as child:
        pids = wait_for(lambda: children_named(child.pid, names), 30, f"no {'/'.join(names)} started")
        assert isinstance(pids, list)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    return pids


def assert_tools_gone(pids: list[int]) -> None:
    wait_for(lambda: not any(running(p) for p in pids), 10, f"tool processes {pids} outlived their parent")


def assert_partial_cleaned() -> None:
    folder = paths.backups_dir() / "kid"
    left = [p for p in folder.iterdir() if partials.is_partial(p)]
    assert len(left) == 1, list(folder.iterdir())
    assert list_backups("kid") == []  # a partial backup is never offered
    assert partials.clean_partials() == left
    assert not left[0].exists()


@pytest.fixture
def pg_source(make_postgres_db: Callable[[str], URL]) -> URL:
    url = make_postgres_db("co_kid")
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE ballast (id integer PRIMARY KEY, pad text)"))
        conn.execute(sa.text("INSERT INTO ballast SELECT g, md5(g::text) FROM generate_series(1, 1000) g"))
        conn.execute(sa.text("CREATE SEQUENCE kid_seq"))
    engine.dispose()
    return url


@contextlib.contextmanager
def pg_locked(url: URL) -> Iterator[None]:
    """Hold an ACCESS EXCLUSIVE lock on kid_seq (not on the table: the backup's catalog read sizes tables)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text("ALTER SEQUENCE kid_seq RENAME TO kid_seq_held"))
        try:
            yield
        finally:
            conn.rollback()
    engine.dispose()


def test_pg_dump_dies_with_a_killed_changeover_and_its_partial_backup_is_cleaned(pg_source: URL) -> None:
    with pg_locked(pg_source):
        pids = kill_during(pg_source, ("pg_dump",))
        assert_tools_gone(pids)

    assert_partial_cleaned()


def test_clean_partials_leaves_finished_backups_and_live_writers_alone(pg_source: URL, tmp_path: Path) -> None:
    done = backup(BackupParams(pg_source, resource="kid"))
    live = paths.backups_dir() / "kid" / f"live{partials.PARTIAL}"
    live.mkdir()
    (live / partials.OWNER).write_text(f"{os.getpid()} {partials.process_start_time(os.getpid())}\n")
    reused = paths.backups_dir() / "kid" / f"reused{partials.PARTIAL}"
    reused.mkdir()
    (reused / partials.OWNER).write_text(f"{os.getpid()} 1\n")  # our pid, but another process's start time

    assert partials.clean_partials() == [reused]

    assert live.exists() and not reused.exists()
    assert [folder for folder, _ in list_backups("kid")] == [done.folder]
    assert not partials.is_partial(done.folder) and (done.folder / "manifest.json").exists()
    assert not (done.folder / partials.OWNER).exists()


@pytest.fixture
def mysql_source(make_mysql_db: Callable[[str], URL], mysql_admin: sa.Engine) -> Iterator[URL]:
    """A MariaDB database with one table, reached by its own user with a real password."""
    admin_url = make_mysql_db("co_kid")
    user, password = unique_name("kid")[:30], secrets.token_urlsafe(18)
    with mysql_admin.connect() as conn:
        conn.execute(sa.text("CREATE USER :u@'%' IDENTIFIED BY :p"), {"u": user, "p": password})
        conn.execute(sa.text(f"GRANT ALL ON `{admin_url.database}`.* TO :u@'%'"), {"u": user})
    url = admin_url.set(username=user, password=password)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE ballast (id integer PRIMARY KEY, pad text)"))
        conn.execute(sa.text("INSERT INTO ballast VALUES (1, 'one'), (2, 'two')"))
    engine.dispose()
    yield url
    with mysql_admin.connect() as conn:
        conn.execute(sa.text("DROP USER IF EXISTS :u@'%'"), {"u": user})


@contextlib.contextmanager
def mysql_locked(url: URL) -> Iterator[None]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text("LOCK TABLES ballast WRITE"))
        try:
            yield
        finally:
            conn.execute(sa.text("UNLOCK TABLES"))
    engine.dispose()


def files_holding(secret: bytes, since: float) -> list[Path]:
    """Files changed since ``since`` under the temporary and runtime folders whose content holds ``secret``."""
    roots = {Path("/tmp"), Path(tempfile.gettempdir()), Path("/dev/shm"), paths.private_runtime_dir()}
    if os.environ.get("XDG_RUNTIME_DIR"):
        roots.add(Path(os.environ["XDG_RUNTIME_DIR"]))
    found = []
    for root in roots:
        for folder, _dirs, names in os.walk(root):
            for name in names:
                path = Path(folder, name)
                with contextlib.suppress(OSError):
                    info = path.lstat()
                    recent = stat.S_ISREG(info.st_mode) and info.st_mtime >= since and info.st_size < 50_000_000
                    if recent and secret in path.read_bytes():
                        found.append(path)
    return found


@pytest.mark.parametrize("mysql_format", ["sql", "tsv"])
def test_a_killed_mariadb_backup_leaves_no_tool_and_no_password_on_disk(mysql_source: URL, mysql_format: str) -> None:
    since = time.time() - 1
    password = mysql_source.password
    assert isinstance(password, str)

    with mysql_locked(mysql_source):
        pids = kill_during(mysql_source, ("mariadb-dump", "mysqldump", "mariadb", "mysql"), mysql_format)
        assert_tools_gone(pids)

    assert files_holding(password.encode(), since) == []
    assert not list(Path(tempfile.gettempdir()).glob("changeover-*.cnf"))
    assert_partial_cleaned()


def test_the_private_runtime_folder_is_private_and_cleaned_of_dead_owners() -> None:
    folder = paths.private_runtime_dir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = folder / f"client-{int(dead.stdout)}-abc.cnf"
    left.write_text("password=x")
    mine = folder / paths.runtime_file_name("client", ".cnf")
    mine.write_text("password=y")

    assert paths.clean_private_runtime() == [left]

    assert mine.exists() and not left.exists()
    assert folder.stat().st_mode & 0o777 == 0o700


# -- a connection lost mid-transfer is named -------------------------------------------------------

LOST = r"The connection to the target database server was lost during the load \(.+\): check that the server is"


@pytest.fixture
def gated_backup(make_postgres_db: Callable[[str], URL]) -> Path:
    """A backup whose table has a CHECK calling a function that takes advisory lock 4242 for each row.

    While the test holds that lock in the target database, a load of this backup waits inside its COPY.
    """
    source = make_postgres_db("co_gate")
    engine = sa.create_engine(source, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE FUNCTION gate(i integer) RETURNS boolean LANGUAGE sql AS "
                "$$ SELECT true FROM (SELECT pg_advisory_xact_lock_shared(4242)) AS held $$"
            )
        )
        conn.execute(sa.text("CREATE TABLE gated (id integer PRIMARY KEY CHECK (gate(id)), pad text)"))
        conn.execute(sa.text("INSERT INTO gated SELECT g, md5(g::text) FROM generate_series(1, 100) g"))
    engine.dispose()
    return backup(BackupParams(source, resource="gated")).folder


def test_target_connection_killed_mid_copy_is_named(
    gated_backup: Path, make_postgres_db: Callable[[str], URL], postgres_admin: sa.Engine
) -> None:
    target = make_postgres_db("co_gate_dst")
    holder = sa.create_engine(target, poolclass=sa.NullPool)
    failed: list[BaseException] = []

    def terminate_copy() -> bool:
        with postgres_admin.connect() as conn:
            pids = (
                conn.execute(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = :db AND wait_event_type = 'Lock' "
                        "AND query ILIKE 'COPY %'"
                    ),
                    {"db": target.database},
                )
                .scalars()
                .all()
            )
            for pid in pids:
                conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        return bool(pids)

    def run_load() -> None:
        try:
            load(LoadParams(gated_backup, target, jobs=2))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            failed.append(exc)

    with holder.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(4242)"))
        worker = threading.Thread(target=run_load)
        worker.start()
        wait_for(terminate_copy, 30, "the load never reached its COPY")
        worker.join(60)
        conn.rollback()
    holder.dispose()

    assert not worker.is_alive()
    assert len(failed) == 1 and isinstance(failed[0], tools.ConnectionLost), failed
    assert re.search(LOST, failed[0].message), failed[0].message
    assert "worker process died" not in failed[0].message  # the reason named is the lost connection


def test_a_mariadb_client_whose_connection_is_killed_reports_the_lost_connection(
    mysql_source: URL, mysql_admin: sa.Engine
) -> None:
    client = tools.find_tool("mariadb") or tools.find_tool("mysql")
    if client is None:
        pytest.skip("the mariadb client is not installed")
    marker = unique_name("lost")
    failed: list[BaseException] = []

    def kill_query() -> bool:
        with mysql_admin.connect() as conn:
            ids = (
                conn.execute(
                    sa.text(
                        "SELECT id FROM information_schema.processlist "
                        "WHERE info LIKE :m AND info NOT LIKE '%%processlist%%'"
                    ),
                    {"m": f"%{marker}%"},
                )
                .scalars()
                .all()
            )
            for id_ in ids:
                conn.execute(sa.text(f"KILL CONNECTION {int(id_)}"))
        return bool(ids)

    def run_client() -> None:
        with tools.mysql_options_for(mysql_source) as options:
            try:
                tools.run(
                    [client.path, f"--defaults-extra-file={options}", f"--database={mysql_source.database}"],
                    what="The load",
                    source=io.BytesIO(f"SELECT '{marker}', SLEEP(60);\n".encode()),
                    secrets=[str(mysql_source.password)],
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                failed.append(exc)

    worker = threading.Thread(target=run_client)
    worker.start()
    wait_for(kill_query, 30, "the client's query never ran")
    worker.join(60)

    assert not worker.is_alive()
    assert len(failed) == 1 and isinstance(failed[0], tools.ConnectionLost), failed
    assert re.search(LOST, failed[0].message), failed[0].message
    assert "Lost connection" in failed[0].message and str(mysql_source.password) not in failed[0].message


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_driver_errors_of_a_killed_connection_are_recognised(
    engine: str, request: pytest.FixtureRequest, postgres_admin: sa.Engine, mysql_admin: sa.Engine
) -> None:
    url = request.getfixturevalue("make_postgres_db" if engine == "postgresql" else "make_mysql_db")("co_lost")
    victim = sa.create_engine(url, poolclass=sa.NullPool)
    with victim.connect() as conn:
        if engine == "postgresql":
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            with postgres_admin.connect() as admin:
                admin.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        else:
            pid = conn.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
            with mysql_admin.connect() as admin:
                admin.execute(sa.text(f"KILL CONNECTION {int(pid)}"))
        with pytest.raises(sa.exc.DBAPIError) as broken:
            conn.execute(sa.text("SELECT 1"))
        conn.invalidate()
    victim.dispose()

    assert tools.lost_connection(str(broken.value.orig)), str(broken.value.orig)
    assert not tools.lost_connection('relation "missing" does not exist')
    message = tools.connection_lost("source", "the backup", str(broken.value.orig)).message
    assert message.startswith("The connection to the source database server was lost during the backup (")
