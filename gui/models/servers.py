"""The database servers Changeover provisions databases on."""

from __future__ import annotations

import logging

from changeover.core.servers import KIND_CHOICES, ServerInfo

from .base import Column, RecordTableModel

logger = logging.getLogger(__name__)


#: how a server's kind reads in the window (the CLI's words: postgresql, mysql, sqlite)
SERVER_KIND_TEXT = {kind: text for kind, text, _example in KIND_CHOICES}


class ServersModel(RecordTableModel[ServerInfo]):
    """The registered database servers Changeover provisions on, with the databases each carries."""

    key = staticmethod(lambda s: s.name)
    columns = (
        Column[ServerInfo]("Name", lambda s: s.name),
        Column[ServerInfo]("Kind", lambda s: SERVER_KIND_TEXT.get(s.kind, s.kind)),
        Column[ServerInfo]("Version", lambda s: s.version),
        Column[ServerInfo](
            "Databases",
            lambda s: str(len(s.resources)),
            lambda s: len(s.resources),
            tooltip=lambda s: ", ".join(s.resources) or "No live database provisioned here",
        ),
        Column[ServerInfo]("Handle", lambda s: s.handle),
    )
