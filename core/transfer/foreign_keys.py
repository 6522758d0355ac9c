"""PostgreSQL foreign keys added without their check during an upgrade's window, and checked after it.

``ALTER TABLE ... ADD FOREIGN KEY`` reads the whole referencing table to prove every row has its parent: on
the benchmark's dataset that is a quarter of ``pg_restore``'s time. During an upgrade the copy is proven
equal to the source, whose keys held, before the switch, so the check adds nothing to the window but time.
The keys are therefore restored ``NOT VALID`` (the server enforces them on every new or changed row at
once) and validated after maintenance is off with ``VALIDATE CONSTRAINT``, which locks no reader or writer
out (SHARE UPDATE EXCLUSIVE on the table, ROW SHARE on the one it references).

Left to the restore, checked as before: a key that the source itself holds ``NOT VALID``, a key on a
partitioned table (PostgreSQL before 18 refuses ``NOT VALID`` there), and any key whose ``NOT VALID`` form the
server refuses.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..errors import ChangeoverError
from ..jobs import Progress, check_cancel
from . import tools

logger = logging.getLogger(__name__)

_ENTRY = re.compile(r"^\d+; \d+ \d+ FK CONSTRAINT ")
_IDENT = r'(?:"(?:[^"]|"")*"|[^\s".;(]+)'
#: one foreign key as pg_dump writes it: ``ONLY`` is left out only for a partitioned table
_STATEMENT = re.compile(
    rf"^ALTER TABLE (?P<only>ONLY )?(?P<table>{_IDENT}\.{_IDENT})\n\s+ADD CONSTRAINT (?P<name>{_IDENT}) "
    rf"(?P<definition>FOREIGN KEY .*?);$",
    re.MULTILINE | re.DOTALL,
)


class ForeignKeyViolated(ChangeoverError):
    title = "A foreign key does not hold"


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key of the new database, as pg_dump quotes its table (schema-qualified) and name."""

    table: str
    name: str

    def as_dict(self) -> dict[str, str]:
        return {"table": self.table, "name": self.name}


@dataclass(frozen=True)
class Deferral:
    """What the restore leaves out (``listing``: its TOC with those entries commented) and adds after."""

    listing: str
    statements: tuple[tuple[ForeignKey, str], ...]  # each key, and its statement without a trailing ';'


def plan(toc: str, list_sql: Callable[[str], str]) -> Deferral | None:
    """The keys of ``toc`` (``pg_restore --list``) to restore unchecked, or None when there are none.

    ``list_sql(entries)`` prints the SQL of the TOC lines ``entries`` (``pg_restore -f - --use-list``).
    Each entry prints one statement, in the list's order; when that does not hold, nothing is deferred.
    """
    lines = toc.splitlines()
    entries = [i for i, line in enumerate(lines) if _ENTRY.match(line)]
    if not entries:
        return None
    sql = list_sql("\n".join(lines[i] for i in entries) + "\n")
    statements = list(_STATEMENT.finditer(sql))
    if len(statements) != len(entries):
        logger.warning("pg_restore printed %d foreign keys for %d entries: none put off", len(statements), len(entries))
        return None
    deferred: list[tuple[ForeignKey, str]] = []
    for index, match in zip(entries, statements, strict=True):
        definition = match["definition"]
        if not match["only"] or re.search(r"\sNOT VALID$", definition):
            continue  # a partitioned table's key, or one the source does not hold valid: the restore adds it
        key = ForeignKey(match["table"], match["name"])
        deferred.append((key, f"ALTER TABLE ONLY {key.table} ADD CONSTRAINT {key.name} {definition}"))
        lines[index] = ";" + lines[index]
    if not deferred:
        return None
    return Deferral("\n".join(lines) + "\n", tuple(deferred))


def add_unchecked(url: URL, deferral: Deferral) -> tuple[ForeignKey, ...]:
    """Add each deferred key ``NOT VALID``; one the server refuses so is added checked. Returns the unchecked."""
    unchecked: list[ForeignKey] = []
    engine = sa.create_engine(url.set(drivername="postgresql+psycopg"), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            for key, statement in deferral.statements:
                try:
                    with conn.begin():
                        conn.execute(sa.text(f"{statement} NOT VALID"))
                    unchecked.append(key)
                except sa.exc.DBAPIError as exc:
                    logger.info("foreign key %s on %s added checked: %s", key.name, key.table, exc.orig)
                    with conn.begin():
                        conn.execute(sa.text(statement))
    except sa.exc.DBAPIError as exc:
        raise tools.TransferError(f"Adding the foreign keys to {url.database} failed: {exc.orig}") from None
    finally:
        engine.dispose()
    return tuple(unchecked)


def validate(url: URL, keys: list[ForeignKey], progress: Progress, cancel: threading.Event | None = None) -> int:
    """Validate ``keys`` in ``url`` one by one (idempotent: a valid key is not read again); returns how many
    were validated now."""
    engine = sa.create_engine(url.set(drivername="postgresql+psycopg"), poolclass=sa.NullPool)
    validated = 0
    try:
        with engine.connect() as conn:
            for done, key in enumerate(keys):
                check_cancel(cancel, "Validating the foreign keys")
                progress(done, len(keys), "keys", f"Validating {key.name} on {key.table}")
                with conn.begin():
                    valid = conn.execute(
                        sa.text(
                            "SELECT convalidated FROM pg_constraint "
                            "WHERE conrelid = CAST(:table AS regclass) AND conname = :name AND contype = 'f'"
                        ),
                        {"table": key.table, "name": _unquote(key.name)},
                    ).scalar()
                    if valid is None or valid:  # dropped since by the admin, or validated by an earlier attempt
                        continue
                    try:
                        conn.execute(sa.text(f"ALTER TABLE ONLY {key.table} VALIDATE CONSTRAINT {key.name}"))
                    except sa.exc.IntegrityError as exc:
                        raise ForeignKeyViolated(
                            f"The foreign key {key.name} on {key.table} does not hold in {url.database}: "
                            f"{_first_line(exc)} The source held the same rows (the copy was verified equal to "
                            "it), so its data breaks the key too. The key still guards every new or changed row. "
                            "Fix the rows that break it, or drop the key, then resume the run.",
                        ) from None
                validated += 1
            progress(len(keys), len(keys), "keys", f"Validated {len(keys)} foreign keys")
    except sa.exc.DBAPIError as exc:
        raise tools.TransferError(f"Validating the foreign keys of {url.database} failed: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    return validated


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _first_line(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
