"""Secrets Changeover keeps in the keyring, by owner, shown masked unless briefly revealed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

from changeover.core.context import DEFAULT_SECRET_WARN_DAYS
from changeover.core.handles import MASK
from changeover.core.records import ResourceInfo

from .base import Column, RecordTableModel, day, when

logger = logging.getLogger(__name__)

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Credential:
    """One secret Changeover keeps in the keyring: whose it is and how to show it (masked)."""

    owner_type: str  # "resource" or "server"
    owner: str
    kind: str
    handle: str  # masked
    server: str | None
    origin: str = "registered"  # registered | provisioned | server
    secret_set_at: datetime | None = None  # when the secret was first stored (never its value)
    secret_rotated_at: datetime | None = None  # when it was last replaced or rotated
    deploys: tuple[str, ...] = ()  # the deploys a replace rewrites and restarts
    server_kind: str | None = None  # the kind of the server it was provisioned on (rds rotates in one phase)

    @property
    def changed_at(self) -> datetime | None:
        """When the secret in use was put there: its last replace or rotation, else when it was set."""
        return self.secret_rotated_at or self.secret_set_at

    def age_days(self, at: datetime | None = None) -> int | None:
        changed = self.changed_at
        return None if changed is None else max(0, ((at or datetime.now(UTC)) - changed).days)


class CredentialsModel(RecordTableModel[Credential]):
    """Secrets by owner; a revealed value is shown only while it is in ``revealed``."""

    cache_texts = False

    def __init__(self, parent: Any = None, *, warn_days: int = DEFAULT_SECRET_WARN_DAYS) -> None:
        super().__init__(parent)
        self.revealed: dict[str, str] = {}
        self.warn_days = warn_days
        self.columns = (
            Column[Credential]("Owner", lambda c: c.owner),
            Column[Credential]("Type", lambda c: c.owner_type if c.owner_type == "server" else c.origin),
            Column[Credential]("Kind", lambda c: c.kind),
            Column[Credential]("Server", lambda c: c.server or ""),
            Column[Credential]("Handle", lambda c: self.revealed.get(c.owner, c.handle)),
            Column[Credential]("Secret", lambda c: "revealed" if c.owner in self.revealed else MASK),
            Column[Credential]("Changed", lambda c: day(c.changed_at), sort=lambda c: c.changed_at or _NEVER),
            Column[Credential]("Age", self.age_text, sort=lambda c: c.age_days() or 0, tooltip=self.age_tooltip),
        )

    def is_old(self, credential: Credential) -> bool:
        """Unchanged for more than ``warn_days`` (the ``secret_warn_days`` setting)."""
        age = credential.age_days()
        return age is not None and age > self.warn_days

    def age_text(self, credential: Credential) -> str:
        age = credential.age_days()
        if age is None:
            return ""
        text = f"{age} day{'' if age == 1 else 's'}"
        return f"{text} (old)" if self.is_old(credential) else text

    def age_tooltip(self, credential: Credential) -> str:
        if credential.changed_at is None:
            return "Not known: this secret was not set by Changeover"
        lines = [f"Set {when(credential.secret_set_at)}"]
        if credential.secret_rotated_at:
            lines.append(f"last replaced or rotated {when(credential.secret_rotated_at)}")
        if self.is_old(credential):
            lines.append(f"older than {self.warn_days} days (secret_warn_days): replace or rotate it")
        return "; ".join(lines)

    def set_warn_days(self, days: int) -> None:
        """Mark as old the secrets unchanged for more than ``days``; repaints the Age column."""
        self.warn_days = days
        if self._records:
            column = len(self.columns) - 1
            self.dataChanged.emit(self.index(0, column), self.index(self.rowCount() - 1, column))

    def extra_data(self, record: Credential, column: int, role: int) -> Any:
        """The Age of an old secret in bold (its text says "old" too, for every palette and screen reader)."""
        if role == Qt.ItemDataRole.FontRole and self.columns[column].header == "Age" and self.is_old(record):
            font = QFont()
            font.setBold(True)
            return font
        return None

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
    server_kinds = {s.name: s.kind for s in servers}
    found = [
        Credential(
            "resource",
            r.name,
            r.kind,
            r.handle,
            r.server,
            r.origin,
            r.secret_set_at,
            r.secret_rotated_at,
            tuple(sorted({a.deploy for a in r.attachments})),
            server_kinds.get(r.server or ""),
        )
        for r in resources
        if r.has_secret and r.state != "deprovisioned"
    ]
    found += [Credential("server", s.name, s.kind, s.handle, None, "server") for s in servers if s.has_secret]
    return found
