"""Where a deploy's config (its environment variables) lives.

A :class:`ConfigStore` reads and changes one deploy's variables. The first store is a ``.env`` file
(:mod:`.envfile`); others (AWS SSM Parameter Store, ...) implement the same interface.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..errors import InvalidInput
from .envfile import EnvFileStore

__all__ = ["ConfigStore", "ConfigChange", "EnvFileStore", "open_store", "STORE_KINDS"]


class ConfigChange(Protocol):
    """A change that was written; ``revert()`` puts the previous version back."""

    def revert(self) -> None: ...


class ConfigStore(Protocol):
    kind: str
    location: str

    def read(self) -> dict[str, str]:
        """Every variable with its value, in file order."""
        ...

    def check_writable(self) -> None:
        """Raise :class:`~changeover.core.errors.ConfigStoreError` if a change could not be written."""
        ...

    def apply(self, changes: dict[str, str | None]) -> ConfigChange:
        """Set (value) or clear (``None``) variables in one atomic write, under :meth:`locked`."""
        ...

    def locked(self) -> AbstractContextManager[None]:
        """Hold the store's exclusive lock across a longer change (re-entrant: ``apply`` inside is fine).

        Every other Changeover process or thread that changes the same config waits until it is released.
        """
        ...


STORE_KINDS = ("envfile",)


def open_store(
    kind: str, location: str, *, keep_backups: int | None = None, lock_timeout: float | None = None
) -> ConfigStore:
    """The store of ``kind`` at ``location``; ``keep_backups`` is how many earlier versions a file store keeps,
    ``lock_timeout`` how long a change waits for another one to the same config."""
    if kind == "envfile":
        options: dict[str, Any] = {}
        if keep_backups is not None:
            options["keep_backups"] = keep_backups
        if lock_timeout is not None:
            options["lock_timeout"] = lock_timeout
        return EnvFileStore(location, **options)
    raise InvalidInput(f"Unknown config store '{kind}': Changeover knows {', '.join(STORE_KINDS)}.")
