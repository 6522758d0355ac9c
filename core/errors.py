"""Typed errors that carry a title and a message a person can act on.

Every face (CLI, GUI) shows ``title`` and ``message`` as they are; neither ever contains a secret.
"""

from __future__ import annotations


class ChangeoverError(Exception):
    """Base of every error Changeover reports to a user."""

    title = "Changeover could not do that"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class InvalidInput(ChangeoverError):
    """The user gave something malformed: a handle, a variable name, a path."""

    title = "Invalid input"


class HandleError(InvalidInput):
    """A resource handle (URL) is malformed or of an unknown kind."""

    title = "Invalid resource handle"


class NotFound(ChangeoverError):
    title = "Not found"


class Conflict(ChangeoverError):
    """The request contradicts the current state (already attached, name taken, ...)."""

    title = "Not possible right now"


class ConfigStoreError(ChangeoverError):
    """A deploy's config cannot be read or written."""

    title = "Deploy config problem"


class HookError(ChangeoverError):
    """A deploy's restart or maintenance hook failed or timed out."""

    title = "Deploy hook failed"


class KeyringUnavailable(ChangeoverError):
    """No usable OS keyring, or it is locked: nothing secret can be read or stored."""

    title = "Keyring unavailable"


class InventoryError(ChangeoverError):
    """The inventory database cannot be opened, migrated or used."""

    title = "Inventory problem"


class Cancelled(ChangeoverError):
    """A job stopped because the user asked it to."""

    title = "Cancelled"
