"""The one module that talks to the OS keyring.

Secrets (passwords, tokens, API keys) are stored under the service name ``changeover`` and a key per
resource or server, in the OS keyring and nowhere else. A keyring is used only when it keeps secrets for
real: keyring's ``fail`` and ``null`` backends, anything keyring does not recommend (priority below 1),
the ``keyrings.alt`` files, a chainer whose storing child is one of those, and a locked keyring are all
refused with one :class:`KeyringUnavailable` line, and nothing is written anywhere else instead.

Changeover defines no keyring backend of its own (keyring would offer any imported subclass of
``KeyringBackend`` as a candidate). Tools that must run without a keyring (the screenshot and benchmark
scripts) set an in-memory :class:`MemoryStore` explicitly with :func:`use_store`; keyring never sees it.

An inventory may instead name a team secret store (AWS Secrets Manager, :mod:`.teamsecrets`): the
:class:`~changeover.core.context.Context` over it binds that store with :func:`bind_inventory_store`, and
every secret then goes there, never to the keyring. When it cannot be reached, the call fails with its
own error in words; nothing falls back to the keyring or to memory.

Every secret stored or loaded here is remembered by :mod:`.redaction`, so logs and messages mask it.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from . import redaction
from .errors import ChangeoverError, KeyringUnavailable

__all__ = [
    "SERVICE",
    "KEPT_IN",
    "KeyringStatus",
    "MemoryStore",
    "SecretStore",
    "backend",
    "backend_name",
    "bind_inventory_store",
    "check",
    "delete",
    "describe",
    "human_name",
    "load",
    "os_keyring",
    "status",
    "store",
    "use_store",
]

logger = logging.getLogger(__name__)

SERVICE = "changeover"
#: how :func:`describe` begins when secrets can be kept (the window shows anything else as a warning)
KEPT_IN = "Secrets are kept in"

NO_KEYRING = "No usable keyring: start or unlock GNOME Keyring / KWallet (or your system's keyring), then try again."
_PROBE_KEY = "changeover-check"

#: names people know, by the keyring class (or a base of it) that talks to them
_NAMES = {
    "keyring.backends.SecretService.Keyring": "GNOME Keyring / Secret Service",
    "keyring.backends.libsecret.Keyring": "GNOME Keyring / Secret Service",
    "keyring.backends.kwallet.DBusKeyring": "KWallet",
    "keyring.backends.macOS.Keyring": "macOS Keychain",
    "keyring.backends.Windows.WinVaultKeyring": "Windows Credential Locker",
    "keyring.backends.fail.Keyring": "no keyring",
    "keyring.backends.null.Keyring": "the null keyring (keeps nothing)",
    "keyring.backends.chainer.ChainerBackend": "no keyring",
}
#: classes that never keep a secret, whatever priority they claim
_REFUSED = ("keyring.backends.fail.Keyring", "keyring.backends.null.Keyring")
#: keyrings.alt keeps secrets in plain-text or weakly encrypted files: never an OS keyring
_REFUSED_PACKAGES = ("keyrings.alt",)


class SecretStore(Protocol):
    """What Changeover needs of a place for secrets: keyring's three calls."""

    def get_password(self, service: str, username: str) -> str | None: ...

    def set_password(self, service: str, username: str, password: str) -> None: ...

    def delete_password(self, service: str, username: str) -> None: ...


class MemoryStore:
    """Secrets held in this process only, gone when it ends: for the screenshot and benchmark tools.

    Not a keyring backend, so keyring never offers it; it is used only when :func:`use_store` sets it.
    """

    def __init__(self, name: str = "an in-memory store (nothing is kept after the process ends)") -> None:
        self.name = name
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        import keyring.errors

        if self.items.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


_override_lock = threading.Lock()
_override: SecretStore | None = None
_bound: SecretStore | None = None


def use_store(store: SecretStore | None) -> SecretStore | None:
    """Keep secrets in ``store`` instead of the OS keyring from now on (``None``: the keyring again).

    Only for tools that run without a keyring on purpose (screenshots, benchmarks); the product never
    calls it. Returns the store that was set before, so a caller can put it back.
    """
    global _override
    with _override_lock:
        previous, _override = _override, store
    return previous


def bind_inventory_store(store: SecretStore | None) -> SecretStore | None:
    """Keep secrets in the store the open inventory names (``None``: the OS keyring); returns the previous one.

    Called by the context over an inventory when it opens (and when an admin changes the inventory's
    secret store); a store set with :func:`use_store` still comes first.
    """
    global _bound
    with _override_lock:
        previous, _bound = _bound, store
    return previous


@dataclass(frozen=True)
class KeyringStatus:
    """Where secrets go, for people: the window's status bar, ``changeover status`` and ``--version``."""

    #: the keyring in words a person knows ("GNOME Keyring / Secret Service", "KWallet", ...)
    name: str
    #: secrets can be stored and read now
    usable: bool
    #: the keyring answered a read (a locked one that stayed locked after the unlock request did not)
    unlocked: bool
    #: one line: where secrets are kept, or what is wrong and what to do
    message: str
    #: the keyring class, for a bug report (``keyring.backends.SecretService.Keyring``)
    backend: str


