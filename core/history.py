"""A resource's or a deploy's whole story, read-only, for a face's detail view.

One call gathers what the inventory and the backups folder know about one object: a resource's record,
its health checks with their times, its backups (size, time, checksum, and whether a test restore proved
it when the manifest says so), the upgrade runs it took part in and its audit events; a deploy's record,
its hooks, its maintenance state as the audit trail and its config have it, and its audit events.
Nothing here changes anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from . import audit, backups
from .backups import BackupInfo
from .checks import CheckStatus, ResourceCheck
from .context import Context
from .errors import ChangeoverError
from .inventory.models import Event, HealthCheck, UpgradeRun
from .records import DeployInfo, EventInfo, ResourceInfo, deploy_info, resource_info, stored_handle
from .upgrade.runs import RunInfo, run_info

logger = logging.getLogger(__name__)

#: how many of each kind of row a detail view gets (the newest)
HEALTH_ROWS = 50
EVENT_ROWS = 100


@dataclass(frozen=True)
class ResourceDetail:
    resource: ResourceInfo
    health: tuple[ResourceCheck, ...]  # newest first
    backups: tuple[BackupInfo, ...]  # newest first
    runs: tuple[RunInfo, ...]  # upgrade runs it was the source or the target of, newest first
    events: tuple[EventInfo, ...]  # newest first


@dataclass(frozen=True)
class Maintenance:
    """Whether a deploy is in maintenance, as far as Changeover can tell, and since when."""

    on: bool | None  # None: never switched by Changeover and no flag variable to read
    since: datetime | None
    how: str  # "hook", "flag MAINTENANCE_MODE", or "" when the deploy has no maintenance hook


@dataclass(frozen=True)
class DeployDetail:
    deploy: DeployInfo
    maintenance: Maintenance
    events: tuple[EventInfo, ...]  # newest first


def resource_backups(resource_name: str) -> list[BackupInfo]:
    """The complete backups of one resource in the backups folder, newest first, each with its last proof."""
    return [backups.backup_info(folder, manifest) for folder, manifest in backups.list_backups(resource_name)]


def resource_detail(ctx: Context, name: str) -> ResourceDetail:
    """Everything known about the resource ``name`` (NotFound when there is none)."""
    with ctx.session() as session:
        resource = ctx.resource(session, name)
        info = resource_info(resource)
        masked = stored_handle(resource).masked()
        checks = session.scalars(
            select(HealthCheck)
            .where(HealthCheck.resource_id == resource.id)
            .order_by(HealthCheck.checked_at.desc(), HealthCheck.id.desc())
            .limit(HEALTH_ROWS)
        )
        health = tuple(
            ResourceCheck(name, resource.kind, masked, CheckStatus(c.status), c.latency_ms, c.reason, c.checked_at)
            for c in checks
        )
        runs = tuple(
            run_info(r)
            for r in session.scalars(
                select(UpgradeRun)
                .where(
                    or_(
                        UpgradeRun.source_id == resource.id,
                        UpgradeRun.target_id == resource.id,
                        UpgradeRun.target_name == name,
                    )
                )
                .order_by(UpgradeRun.id.desc())
            )
        )
    return ResourceDetail(
        resource=info,
        health=health,
        backups=tuple(resource_backups(name)),
        runs=runs,
        events=tuple(audit.events(ctx, name, EVENT_ROWS)),
    )


def _maintenance(ctx: Context, deploy: DeployInfo) -> Maintenance:
    with ctx.session() as session:
        last = session.scalar(
            select(Event)
            .where(
                Event.object_type == "deploy",
                Event.object_name == deploy.name,
                Event.action.in_(("maintenance on", "maintenance off")),
                Event.result == "ok",
            )
            .order_by(Event.at.desc(), Event.id.desc())
            .limit(1)
        )
    how = "hook" if deploy.maintenance_on_cmd else (f"flag {deploy.maintenance_var}" if deploy.maintenance_var else "")
    if deploy.maintenance_var and not deploy.maintenance_on_cmd:
        try:  # the flag in the config is the truth, whoever set it
            flag = ctx.store(deploy).read().get(deploy.maintenance_var, "")
        except (ChangeoverError, OSError) as exc:  # an unreadable config leaves the audit trail's word
            logger.info("could not read %s's config for its maintenance flag: %s", deploy.name, type(exc).__name__)
        else:
            on = flag not in ("", "0", "false", "False", "off")
            since = last.at if last is not None and (last.action == "maintenance on") == on else None
            return Maintenance(on, since, how)
    if last is None:
        return Maintenance(None, None, how)
    return Maintenance(last.action == "maintenance on", last.at, how)


def deploy_detail(ctx: Context, name: str) -> DeployDetail:
    """Everything known about the deploy ``name`` (NotFound when there is none)."""
    with ctx.session() as session:
        info = deploy_info(ctx.deploy(session, name))
    return DeployDetail(
        deploy=info, maintenance=_maintenance(ctx, info), events=tuple(audit.events(ctx, name, EVENT_ROWS))
    )
