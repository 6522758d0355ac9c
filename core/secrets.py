"""The one module that talks to the OS keyring.

Secrets (passwords, tokens, API keys) are stored under the service name ``changeover`` and a key per
resource or server. A backend is used only if keyring recommends it; a missing, locked or failing keyring
becomes :class:`KeyringUnavailable` and nothing is written anywhere else instead.
"""

from __future__ import annotations

import json
import logging

import keyring
import keyring.backend
import keyring.core
import keyring.errors

from .errors import KeyringUnavailable

logger = logging.getLogger(__name__)

SERVICE = "changeover"

_WHAT_TO_DO = "Unlock your keyring (GNOME Keyring, KWallet, macOS Keychain or Windows Credential Locker) and try again."


class InMemoryKeyring(keyring.backend.KeyringBackend):
    """Secrets held in this process only, gone when it ends: for tests, rendering the demo's screenshots and
    benchmarks. keyring never chooses it on its own (it is no entry point); it is set explicitly."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


def backend() -> keyring.backend.KeyringBackend:
    """The keyring backend in use, if keyring recommends it; else :class:`KeyringUnavailable`."""
    chosen = keyring.get_keyring()
    if not keyring.core.recommended(chosen):
        raise KeyringUnavailable(
            f"No usable keyring was found (keyring chose {backend_name(chosen)}). "
            "Install and start a Secret Service such as GNOME Keyring or KWallet, then try again."
        )
    return chosen


def backend_name(chosen: keyring.backend.KeyringBackend | None = None) -> str:
    chosen = chosen or keyring.get_keyring()
    return f"{type(chosen).__module__}.{type(chosen).__name__}"


def describe() -> str:
    """One line for a status bar: which keyring holds the secrets, or why none is usable."""
    try:
        chosen = backend()
    except KeyringUnavailable as exc:
        return exc.message
    return f"Secrets are kept in {getattr(chosen, 'name', backend_name(chosen))}."


def _guard(action: str) -> KeyringUnavailable:
    return KeyringUnavailable(f"The keyring refused to {action}. {_WHAT_TO_DO}")


def store(key: str, secrets: dict[str, str]) -> None:
    """Store a resource's secrets (a mapping of slot to value) under ``key``."""
    chosen = backend()
    try:
        chosen.set_password(SERVICE, key, json.dumps(secrets, sort_keys=True))
    except (keyring.errors.KeyringError, OSError) as exc:
        logger.warning("keyring set failed for %s: %s", key, type(exc).__name__)
        raise _guard("store a secret") from None


def load(key: str) -> dict[str, str]:
    """The secrets stored under ``key``; an empty mapping when there are none."""
    chosen = backend()
    try:
        raw = chosen.get_password(SERVICE, key)
    except (keyring.errors.KeyringError, OSError) as exc:
        logger.warning("keyring get failed for %s: %s", key, type(exc).__name__)
        raise _guard("give out a secret") from None
    if raw is None:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def delete(key: str) -> None:
    """Forget the secrets under ``key``; deleting what is not there is not an error."""
    chosen = backend()
    try:
        chosen.delete_password(SERVICE, key)
    except keyring.errors.PasswordDeleteError:
        return
    except (keyring.errors.KeyringError, OSError) as exc:
        logger.warning("keyring delete failed for %s: %s", key, type(exc).__name__)
        raise _guard("delete a secret") from None


def check() -> None:
    """Make sure the keyring can be used before an action that will need it changes anything."""
    chosen = backend()
    try:
        chosen.get_password(SERVICE, "changeover-check")
    except (keyring.errors.KeyringError, OSError):
        raise _guard("answer") from None
