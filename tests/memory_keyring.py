"""The tests' in-memory keyring backend: set explicitly by the autouse fixture in tests/conftest.py.

It lives under tests/ on purpose: keyring offers every imported ``KeyringBackend`` subclass as a
candidate, so a class like this one in the product would be chosen on a machine with no keyring and
secrets would vanish with the process. The product's own tools use ``secrets.use_store`` instead.
"""

from __future__ import annotations

import keyring.backend
import keyring.errors


class InMemoryKeyring(keyring.backend.KeyringBackend):
    """Secrets held in this test process only."""

    priority = 1  # type: ignore[assignment]
    name = "the tests' in-memory keyring"  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)
