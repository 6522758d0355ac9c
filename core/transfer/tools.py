"""The native database tools (pg_dump, pg_restore, mariadb-dump, mariadb): finding them and running them.

A tool is looked up on ``CHANGEOVER_TOOL_PATH`` (a PATH-like list, for bundles and tests) and then on
``PATH``; its version is read from ``--version``. A child runs in its own process group with its
credentials in its environment (``PGPASSWORD``) or in a temporary 0600 option file
(``--defaults-extra-file``), never on its command line. While it runs, the caller's progress is
reported at least once a second and ``cancel`` is checked; a cancelled child gets SIGINT, then its
process group is killed after a grace period, and :class:`~changeover.core.errors.Cancelled` is raised.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy.engine import URL

from ..errors import Cancelled, ChangeoverError
from ..hooks import redact, stop_process_group

logger = logging.getLogger(__name__)

PATH_VAR = "CHANGEOVER_TOOL_PATH"
#: seconds between SIGINT and killing the process group of a cancelled child
CANCEL_GRACE = 5.0
#: seconds between two progress reports while a child runs
TICK = 0.5
CHUNK = 1 << 20


class TransferError(ChangeoverError):
    """A backup, load or copy failed."""

    title = "Transfer failed"


class ToolMissing(TransferError):
    title = "Database tool missing"


@dataclass(frozen=True)
class Tool:
    name: str
    path: str
    version: tuple[int, ...]

    @property
    def major(self) -> int:
        return self.version[0] if self.version else 0

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)


_VERSION = re.compile(r"(?:Distrib\s+|\)\s+|Ver\s+)(\d+(?:\.\d+)+)")
_cache: dict[tuple[str, str], Tool | None] = {}


def find_tool(name: str) -> Tool | None:
    """The tool ``name`` with its version, or None when it is not installed."""
    search = os.pathsep.join(p for p in (os.environ.get(PATH_VAR, ""), os.environ.get("PATH", "")) if p)
    path = shutil.which(name, path=search)
    if path is None:
        return None
    key = (name, path)
    if key not in _cache:
        _cache[key] = _probe(name, path)
    return _cache[key]


def _probe(name: str, path: str) -> Tool | None:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=20, check=False, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("%s --version failed: %s", path, exc)
        return None
    match = _VERSION.search(out)
    if match is None:
        logger.warning("cannot read the version of %s from %r", path, out[:200])
        return None
    return Tool(name, path, tuple(int(p) for p in match.group(1).split(".")))


def postgres_tools(server_major: int) -> tuple[Tool, Tool] | None:
    """pg_dump and pg_restore when both are installed and at least as new as the server, else None."""
    dump, restore = find_tool("pg_dump"), find_tool("pg_restore")
    if dump is None or restore is None:
        return None
    if dump.major < server_major or restore.major < server_major:
        logger.info(
            "pg_dump %s is older than the server (%d): using the built-in path", dump.version_text, server_major
        )
        return None
    return dump, restore


def require_mysql_tools(doing: str) -> tuple[Tool, Tool]:
    """:func:`mysql_tools`, or :class:`ToolMissing` saying what to install to do ``doing``."""
    found = mysql_tools()
    if found is None:
        raise ToolMissing(
            f"mariadb-dump (or mysqldump) and the mariadb client are needed to {doing}: install the MariaDB "
            "client tools (Debian: mariadb-client).",
        )
    return found


def mysql_tools() -> tuple[Tool, Tool] | None:
    """mariadb-dump (or mysqldump) and the mariadb (or mysql) client, else None."""
    dump = find_tool("mariadb-dump") or find_tool("mysqldump")
    client = find_tool("mariadb") or find_tool("mysql")
    if dump is None or client is None:
        return None
    return dump, client


def url_password(url: URL) -> str | None:
    return url.password if isinstance(url.password, str) else None


def postgres_env(
    url_host: str | None, port: int | None, user: str | None, password: str | None, database: str
) -> dict[str, str]:
    """libpq environment for a connection: nothing of it goes on a command line."""
    env = {"PGDATABASE": database, "PGCONNECT_TIMEOUT": "15", "PGAPPNAME": "changeover"}
    if url_host:
        env["PGHOST"] = url_host
    if port:
        env["PGPORT"] = str(port)
    if user:
        env["PGUSER"] = user
    if password:
        env["PGPASSWORD"] = password
    return env


@contextlib.contextmanager
def mysql_option_file(
    host: str | None, port: int | None, user: str | None, password: str | None, socket: str | None = None
) -> Iterator[str]:
    """A temporary 0600 ``[client]`` option file holding the credentials; removed afterwards."""
    lines = ["[client]"]
    if host:
        lines.append(f"host={host}")
    if port:
        lines.append(f"port={port}")
    if socket:
        lines.append(f"socket={socket}")
    if user:
        lines.append(f"user={_option_value(user)}")
    lines.append(f"password={_option_value(password or '')}")
    fd, path = tempfile.mkstemp(prefix="changeover-", suffix=".cnf")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def mysql_options_for(url: URL) -> contextlib.AbstractContextManager[str]:
    """:func:`mysql_option_file` with the connection and credentials of ``url``."""
    socket = url.query.get("unix_socket")
    return mysql_option_file(
        url.host, url.port, url.username, url_password(url), socket if isinstance(socket, str) else None
    )


def _option_value(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class Sink(Protocol):
    def write(self, block: bytes, /) -> int: ...


@dataclass
class Child:
    """What a finished child left: its exit code and the tail of its stderr (secrets redacted)."""

    returncode: int
    stderr: str


def run(
    argv: list[str],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    cancel: threading.Event | None = None,
    source: BinaryIO | None = None,
    sink: Sink | None = None,
    on_bytes: Callable[[int], None] | None = None,
    on_line: Callable[[str], None] | None = None,
    tick: Callable[[], None] | None = None,
    transform: Callable[[bytes], bytes] | None = None,
    check: bool = True,
) -> Child:
    """Run ``argv`` in its own process group, feeding ``source`` to its stdin and its stdout into ``sink``.

    ``on_bytes(n)`` is told the running byte count fed or received; ``on_line`` gets each stderr line;
    ``tick()`` is called at least once a second. ``transform`` rewrites each stdin line on its way in.
    """
    secret_list = [s for s in secrets if s]
    full_env = dict(os.environ)
    full_env.pop("MYSQL_PWD", None)
    full_env.update(env or {})
    logger.info("running %s", " ".join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv)))
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if source is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if sink is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=full_env,
            start_new_session=True,
        )
    except OSError as exc:
        raise ToolMissing(f"{what} could not start {Path(argv[0]).name}: {exc.strerror}.") from None
    tail: list[str] = []
    counted = [0]
    lock = threading.Lock()

    def count(n: int) -> None:
        with lock:
            counted[0] += n

    def read_stderr() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = redact(raw.decode("utf-8", "replace").rstrip("\n"), secret_list)
            tail.append(line)
            del tail[:-40]
            if on_line is not None:
                on_line(line)

    def feed() -> None:
        assert process.stdin is not None and source is not None
        try:
            if transform is None:
                while block := source.read(CHUNK):
                    process.stdin.write(block)
                    count(len(block))
            else:
                for line in source:
                    process.stdin.write(transform(line))
                    count(len(line))
            process.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass

    threads = [threading.Thread(target=read_stderr, daemon=True, name=f"{what}-stderr")]
    if source is not None:
        threads.append(threading.Thread(target=feed, daemon=True, name=f"{what}-stdin"))
    for thread in threads:
        thread.start()
    selector = selectors.DefaultSelector()
    if sink is not None:
        assert process.stdout is not None
        selector.register(process.stdout, selectors.EVENT_READ)
    last = 0.0
    try:
        while True:
            if cancel is not None and cancel.is_set():
                logger.info("cancelling %s", what)
                stop_process_group(process, signal.SIGINT, CANCEL_GRACE)
                raise Cancelled(f"{what} was cancelled by the user; the child process was stopped.")
            if sink is not None and process.stdout is not None:
                ready = selector.select(TICK)
                if ready:
                    block = os.read(process.stdout.fileno(), CHUNK)
                    if not block:
                        selector.unregister(process.stdout)
                        sink_done = True
                    else:
                        sink.write(block)
                        count(len(block))
                        sink_done = False
                else:
                    sink_done = False
                if sink_done:
                    process.wait()
                    break
            else:
                try:
                    process.wait(timeout=TICK)
                    break
                except subprocess.TimeoutExpired:
                    pass
            now = time.monotonic()
            if now - last >= TICK:
                last = now
                if on_bytes is not None:
                    with lock:
                        on_bytes(counted[0])
                if tick is not None:
                    tick()
    except BaseException:
        if process.poll() is None:
            stop_process_group(process, signal.SIGINT, CANCEL_GRACE)
        raise
    finally:
        selector.close()
        for thread in threads:
            thread.join(timeout=10)
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
    if on_bytes is not None:
        on_bytes(counted[0])
    child = Child(process.returncode, "\n".join(tail))
    if check and process.returncode != 0:
        detail = _last_error(tail)
        raise TransferError(f"{what} failed: {Path(argv[0]).name} exited with {process.returncode}{detail}")
    return child


def _last_error(tail: list[str]) -> str:
    errors = [line for line in tail if "error" in line.lower()] or tail
    return f": {errors[-1][:300]}" if errors else "."


def run_in_order(execute: Callable[[str], object], statements: list[str], errors: tuple[type[Exception], ...]) -> None:
    """Run DDL statements; one that needs a later one (a view on a view) is retried after the others."""
    pending = list(statements)
    while pending:
        failed: list[str] = []
        error: Exception | None = None
        for statement in pending:
            try:
                execute(statement)
            except errors as exc:
                failed.append(statement)
                error = exc
        if len(failed) == len(pending):
            assert error is not None
            raise error
        pending = failed
