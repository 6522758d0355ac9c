"""Secrets Changeover keeps in the keyring, by owner, shown masked unless briefly revealed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from changeover.core.handles import MASK
from changeover.core.records import ResourceInfo

from .base import Column, RecordTableModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credential:
    """One secret Changeover keeps in the keyring: whose it is and how to show it (masked)."""

    owner_type: str  # "resource" or "server"
    owner: str
    kind: str
    handle: str  # masked
    server: str | None
    origin: str = "registered"  # registered | provisioned | server


class CredentialsModel(RecordTableModel[Credential]):
    """Secrets by owner; a revealed value is shown only while it is in ``revealed``."""

    cache_texts = False

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.revealed: dict[str, str] = {}
        self.columns = (
            Column[Credential]("Owner", lambda c: c.owner),
            Column[Credential]("Type", lambda c: c.owner_type if c.owner_type == "server" else c.origin),
            Column[Credential]("Kind", lambda c: c.kind),
            Column[Credential]("Server", lambda c: c.server or ""),
            Column[Credential]("Handle", lambda c: self.revealed.get(c.owner, c.handle)),
            Column[Credential]("Secret", lambda c: "revealed" if c.owner in self.revealed else MASK),
        )

    def reveal(self, owner: str, full_handle: str) -> None:
        self.revealed[owner] = full_handle
        self._changed(owner)

    def hide(self, owner: str | None = None) -> None:
        owners = [owner] if owner else list(self.revealed)
        for name in owners:
            self.revealed.pop(name, None)
            self._changed(name)

    def _changed(self, owner: str) -> None:
        for row, record in enumerate(self._records):
            if record.owner == owner:
                self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))


def credentials_from(resources: Sequence[ResourceInfo], servers: Sequence[Any] = ()) -> list[Credential]:
    """Every secret in the keyring: each live resource's, then each server's admin secret."""
    found = [
        Credential("resource", r.name, r.kind, r.handle, r.server, r.origin)
        for r in resources
        if r.has_secret and r.state != "deprovisioned"
    ]
    found += [Credential("server", s.name, s.kind, s.handle, None, "server") for s in servers if s.has_secret]
    return found
