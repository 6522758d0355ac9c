"""What the faces show: frozen records of deploys, resources, attachments and events.

Use cases return these, never ORM objects, so any thread may keep them. Handles in them are masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import handles
from .inventory.models import Attachment, Deploy, Event, Resource, ResourceState, Server


@dataclass(frozen=True)
class AttachmentInfo:
    deploy: str
    resource: str
    env_var: str
    kind: str
    handle: str  # masked
    attached_at: datetime
    detached_at: datetime | None


@dataclass(frozen=True)
class DeployInfo:
    name: str
    app: str
    environment: str
    config_kind: str
    config_location: str
    restart_cmd: str | None
    maintenance_on_cmd: str | None
    maintenance_off_cmd: str | None
    maintenance_var: str | None
    hook_timeout: int
    created_at: datetime
    attachments: tuple[AttachmentInfo, ...] = ()


@dataclass(frozen=True)
class ResourceInfo:
    name: str
    kind: str
    handle: str  # masked
    origin: str
    state: str
    has_secret: bool
    server: str | None
    size_bytes: int | None
    created_at: datetime
    detached_at: datetime | None
    keep_until: datetime | None
    deprovisioned_at: datetime | None
    attachments: tuple[AttachmentInfo, ...] = ()
    history: tuple[AttachmentInfo, ...] = ()
    secret_set_at: datetime | None = None  # when the secret was first stored (never its value)
    secret_rotated_at: datetime | None = None  # when it was last replaced or rotated
    note: str = ""  # what Changeover noted: replaced by whom, where its final backup or snapshot is

    @property
    def secret_changed_at(self) -> datetime | None:
        """When the secret in use now was put there: its last replace or rotation, else when it was set."""
        return self.secret_rotated_at or self.secret_set_at

    def secret_age_days(self, at: datetime | None = None) -> int | None:
        """Whole days since the secret in use was put there, or None when there is no secret or no date."""
        changed = self.secret_changed_at
        if not self.has_secret or changed is None:
            return None
        return max(0, ((at or datetime.now(UTC)) - changed).days)

    @property
    def overdue(self) -> bool:
        """Detached and past its keep-until date: time to decide whether to deprovision."""
        return (
            self.state == ResourceState.DETACHED and self.keep_until is not None and self.keep_until < datetime.now(UTC)
        )


@dataclass(frozen=True)
class EventInfo:
    at: datetime
    actor: str
    action: str
    object_type: str
    object_name: str
    result: str
    detail: str


@dataclass(frozen=True)
class ConfigVar:
    name: str
    value: str  # masked where secret
    resource: str | None


@dataclass(frozen=True)
class ImportResult:
    deploy: DeployInfo
    attached: tuple[tuple[str, str], ...]  # (env var, resource name)
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (env var, reason)


def attachment_info(a: Attachment) -> AttachmentInfo:
    return AttachmentInfo(
        deploy=a.deploy.name,
        resource=a.resource.name,
        env_var=a.env_var,
        kind=a.resource.kind,
        handle=stored_handle(a.resource).masked(),
        attached_at=a.attached_at,
        detached_at=a.detached_at,
    )


def stored_handle(resource: Resource) -> handles.Handle:
    """The resource's handle as kept in the inventory, its secrets as placeholders for masking."""
    return handles.Handle(resource.kind, resource.scheme, resource.handle, slots(resource))


def slots(resource: Resource | Server) -> dict[str, str]:
    """Placeholder secrets (slot -> '') recorded for masking; the values live in the keyring."""
    return dict.fromkeys(resource.secret_slots.split(","), "") if resource.secret_slots else {}


def deploy_info(d: Deploy) -> DeployInfo:
    return DeployInfo(
        name=d.name,
        app=d.app,
        environment=d.environment,
        config_kind=d.config_kind,
        config_location=d.config_location,
        restart_cmd=d.restart_cmd,
        maintenance_on_cmd=d.maintenance_on_cmd,
        maintenance_off_cmd=d.maintenance_off_cmd,
        maintenance_var=d.maintenance_var,
        hook_timeout=d.hook_timeout,
        created_at=d.created_at,
        attachments=tuple(attachment_info(a) for a in d.attachments if a.detached_at is None),
    )


def resource_info(r: Resource) -> ResourceInfo:
    ordered = sorted(r.attachments, key=lambda a: a.attached_at)
    return ResourceInfo(
        name=r.name,
        kind=r.kind,
        handle=stored_handle(r).masked(),
        origin=r.origin,
        state=r.state,
        has_secret=bool(r.secret_ref),
        server=r.server.name if r.server else None,
        size_bytes=r.size_bytes,
        created_at=r.created_at,
        detached_at=r.detached_at,
        keep_until=r.keep_until,
        deprovisioned_at=r.deprovisioned_at,
        attachments=tuple(attachment_info(a) for a in ordered if a.detached_at is None),
        history=tuple(attachment_info(a) for a in ordered),
        secret_set_at=r.secret_set_at,
        secret_rotated_at=r.secret_rotated_at,
        note=r.note or "",
    )


def event_info(e: Event) -> EventInfo:
    return EventInfo(e.at, e.actor, e.action, e.object_type, e.object_name, e.result, e.detail)
