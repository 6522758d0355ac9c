"""Where a deploy's config (its environment variables) lives.

A :class:`ConfigStore` reads and changes one deploy's variables. The first store is a ``.env`` file
(:mod:`.envfile`); AWS SSM Parameter Store (:mod:`.ssm`) implements the same interface.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..errors import InvalidInput
from .envfile import EnvFileStore
from .ssm import SsmStore

__all__ = ["ConfigStore", "ConfigChange", "EnvFileStore", "SsmStore", "open_store", "locate", "STORE_KINDS"]


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


STORE_KINDS = ("envfile", "ssm")


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
    if kind == "ssm":
        return SsmStore.at(location, **({"lock_timeout": lock_timeout} if lock_timeout is not None else {}))
    raise InvalidInput(f"Unknown config store '{kind}': Changeover knows {', '.join(STORE_KINDS)}.")


def locate(
    env_file: str | None = None,
    *,
    ssm_path: str | None = None,
    region: str | None = None,
    profile: str | None = None,
) -> EnvFileStore | SsmStore:
    """The store a new deploy's config is in: a ``.env`` file, or an SSM path in a region (and profile)."""
    if ssm_path:
        if env_file:
            raise InvalidInput("Give either an env file or an SSM path, not both.")
        return SsmStore(ssm_path, region=region or "", profile=profile)
    if region or profile:
        raise InvalidInput("--region and --profile go with --ssm-path: an env file has no region.")
    if not env_file:
        raise InvalidInput("Give the deploy's config: --env-file PATH or --ssm-path /app/env --region REGION.")
    return EnvFileStore(env_file)
