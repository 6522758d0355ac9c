"""The native database tools (pg_dump, pg_restore, mariadb-dump, mariadb): finding them and running them.

A tool is looked up on ``CHANGEOVER_TOOL_PATH`` (a PATH-like list, for bundles and tests) and then on
``PATH``; its version is read from ``--version``. A child runs in its own process group with its
credentials in its environment (``PGPASSWORD``) or in an option file (``--defaults-extra-file``), never
on its command line. The option file is anonymous where the system allows it (Linux ``memfd_create``,
handed to the child as ``/dev/fd/N``): it lives in memory and disappears with the last process holding
it, so no ``kill -9`` can leave the password on disk. Elsewhere it is a 0600 file in the private 0700
runtime folder (:func:`changeover.core.paths.private_runtime_dir`), which every start cleans.

A child dies with Changeover: on Linux it gets a parent-death signal (``PR_SET_PDEATHSIG``, SIGKILL).
The kernel sends it when the *thread* that started the child ends; :func:`run` starts the child on the
calling thread and does not return before the child has exited (or been stopped), so a job thread
never ends under a running tool. Hooks do not get it: a restart hook may start services that must live on.

While a child runs, the caller's progress is reported at least once a second and ``cancel`` is checked;
a cancelled child gets SIGINT, then its process group is killed after a grace period, and
:class:`~changeover.core.errors.Cancelled` is raised. A child that fails because its server connection
was lost raises :class:`ConnectionLost`, naming the server and what to do.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy.engine import URL

from .. import paths
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


class ConnectionLost(TransferError):
    """The connection to a database server broke while data was moving (server stopped, killed, restarted)."""

    title = "Connection to the database server lost"


#: what a driver or tool says when an established connection broke (not when it could not connect)
_LOST = re.compile(
    r"server closed the connection unexpectedly|connection to server (?:was )?lost|could not receive data from "
    r"server|terminating connection due to administrator command|SSL connection has been closed unexpectedly|"
    r"the connection is lost|consuming input failed|lost connection to (?:MySQL |MariaDB )?server|"
    r"server has gone away|worker process died unexpectedly|\(2013\b|\(2006\b|\(2055\b|\b2013 \(HY000\)|"
    r"\b2006 \(HY000\)",
    re.IGNORECASE,
)
#: pg_restore -j says this when a worker's connection broke; the worker's own line says why
_WORKER_DIED = "worker process died unexpectedly"
#: lines a parallel tool prints after the error that stopped one of its workers: the cause came before
_AFTERMATH = (_WORKER_DIED, "terminating at user request")
#: what a tool's worker says when this machine failed it: the disk, the quota, the folder's permissions
_LOCAL_FAILURE = re.compile(
    r"No space left on device|Disk quota exceeded|could not (?:write to|open|create) (?:output )?file|"
    r"Permission denied|Read-only file system",
    re.IGNORECASE,
)


def lost_connection(text: str) -> bool:
    """True when ``text`` (a driver's message or a tool's stderr line) says an open connection broke."""
    return bool(_LOST.search(text))


def connection_lost(side: str, doing: str, reason: str, secrets: Iterable[str] = ()) -> ConnectionLost:
    """The error for a connection to the ``side`` ("source" or "target") server lost during ``doing``."""
    reason = redact(" ".join(reason.split()), secrets)[:300].rstrip(" .:")
    return ConnectionLost(
        f"The connection to the {side} database server was lost during {doing} ({reason}): check that the "
        "server is running, then retry or resume."
    )


def guess_side(what: str) -> str:
    """ "source" for work that reads a database (a backup, a dump, an export), else "target"."""
    return "source" if any(word in what.lower() for word in ("backup", "dump", "export", "read")) else "target"


def lost_connection_reason(lines: Iterable[str]) -> str | None:
    """The most telling line of ``lines`` that says a connection broke, or None when none does."""
    lines = list(lines)
    matching = [line for line in lines if lost_connection(line)]
    if not matching:
        return None
    telling = [line for line in matching if _WORKER_DIED not in line]
    if not telling and any(_LOCAL_FAILURE.search(line) for line in lines):
        return None  # a worker died of this machine's trouble (a full disk), not of a broken connection
    return (telling or matching)[0]


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


#: option-file descriptors alive now (memfd): :func:`run` passes those named in a child's argv
_option_fds: set[int] = set()
_option_lock = threading.Lock()
_FD_PATH = re.compile(r"^--defaults(?:-extra)?-file=/dev/fd/(\d+)$")


@contextlib.contextmanager
def mysql_option_file(
    host: str | None, port: int | None, user: str | None, password: str | None, socket: str | None = None
) -> Iterator[str]:
    """The path of a ``[client]`` option file holding the credentials, gone when the block ends.

    An anonymous in-memory file (``/dev/fd/N``, passed to the children :func:`run` starts with it in
    their argv) on Linux; elsewhere a 0600 file in the private runtime folder, removed afterwards.
    """
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
    content = ("\n".join(lines) + "\n").encode("utf-8")
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("changeover-client.cnf", os.MFD_CLOEXEC)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, content)
            with _option_lock:
                _option_fds.add(fd)
            yield f"/dev/fd/{fd}"
        finally:
            with _option_lock:
                _option_fds.discard(fd)
            os.close(fd)
        return
    path = paths.private_runtime_dir() / paths.runtime_file_name("client", ".cnf")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        yield str(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _fds_for(argv: list[str]) -> tuple[int, ...]:
    """The live option-file descriptors ``argv`` names, to hand to the child."""
    named = {int(m.group(1)) for a in argv if (m := _FD_PATH.match(a))}
    with _option_lock:
        return tuple(sorted(named & _option_fds))


# -- dying with the parent --------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        logger.warning("prctl is not available: tool children will not die with Changeover")
        return None
    return prctl


_prctl = _load_prctl()


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when the thread that started it ends (Linux)."""
    if _prctl is None:
        return None
    prctl, parent, kill = _prctl, os.getpid(), int(signal.SIGKILL)

    def die_with_parent() -> None:  # runs in the child between fork and exec: two system calls only
        prctl(_PR_SET_PDEATHSIG, kill)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return die_with_parent


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
    side: str | None = None,
) -> Child:
    """Run ``argv`` in its own process group, feeding ``source`` to its stdin and its stdout into ``sink``.

    ``on_bytes(n)`` is told the running byte count fed or received; ``on_line`` gets each stderr line;
    ``tick()`` is called at least once a second. ``transform`` rewrites each stdin line on its way in.
    ``side`` ("source" or "target", the server the child talks to) turns a failure that says its
    connection broke into :class:`ConnectionLost`; without it, the side is guessed from ``what`` (a
    backup or dump reads the source, anything else writes the target).
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
            pass_fds=_fds_for(argv),
            # two system calls between fork and exec; glibc's fork keeps malloc usable in the child, so this
            # is safe while other threads run
            preexec_fn=_parent_death_signal(),
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
        reason = lost_connection_reason(tail)
        if reason is not None:
            doing = what[0].lower() + what[1:] if what.startswith("The ") else what
            raise connection_lost(side or guess_side(what), doing, reason, secret_list)
        detail = _last_error(tail)
        raise TransferError(f"{what} failed: {Path(argv[0]).name} exited with {process.returncode}{detail}")
    return child


def _last_error(tail: list[str]) -> str:
    errors = [line for line in tail if "error" in line.lower()] or tail
    causes = [line for line in errors if not any(said in line for said in _AFTERMATH)] or errors
    return f": {causes[-1][:300]}" if causes else "."


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
