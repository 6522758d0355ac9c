"""A keyring backend for tests that run Changeover in a child process (via PYTHON_KEYRING_BACKEND).

It keeps items in a JSON file under the test's temp folder (CHANGEOVER_TEST_KEYRING_FILE), never the
user's keyring.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring.backend
import keyring.errors


class FileKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]
    name = "the tests' file keyring"  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ["CHANGEOVER_TEST_KEYRING_FILE"])

    def _items(self) -> dict[str, str]:
        path = self._path()
        return json.loads(path.read_text()) if path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._items().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        items = self._items()
        items[f"{service}/{username}"] = password
        self._path().write_text(json.dumps(items))

    def delete_password(self, service: str, username: str) -> None:
        items = self._items()
        if items.pop(f"{service}/{username}", None) is None:
            raise keyring.errors.PasswordDeleteError(username)
        self._path().write_text(json.dumps(items))
