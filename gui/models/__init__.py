"""The window's table models, one module per concept; every name is importable from here too."""

from .base import (
    PAYLOAD_ROLE,
    SORT_ROLE,
    Column,
    RecordProxy,
    RecordTableModel,
    day,
    record_proxy,
    sort_time,
    tree_proxy,
    when,
)
from .credentials import Credential, CredentialsModel, credentials_from
from .deploys import AttachmentsModel, ConfigModel, DeploysRead, DeployTreeModel, RecognisedModel, recognised_action
from .events import EventsModel
from .health import HEALTH_COLUMN_WIDTH, NOT_CHECKED, checked_time, health_text, health_tip
from .resources import ResourceFilterProxy, ResourcesModel, kept_text, provider_text
from .servers import SERVER_KIND_TEXT, ServersModel

__all__ = [
    "HEALTH_COLUMN_WIDTH",
    "NOT_CHECKED",
    "PAYLOAD_ROLE",
    "SERVER_KIND_TEXT",
    "SORT_ROLE",
    "AttachmentsModel",
    "Column",
    "ConfigModel",
    "Credential",
    "CredentialsModel",
    "DeployTreeModel",
    "DeploysRead",
    "EventsModel",
    "RecognisedModel",
    "RecordProxy",
    "RecordTableModel",
    "ResourceFilterProxy",
    "ResourcesModel",
    "ServersModel",
    "checked_time",
    "credentials_from",
    "day",
    "health_text",
    "health_tip",
    "kept_text",
    "provider_text",
    "recognised_action",
    "record_proxy",
    "sort_time",
    "tree_proxy",
    "when",
]
