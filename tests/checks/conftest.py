"""Real servers for the health checks, each started by the test on a free port and stopped after it.

A missing server binary skips with the reason (fails under ``CHANGEOVER_REQUIRE_SERVERS=1``). Waiting
is polling with a deadline on a real condition (the port accepts, the server answers), never a sleep.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from changeover.core import handles
from changeover.core.checks import CheckResult, CheckStatus, check
from tests.conftest import server_unavailable
from tests.waiting import wait_for

#: the timeout every check in these tests gets (the "timeout" cases wait this long)
TIMEOUT = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], what: str, deadline: float = 20.0) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` after ``deadline`` seconds."""
    wait_for(what, condition, deadline)


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def binary(name: str) -> str:
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None)
    if found is None:
        server_unavailable(name, FileNotFoundError(f"{name} is not installed (Debian package: {name})"))
    assert found is not None
    return found


@dataclass
class Daemon:
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()


def start_daemon(argv: list[str], port: int, what: str) -> Daemon:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    daemon = Daemon(port, process)

    def ready() -> bool:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            pytest.fail(f"{what} exited with {process.returncode}: {err[:300]}")
        return accepts(port)

    try:
        wait_until(ready, f"{what} accepting on port {port}")
    except BaseException:
        daemon.stop()
        raise
    return daemon


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener takes connections and never says a word (the timeout case)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


@pytest.fixture
def refused_port() -> int:
    """A port nothing listens on."""
    return free_port()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[tuple[int, str]]:
    """A private Redis with a password on its own port: (port, password)."""
    password = "r3dis-pw-" + os.urandom(4).hex()
    port = free_port()
    argv = [binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--requirepass", password]
    daemon = start_daemon([*argv, "--save", "", "--appendonly", "no"], port, "redis-server")
    yield port, password
    daemon.stop()


@pytest.fixture(scope="session")
def memcached_server() -> Iterator[tuple[int, int, str, str]]:
    """Two private memcached: one open, one with text-protocol auth: (open port, auth port, user, password)."""
    exe = binary("memcached")
    base = Path(tempfile.mkdtemp(prefix="co_mc_"))
    user, password = "cacheuser", "mc-pw-" + os.urandom(4).hex()
    (base / "auth").write_text(f"{user}:{password}\n")
    os.chmod(base, 0o755)
    os.chmod(base / "auth", 0o644)
    owner = ["-u", "nobody"] if os.geteuid() == 0 else []
    open_port, auth_port = free_port(), free_port()
    plain = start_daemon([exe, "-l", "127.0.0.1", "-p", str(open_port), "-U", "0", *owner], open_port, "memcached")
    try:
        authed = start_daemon(
            [exe, "-l", "127.0.0.1", "-p", str(auth_port), "-U", "0", "-Y", str(base / "auth"), *owner],
            auth_port,
            "memcached -Y",
        )
    except BaseException:
        plain.stop()
        raise
    yield open_port, auth_port, user, password
    plain.stop()
    authed.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def beanstalkd_server() -> Iterator[int]:
    port = free_port()
    daemon = start_daemon([binary("beanstalkd"), "-l", "127.0.0.1", "-p", str(port)], port, "beanstalkd")
    yield port
    daemon.stop()


def run_check(text: str, *, kind: str | None = None, timeout: float = TIMEOUT) -> CheckResult:
    """Check a full handle; every reason is checked to hold none of the handle's secrets."""
    handle = handles.parse(text, kind=kind)
    result = check(handle, timeout)
    for secret in handle.secrets.values():
        assert secret not in result.reason
    assert result.reason, "every result says why"
    return result


def assert_failed(result: CheckResult, *words: str) -> None:
    assert result.status is CheckStatus.FAILED, result
    for word in words:
        assert word.lower() in result.reason.lower(), result.reason


def assert_ok(result: CheckResult, *words: str) -> None:
    assert result.status is CheckStatus.OK, result
    assert result.latency_ms > 0
    for word in words:
        assert word.lower() in result.reason.lower(), result.reason


@dataclass(frozen=True)
class SmtpServers:
    starttls_port: int  # STARTTLS demanded before AUTH
    implicit_port: int  # smtps: TLS from the first byte
    plain_port: int  # no TLS, no AUTH
    user: str
    password: str
    cert: Path


@pytest.fixture(scope="session")
def smtp_servers() -> Iterator[SmtpServers]:
    """aiosmtpd relays with AUTH and STARTTLS, implicit TLS, and plain, on a self-signed certificate."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    openssl = binary("openssl")
    base = Path(tempfile.mkdtemp(prefix="co_smtp_"))
    cert, key = base / "cert.pem", base / "key.pem"
    made = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
        + ["-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    user, password = "mailer", "smtp-pw-" + os.urandom(4).hex()

    def authenticator(server: object, session: object, envelope: object, mechanism: str, data: object) -> AuthResult:
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (user.encode(), password.encode())
        return AuthResult(success=good, handled=False)

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
            return "250 OK"

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    controllers = [
        Controller(
            Handler(),
            hostname="127.0.0.1",
            port=free_port(),
            authenticator=authenticator,
            auth_require_tls=True,
            require_starttls=True,
            tls_context=context,
        ),
        Controller(
            Handler(),
            hostname="127.0.0.1",
            port=free_port(),
            authenticator=authenticator,
            auth_require_tls=False,  # aiosmtpd sees no STARTTLS here, though the whole session is TLS
            ssl_context=context,
            server_hostname="127.0.0.1",
        ),
        Controller(Handler(), hostname="127.0.0.1", port=free_port()),
    ]
    started = []
    try:
        for controller in controllers:
            controller.start()
            started.append(controller)
        yield SmtpServers(controllers[0].port, controllers[1].port, controllers[2].port, user, password, cert)
    finally:
        for controller in started:
            controller.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def trusted_smtp_cert(smtp_servers: SmtpServers, monkeypatch: pytest.MonkeyPatch) -> SmtpServers:
    """The test relays' self-signed certificate trusted the way OpenSSL is told to (``SSL_CERT_FILE``)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_servers.cert))
    return smtp_servers
