"""The tests' in-memory keyring backend: set explicitly by the autouse fixture in tests/conftest.py.

It lives under tests/ on purpose: keyring offers every imported ``KeyringBackend`` subclass as a
candidate, so a class like this one in the product would be chosen on a machine with no keyring and
secrets would vanish with the process. The product's own tools use ``secrets.use_store`` instead.
"""

from __future__ import annotations

import keyring.backend

from changeover.core import secrets


class InMemoryKeyring(keyring.backend.KeyringBackend):
    """Secrets held in this test process only."""

    priority = 1  # type: ignore[assignment]
    name = "the tests' in-memory keyring"  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store = secrets.MemoryStore(self.name)
        self.items = self.store.items  # what tests look into

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store.set_password(service, username, password)

    def delete_password(self, service: str, username: str) -> None:
        self.store.delete_password(service, username)
