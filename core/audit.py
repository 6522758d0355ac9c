"""The audit trail: one row per action, with its result; never a secret."""

from __future__ import annotations

import logging

from sqlalchemy import select

from .context import EVENT_LIMIT, Context, check_range
from .inventory.models import (
    Event,
)
from .records import EventInfo, event_info

logger = logging.getLogger(__name__)


def events(ctx: Context, object_name: str | None = None, limit: int = 200) -> list[EventInfo]:
    check_range(limit, EVENT_LIMIT, "The number of events")
    with ctx.session() as session:
        query = select(Event).order_by(Event.at.desc(), Event.id.desc()).limit(limit)
        if object_name:
            query = query.where(Event.object_name == object_name)
        return [event_info(e) for e in session.scalars(query)]
