"""No secret is ever silently lost: only a keyring that keeps secrets for real is used, and saying so is one line.

The end-to-end tests run the real CLI in a child process with no D-Bus session and no keyring chosen for
it, exactly as on a machine where no keyring runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.backends import fail, null
from keyring.backends.chainer import ChainerBackend

from changeover.core import redaction, secrets
from changeover.core.errors import KeyringUnavailable
from changeover.core.workspace import Workspace

from ..memory_keyring import InMemoryKeyring

ROOT = Path(__file__).parents[2]
NO_KEYRING = "No usable keyring: start or unlock GNOME Keyring / KWallet (or your system's keyring), then try again."
CACHE_PASSWORD = "c4che-pw-never-lost"


# -- the end to end refusal, in a real process --------------------------------------------------------


def _bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """os.environ (the test's temp HOME/XDG) without any D-Bus session, display or chosen keyring."""
    gone = (
        "DBUS_SESSION_BUS_ADDRESS",
        "PYTHON_KEYRING_BACKEND",
        "DISPLAY",
        "WAYLAND_DISPLAY",
        "CHANGEOVER_DATABASE_URL",
    )
    env = {k: v for k, v in os.environ.items() if k not in gone}
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    env.update(extra)
    return env


def _cli(env: dict[str, str], *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "changeover.cli", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


@pytest.mark.parametrize("chosen", ["none running", "keyring.backends.null.Keyring"])
def test_cli_refuses_to_register_a_secret_without_a_usable_keyring(tmp_path: Path, chosen: str) -> None:
    extra = {} if chosen == "none running" else {"PYTHON_KEYRING_BACKEND": chosen}
    env = _bare_env(tmp_path, **extra)
    refused = _cli(env, "resource", "add", "cache", "-", stdin=f"redis://:{CACHE_PASSWORD}@127.0.0.1:6379/0\n")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr == f"changeover: {NO_KEYRING}\n"
    assert refused.stdout == ""
    listed = _cli(env, "resource", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    # Actions that need no secret still work in the same environment.
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=8000\n")
    assert _cli(env, "deploy", "add", "shop", "--env-file", str(dotenv)).returncode == 0
    deploys = _cli(env, "deploy", "list")
    assert deploys.returncode == 0 and "shop" in deploys.stdout, deploys.stderr
    plain = _cli(env, "resource", "add", "plain-cache", "redis://127.0.0.1:6379/1")
    assert plain.returncode == 0, plain.stderr
    assert [r["name"] for r in json.loads(_cli(env, "resource", "list", "--json").stdout)] == ["plain-cache"]
    # Nothing of the password was written anywhere under the child's folders.
    for path in Path(env["HOME"]).rglob("*"):
        if path.is_file():
            assert CACHE_PASSWORD.encode() not in path.read_bytes(), path


def test_importing_the_product_offers_keyring_no_backend_of_its_own(tmp_path: Path) -> None:
    """The original defect: a backend class in the product became keyring's choice where no keyring runs."""
    probe = """
import importlib, pkgutil, keyring, keyring.backend, keyring.core
import changeover.core, changeover.gui
for package in (changeover.core, changeover.gui):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if ".migrations" not in info.name and not info.name.endswith(("__main__", "launcher")):
            importlib.import_module(info.name)
def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)
ours = [c.__module__ for c in subclasses(keyring.backend.KeyringBackend) if c.__module__.startswith("changeover")]
keyring.core.init_backend()
print(ours, type(keyring.get_keyring()).__module__)
"""
    env = _bare_env(tmp_path, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "keyring.backends.fail"]


def test_no_keyring_backend_class_in_the_product_source() -> None:
    pattern = re.compile(r"class .*\((keyring\.backend\.)?KeyringBackend\)")
    found = [
        str(path.relative_to(ROOT))
        for folder in ("core", "gui", "cli")
        if (ROOT / folder).exists()
        for path in (ROOT / folder).rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert found == []


# -- which backends are refused ---------------------------------------------------------------------


class _Locked(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]
    name = "a locked keyring"  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")


class _Broken(_Locked):
    name = "a broken keyring"  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.InitError("Failed to create the collection: Prompt dismissed.")


class _Unrecommended(InMemoryKeyring):
    priority = 0.5  # type: ignore[assignment]


class _AltPlaintext(InMemoryKeyring):
    """Stands for keyrings.alt's file keyrings (not installed here: it would change keyring's choice)."""

    priority = 1  # type: ignore[assignment]


_AltPlaintext.__module__ = "keyrings.alt.file"


class _ChainOfNothing(ChainerBackend):
    backends = [null.Keyring(), fail.Keyring()]  # type: ignore[assignment]


class _ChainToMemory(ChainerBackend):
    backends = [InMemoryKeyring(), null.Keyring()]  # type: ignore[assignment]


@pytest.fixture
def chosen() -> Iterator[object]:
    previous = keyring.get_keyring()

    def choose(backend: keyring.backend.KeyringBackend) -> None:
        keyring.set_keyring(backend)

    yield choose
    keyring.set_keyring(previous)


@pytest.mark.parametrize(
    ("backend", "name"),
    [
        (fail.Keyring(), "no keyring"),
        (null.Keyring(), "the null keyring (keeps nothing)"),
        (_Unrecommended(), "the tests' in-memory keyring"),
        (_AltPlaintext(), "the tests' in-memory keyring"),
        (_ChainOfNothing(), "the null keyring (keeps nothing)"),
    ],
    ids=["fail", "null", "priority-below-1", "keyrings.alt", "chainer-of-nothing"],
)
def test_backends_that_keep_nothing_are_refused_in_one_line(
    backend: keyring.backend.KeyringBackend, name: str, chosen: object, workspace: Workspace
) -> None:
    chosen(backend)  # type: ignore[operator]
    found = secrets.status()
    assert (found.name, found.usable, found.unlocked, found.message) == (name, False, False, NO_KEYRING)
    assert secrets.describe() == NO_KEYRING
    for action in (lambda: secrets.store("k", {"password": "pw-x1"}), lambda: secrets.load("k"), secrets.check):
        with pytest.raises(KeyringUnavailable) as caught:
            action()
        assert caught.value.message == NO_KEYRING and caught.value.title == "Keyring unavailable"
    with pytest.raises(KeyringUnavailable, match="^No usable keyring"):
        workspace.register_resource("cache", f"redis://:{CACHE_PASSWORD}@cache:6379/0")
    assert workspace.list_resources() == []


def test_keyring_recommends_the_chainer_of_nothing_but_changeover_does_not(chosen: object) -> None:
    assert keyring.core.recommended(_ChainOfNothing())  # keyring's own test passes it ...
    chosen(_ChainOfNothing())  # type: ignore[operator]
    with pytest.raises(KeyringUnavailable):
        secrets.backend()  # ... Changeover's does not


def test_a_chainer_stores_in_its_real_child_and_is_named_after_it(chosen: object) -> None:
    chain = _ChainToMemory()
    chosen(chain)  # type: ignore[operator]
    found = secrets.status()
    assert (found.name, found.usable, found.unlocked) == ("the tests' in-memory keyring", True, True)
    assert found.message == "Secrets are kept in the tests' in-memory keyring (unlocked)."
    assert found.backend == "tests.memory_keyring.InMemoryKeyring"
    secrets.store("resource:x:1", {"password": "ch41n-pw"})
    assert chain.backends[0].items == {("changeover", "resource:x:1"): '{"password": "ch41n-pw"}'}
    assert secrets.load("resource:x:1") == {"password": "ch41n-pw"}


def test_a_locked_keyring_is_refused_with_what_to_do(chosen: object, workspace: Workspace) -> None:
    chosen(_Locked())  # type: ignore[operator]
    found = secrets.status()
    assert (found.usable, found.unlocked) == (False, False)
    line = "The keyring (a locked keyring) is locked. Unlock your keyring and try again."
    assert found.message == line
    with pytest.raises(KeyringUnavailable) as caught:
        secrets.store("k", {"password": "pw-locked"})
    assert caught.value.message == line
    with pytest.raises(KeyringUnavailable) as caught:
        secrets.check()
    assert caught.value.message == line
    with pytest.raises(KeyringUnavailable):
        workspace.register_resource("cache", f"redis://:{CACHE_PASSWORD}@cache:6379/0")
    assert workspace.list_resources() == []


def test_a_failing_keyring_is_one_line_without_its_jargon(chosen: object) -> None:
    chosen(_Broken())  # type: ignore[operator]
    found = secrets.status()
    assert not found.usable
    assert (
        found.message
        == "The keyring (a broken keyring) could not answer. Unlock your keyring or start it, then try again."
    )
    assert "Prompt dismissed" not in found.message and "\n" not in found.message


def test_the_platform_keyrings_have_names_people_know() -> None:
    from keyring.backends import SecretService, Windows, kwallet, libsecret, macOS

    # Built without __init__: their constructors refuse to run where the platform is missing.
    def name(cls: type) -> str:
        return secrets.human_name(object.__new__(cls))

    assert name(SecretService.Keyring) == "GNOME Keyring / Secret Service"
    assert name(libsecret.Keyring) == "GNOME Keyring / Secret Service"
    assert name(kwallet.DBusKeyring) == name(kwallet.DBusKeyringKWallet4) == "KWallet"
    assert name(macOS.Keyring) == "macOS Keychain"
    assert name(Windows.WinVaultKeyring) == "Windows Credential Locker"


# -- the explicit in-memory store of the tools ---------------------------------------------------------


def test_use_store_is_explicit_and_never_a_keyring_backend(memory_keyring: InMemoryKeyring) -> None:
    store = secrets.MemoryStore("the demo's in-memory store")
    assert not isinstance(store, keyring.backend.KeyringBackend)
    assert secrets.use_store(store) is None
    try:
        assert secrets.describe() == "Secrets are kept in the demo's in-memory store (unlocked)."
        secrets.store("resource:demo:1", {"password": "d3mo-pw"})
        assert secrets.load("resource:demo:1") == {"password": "d3mo-pw"}
        assert memory_keyring.items == {}  # the keyring in use saw nothing
        secrets.delete("resource:demo:1")
        secrets.delete("resource:demo:1")  # deleting what is gone is not an error
        assert store.items == {}
    finally:
        assert secrets.use_store(None) is store
    secrets.store("resource:after:1", {"password": "k3yring-pw"})
    assert ("changeover", "resource:after:1") in memory_keyring.items


def test_every_secret_stored_or_loaded_is_remembered_for_redaction(memory_keyring: InMemoryKeyring) -> None:
    redaction.forget_all()
    secrets.store("resource:a:1", {"password": "st0red-secret"})
    assert redaction.redact("driver said: st0red-secret") == "driver said: •••"
    memory_keyring.items[("changeover", "resource:b:1")] = json.dumps({"value": "l0aded-token"})
    redaction.forget_all()
    assert redaction.redact("l0aded-token") == "l0aded-token"
    assert secrets.load("resource:b:1") == {"value": "l0aded-token"}
    assert redaction.redact("token l0aded-token in a traceback") == "token ••• in a traceback"
