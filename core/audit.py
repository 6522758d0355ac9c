"""The audit trail: one row per action, with its result; never a secret.

Read it newest first (:func:`events`), or export it for a change board (:func:`export_events`): CSV,
JSON or a Markdown table, oldest first, every time in ISO 8601 UTC with seconds and the zone. An edit's
row says what changed from what to what (:func:`change`); a secret shows only that it changed.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import UTC, datetime, time

from sqlalchemy import select

from . import redaction
from .context import EVENT_LIMIT, Context, check_range
from .errors import InvalidInput
from .inventory.models import Event
from .records import EventInfo, event_info

logger = logging.getLogger(__name__)

#: the formats :func:`export_events` writes
EXPORT_FORMATS = ("csv", "json", "md")
#: the columns of an export, in order
COLUMNS = ("at", "actor", "action", "object_type", "object_name", "result", "detail")


def events(
    ctx: Context,
    object_name: str | None = None,
    limit: int = 200,
    *,
    since: datetime | None = None,
    oldest_first: bool = False,
) -> list[EventInfo]:
    """Events (about one object, or all; from ``since`` on, or all), newest first unless ``oldest_first``."""
    check_range(limit, EVENT_LIMIT, "The number of events")
    with ctx.session() as session:
        order = (Event.at.asc(), Event.id.asc()) if oldest_first else (Event.at.desc(), Event.id.desc())
        query = select(Event).order_by(*order).limit(limit)
        if object_name:
            query = query.where(Event.object_name == object_name)
        if since is not None:
            query = query.where(Event.at >= since)
        return [event_info(e) for e in session.scalars(query)]


def parse_since(text: str) -> datetime:
    """A moment an admin typed: a date (its midnight, UTC) or an ISO 8601 time (UTC unless it has a zone)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"'{text}' is not a date: give one like 2026-12-01, or a time like 2026-12-01T09:30 or "
            "2026-12-01T09:30:00+01:00.",
        ) from None
    if len(text.strip()) == 10:
        moment = datetime.combine(moment.date(), time(), UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stamp(moment: datetime) -> str:
    """A moment for a record: ISO 8601 in UTC, with seconds and the zone (``2026-12-01T09:30:05+00:00``)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="seconds")


def _rows(items: list[EventInfo]) -> list[dict[str, str]]:
    return [
        {
            "at": stamp(e.at),
            "actor": e.actor,
            "action": e.action,
            "object_type": e.object_type,
            "object_name": e.object_name,
            "result": e.result,
            "detail": redaction.redact(e.detail),
        }
        for e in items
    ]


def _markdown(rows: list[dict[str, str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = [
        "| When (UTC) | Who | Action | Object | Result | Detail |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        values = (r["at"], r["actor"], r["action"], f"{r['object_type']} {r['object_name']}", r["result"], r["detail"])
        lines.append("| " + " | ".join(cell(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


def export_events(
    ctx: Context,
    fmt: str,
    *,
    since: datetime | None = None,
    object_name: str | None = None,
    limit: int = EVENT_LIMIT[1],
) -> str:
    """The audit trail as ``csv``, ``json`` (a list of objects) or ``md`` (a table), oldest first."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"Unknown export format '{fmt}': use one of {', '.join(EXPORT_FORMATS)}.")
    rows = _rows(events(ctx, object_name, limit, since=since, oldest_first=True))
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return _markdown(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
