"""Secrets through a real Secret Service: GNOME Keyring in a private D-Bus session, never the user's."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from changeover.core import secrets
from changeover.core.errors import KeyringUnavailable
from changeover.core.workspace import Workspace

from ..conftest import REQUIRE_SERVERS

pytestmark = [
    pytest.mark.real_keyring,
    pytest.mark.timeout(60),
    # keyring's SecretService backend opens a D-Bus connection per call and never closes it (keyring 25).
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.fixture(scope="module")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private session bus with an unlocked GNOME Keyring on it, for this module only."""
    missing = [tool for tool in ("dbus-daemon", "gnome-keyring-daemon", "secret-tool") if not shutil.which(tool)]
    if missing:
        message = f"the real-keyring tests need {', '.join(missing)} (Debian: dbus, gnome-keyring, libsecret-tools)"
        if REQUIRE_SERVERS:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("secret-service")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")}
    env.update(
        HOME=str(base / "home"),
        XDG_DATA_HOME=str(base / "home/.local/share"),
        XDG_CONFIG_HOME=str(base / "home/.config"),
        XDG_CACHE_HOME=str(base / "home/.cache"),
        XDG_RUNTIME_DIR=str(base / "run"),
    )
    Path(env["XDG_DATA_HOME"]).mkdir(parents=True)
    Path(env["XDG_RUNTIME_DIR"]).mkdir(mode=0o700)
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE, env=env, text=True
    )
    assert bus.stdout is not None
    env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()
    daemon = subprocess.run(
        ["gnome-keyring-daemon", "--unlock", "--components=secrets", "--daemonize"],
        input="test-pw",
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert daemon.returncode == 0, daemon.stderr
    saved = {k: os.environ.get(k) for k in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY")}
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = env["DBUS_SESSION_BUS_ADDRESS"]
    os.environ.pop("DISPLAY", None)
    os.environ.pop("WAYLAND_DISPLAY", None)
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        # gnome-keyring-daemon leaves when its bus goes away.
        bus.terminate()
        bus.wait(timeout=10)
        bus.stdout.close()


@pytest.fixture
def real_keyring(secret_service: dict[str, str]) -> Iterator[keyring.backend.KeyringBackend]:
    from keyring.backends import SecretService

    previous = keyring.get_keyring()
    backend = SecretService.Keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
    gc.collect()  # reap keyring's unclosed D-Bus sockets here, where their warning is filtered


def secret_tool(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["secret-tool", *args], env=env, capture_output=True, text=True, timeout=30).stdout


def test_store_read_delete_through_gnome_keyring(real_keyring: object, secret_service: dict[str, str]) -> None:
    assert secrets.backend_name() == "keyring.backends.SecretService.Keyring"
    found = secrets.status()
    assert (found.name, found.usable, found.unlocked) == ("GNOME Keyring / Secret Service", True, True)
    assert secrets.describe() == "Secrets are kept in GNOME Keyring / Secret Service (unlocked)."
    secrets.store("resource:test:1", {"password": "real-pw-123"})
    assert secrets.load("resource:test:1") == {"password": "real-pw-123"}
    listed = secret_tool(secret_service, "search", "--all", "service", "changeover")
    assert "resource:test:1" in listed
    secrets.delete("resource:test:1")
    assert secrets.load("resource:test:1") == {}
    assert "resource:test:1" not in secret_tool(secret_service, "search", "--all", "service", "changeover")
    secrets.delete("resource:test:1")  # deleting what is gone is not an error


def test_workspace_keeps_the_password_in_gnome_keyring_only(
    real_keyring: object, secret_service: dict[str, str], tmp_path: Path
) -> None:
    env = tmp_path / ".env"
    env.write_text("")
    ws = Workspace.open(f"sqlite:///{tmp_path / 'inv.sqlite3'}")
    try:
        ws.add_deploy("shop", str(env))
        ws.register_resource("shop-db", "postgresql://shop:gk-s3cret@db:5432/shop")
        [ref] = _refs(ws)
        assert secrets.load(ref) == {"password": "gk-s3cret"}
        assert ref in secret_tool(secret_service, "search", "--all", "service", "changeover")
        ws.attach("shop-db", "shop")
        assert env.read_text() == "DATABASE_URL=postgresql://shop:gk-s3cret@db:5432/shop\n"
        assert b"gk-s3cret" not in (tmp_path / "inv.sqlite3").read_bytes()
        ws.detach("shop-db", "shop")
        ws.deprovision("shop-db", "shop-db")
        assert "changeover" not in secret_tool(secret_service, "search", "--all", "service", "changeover")
    finally:
        ws.close()


def _refs(ws: Workspace) -> list[str]:
    import sqlalchemy as sa

    with ws.inventory.engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text("SELECT secret_ref FROM resources WHERE secret_ref IS NOT NULL"))]


def test_locked_keyring_is_one_clear_error(real_keyring: object, secret_service: dict[str, str]) -> None:
    import secretstorage

    secrets.store("resource:test:locked", {"password": "x-pw-x"})
    connection = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(connection)
        collection.lock()
        assert collection.is_locked()
        line = "The keyring (GNOME Keyring / Secret Service) is locked. Unlock your keyring and try again."
        with pytest.raises(KeyringUnavailable) as caught:
            secrets.load("resource:test:locked")
        assert caught.value.message == line
        assert "x-pw-x" not in caught.value.message
        found = secrets.status()  # asks for the unlock, which nobody can give here: it stays locked
        assert (found.name, found.usable, found.unlocked, found.message) == (
            "GNOME Keyring / Secret Service",
            False,
            False,
            line,
        )
        assert collection.is_locked()
    finally:
        subprocess.run(
            ["gnome-keyring-daemon", "--unlock", "--components=secrets", "--replace", "--daemonize"],
            input="test-pw",
            env=secret_service,
            capture_output=True,
            text=True,
            timeout=30,
        )
        connection.close()


def test_keyrings_own_choice_in_a_real_process_is_gnome_keyring(secret_service: dict[str, str], tmp_path: Path) -> None:
    """No backend chosen for the child: keyring's own selection on this bus, through the real CLI."""
    import json
    import sys

    env = {k: v for k, v in secret_service.items() if k != "PYTHON_KEYRING_BACKEND"}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("CHANGEOVER_DATABASE_URL", None)
    probe = (
        "import dataclasses, json; from changeover.core import secrets; "
        "print(json.dumps(dataclasses.asdict(secrets.status())))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert (status["name"], status["usable"], status["unlocked"]) == ("GNOME Keyring / Secret Service", True, True)
    done = subprocess.run(
        [sys.executable, "-m", "changeover.cli", "resource", "add", "real-cache", "-"],
        input="redis://:r3al-cache-pw@127.0.0.1:6379/0\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "r3al-cache-pw" not in done.stdout + done.stderr
    assert "resource:real-cache:" in secret_tool(secret_service, "search", "--all", "service", "changeover")
    assert "r3al-cache-pw" in secret_tool(secret_service, "search", "--all", "service", "changeover")