def _dotted(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _known_name(chosen: object) -> str | None:
    for klass in type(chosen).__mro__:
        name = _NAMES.get(f"{klass.__module__}.{klass.__qualname__}")
        if name is not None:
            return name
    return None


def human_name(chosen: object) -> str:
    """A keyring backend (or store) in words a person knows: "GNOME Keyring / Secret Service", "KWallet"..."""
    known = _known_name(chosen)
    if known is not None:
        return known
    name = getattr(chosen, "name", None)
    return name if isinstance(name, str) and name else type(chosen).__name__


def _refused(chosen: object) -> bool:
    """True for a backend that does not keep secrets for real, or cannot be used at all here."""
    paths = {f"{k.__module__}.{k.__qualname__}" for k in type(chosen).__mro__}
    if paths & set(_REFUSED):
        return True
    module = type(chosen).__module__
    if any(module == p or module.startswith(p + ".") for p in _REFUSED_PACKAGES):
        return True
    try:
        priority = float(getattr(chosen, "priority", 1))
    except Exception:  # keyring backends raise from priority when they are not viable here
        return True
    return priority < 1


def _chosen() -> tuple[SecretStore, bool]:
    """The store secrets would go to (a chainer's storing child, not the chainer), and whether it is refused."""
    with _override_lock:
        override = _override or _bound
    if override is not None:
        return override, False
    return _keyring_chosen()


def _keyring_chosen() -> tuple[SecretStore, bool]:
    import keyring.errors
    from keyring.backends.chainer import ChainerBackend

    chosen: SecretStore = keyring.get_keyring()
    if isinstance(chosen, ChainerBackend):
        try:
            children = list(chosen.backends)
        except Exception:
            children = []
        if not children:
            return chosen, True
        # The chainer stores in its first child (the highest priority): that one has to be a real keyring.
        chosen = children[0]
    return chosen, _refused(chosen)


def backend() -> SecretStore:
    """The store secrets go to: the OS keyring when it keeps secrets for real; else :class:`KeyringUnavailable`."""
    chosen, refused = _chosen()
    if refused:
        logger.info("keyring refused: %s", _dotted(chosen))
        raise KeyringUnavailable(NO_KEYRING)
    return chosen


def os_keyring() -> SecretStore:
    """The OS keyring, whatever store the inventory names (to move secrets in or out of it)."""
    with _override_lock:
        override = _override
    chosen, refused = (override, False) if override is not None else _keyring_chosen()
    if refused:
        raise KeyringUnavailable(NO_KEYRING)
    return chosen


def backend_name(chosen: object | None = None) -> str:
    """The class of the store in use (or of ``chosen``), for a bug report; :func:`status` has the name for people."""
    return _dotted(chosen if chosen is not None else _chosen()[0])


def _locked(name: str) -> KeyringUnavailable:
    return KeyringUnavailable(f"The keyring ({name}) is locked. Unlock your keyring and try again.")


def _failed(name: str, action: str) -> KeyringUnavailable:
    return KeyringUnavailable(
        f"The keyring ({name}) could not {action}. Unlock your keyring or start it, then try again."
    )


def status() -> KeyringStatus:
    """Which keyring holds the secrets, and whether it can be used now (one read is tried, which asks a
    locked keyring to unlock)."""
    import keyring.errors

    chosen, refused = _chosen()
    name, dotted = human_name(chosen), _dotted(chosen)
    if refused:
        return KeyringStatus(name=name, usable=False, unlocked=False, message=NO_KEYRING, backend=dotted)
    try:
        chosen.get_password(SERVICE, _PROBE_KEY)
    except keyring.errors.KeyringLocked:
        message = _locked(name).message
        return KeyringStatus(name=name, usable=False, unlocked=False, message=message, backend=dotted)
    except ChangeoverError as exc:  # a team store says what is wrong in its own words
        return KeyringStatus(name=name, usable=False, unlocked=False, message=exc.message, backend=dotted)
    except Exception as exc:  # a keyring fails in its own ways (D-Bus, OS errors): all mean "not usable now"
        logger.warning("keyring probe failed: %s", type(exc).__name__)
        message = _failed(name, "answer").message
        return KeyringStatus(name=name, usable=False, unlocked=False, message=message, backend=dotted)
    state = "" if getattr(chosen, "team", False) else " (unlocked)"
    return KeyringStatus(name=name, usable=True, unlocked=True, message=f"{KEPT_IN} {name}{state}.", backend=dotted)


def describe() -> str:
    """One line for a status bar: which keyring holds the secrets, or why none is usable."""
    return status().message


def _guard(chosen: SecretStore, action: str, exc: Exception) -> ChangeoverError:
    import keyring.errors

    if isinstance(exc, ChangeoverError):  # a team store's own words (AWS denied, unreachable...)
        return exc
    logger.warning("keyring could not %s: %s", action, type(exc).__name__)
    if isinstance(exc, keyring.errors.KeyringLocked):
        return _locked(human_name(chosen))
    return _failed(human_name(chosen), action)


def store(key: str, secrets: dict[str, str]) -> None:
    """Store a resource's secrets (a mapping of slot to value) under ``key``."""
    redaction.remember(*secrets.values())
    chosen = backend()
    try:
        chosen.set_password(SERVICE, key, json.dumps(secrets, sort_keys=True))
    except Exception as exc:
        raise _guard(chosen, "store a secret", exc) from None


def load(key: str) -> dict[str, str]:
    """The secrets stored under ``key``; an empty mapping when there are none."""
    chosen = backend()
    try:
        raw = chosen.get_password(SERVICE, key)
    except Exception as exc:
        raise _guard(chosen, "give out a secret", exc) from None
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    loaded = {str(k): str(v) for k, v in value.items()}
    redaction.remember(*loaded.values())
    return loaded


def delete(key: str) -> None:
    """Forget the secrets under ``key``; deleting what is not there is not an error."""
    import keyring.errors

    chosen = backend()
    try:
        chosen.delete_password(SERVICE, key)
    except keyring.errors.PasswordDeleteError:
        return
    except Exception as exc:
        raise _guard(chosen, "delete a secret", exc) from None


def check() -> None:
    """Make sure the keyring can be used before an action that will need it changes anything."""
    found = status()
    if not found.usable:
        raise KeyringUnavailable(found.message)
