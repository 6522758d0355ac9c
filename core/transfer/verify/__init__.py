"""Prove two databases hold the same data: row counts, order-independent checksums, sequence positions.

Every value is rendered to one engine-neutral text before hashing, so equal data compares equal across
PostgreSQL, MariaDB/MySQL and SQLite:

=============  ==========================================================================
kind           canonical text
=============  ==========================================================================
bool           ``1`` / ``0`` (so MySQL's TINYINT(1) equals a boolean)
int            decimal digits
decimal        the value without trailing zeros (``1.50`` → ``1.5``, ``2.00`` → ``2``)
float          rounded to 6 decimal places, then as a decimal (IEEE noise and engines' float
               formatting disagree beyond that)
text           the text itself (NULL stays distinct from the empty string)
bytes          lowercase hex
date / time    ``YYYY-MM-DD`` / ``[-]HH:MM:SS.ffffff`` (a duration: MySQL TIME and PostgreSQL
               intervals go past 24 hours and below zero; an interval's months count 30 days)
timestamps     ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC for time-zone-aware columns
no twin        PostgreSQL's ``infinity`` / ``-infinity`` and MariaDB's zero dates (year 0) are the
               extremes a copy stores instead: ``9999-12-31 23:59:59.999999`` / ``0001-01-01 ...``;
               a MariaDB partial date (month or day 0) is its first day
json           PostgreSQL's ``jsonb`` text: keys sorted by length then bytes, ``", "`` and ``": "``
               separators, numbers as written without exponent
=============  ==========================================================================

A row is the fields joined by U+001E, each ``+text`` or ``-`` for NULL, in column-name order; its MD5 is
split into two 60-bit integers that are *summed* over the table (so order does not matter and a
duplicated row still counts). The hashing runs inside PostgreSQL and MariaDB, a chunk of rows per
statement along the primary key (progress and cancel between chunks); SQLite has no hash function in
SQL and MariaDB no canonical JSON text, so those tables are streamed and hashed here, in the same form.
Spatial values are compared as their WKT text.

Sequences: every auto-numbered column is found (PostgreSQL: owned, identity, or only named by its
``DEFAULT nextval(...)``), and every sequence object is compared too (:func:`sequence_states`): a target
behind its source fails, since it would hand out a value the source already gave away.
"""

from __future__ import annotations

from ...engines import FAR_FUTURE, FAR_PAST, SequenceState
from .canonical import SEP, canonical_value, decimal_text, field_renderer
from .checksums import DatabaseError, TableSum, checksum_database
from .compare import TableComparison, VerificationFailed, VerifyReport, compare, verify
from .sequences import SequencePosition, auto_positions, sequence_positions, sequence_states

__all__ = [
    "FAR_FUTURE",
    "FAR_PAST",
    "SEP",
    "DatabaseError",
    "SequencePosition",
    "SequenceState",
    "TableComparison",
    "TableSum",
    "VerificationFailed",
    "VerifyReport",
    "auto_positions",
    "canonical_value",
    "checksum_database",
    "compare",
    "decimal_text",
    "field_renderer",
    "sequence_positions",
    "sequence_states",
    "verify",
]
