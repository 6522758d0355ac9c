"""Health checks that speak each protocol, and the use case that checks the inventory's resources.

One module per protocol family (:mod:`.sql`, :mod:`.redis`, :mod:`.memcached`, :mod:`.amqp`,
:mod:`.beanstalk`, :mod:`.smtp`, :mod:`.http` for CouchDB and HTTP APIs, :mod:`.s3`, :mod:`.apikey`);
the kind registry (:mod:`changeover.core.kinds`) says which one a kind uses. :func:`check` runs one on a
full handle; :func:`check_resources` resolves each resource's handle from the keyring, checks it and
keeps the outcome in the inventory (a read: nothing is audited); :func:`last_results` is what the faces
show. A result never holds a secret: every reason is redacted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .. import kinds, redaction
from ..context import Context
from ..errors import ChangeoverError
from ..handles import Handle
from ..inventory.models import HealthCheck, Resource, ResourceState
from ..records import stored_handle
from .base import TIMEOUT, CheckResult, CheckStatus, not_checkable

__all__ = [
    "TIMEOUT",
    "CheckResult",
    "CheckStatus",
    "ResourceCheck",
    "ChecksFailed",
    "check",
    "check_resources",
    "last_results",
    "KEEP_PER_RESOURCE",
]

logger = logging.getLogger(__name__)

#: how many results are kept per resource (older ones are dropped when a new one is stored)
KEEP_PER_RESOURCE = 50
#: how many resources are checked at once
PARALLEL = 8


class ChecksFailed(ChangeoverError):
    """Some resources failed their check (the faces have shown each one's reason already)."""

    title = "Health check failed"


@dataclass(frozen=True)
class ResourceCheck:
    """One resource's check as the faces show it: masked handle, outcome, latency, reason and time."""

    resource: str
    kind: str
    handle: str
    status: CheckStatus
    latency_ms: float
    reason: str
    checked_at: datetime

    @property
    def ok(self) -> bool:
        return self.status is CheckStatus.OK

    @property
    def failed(self) -> bool:
        return self.status is CheckStatus.FAILED


def check(handle: Handle, timeout: float = TIMEOUT) -> CheckResult:
    """Check one full handle (secrets in) with its kind's protocol; never raises for a sick resource."""
    try:
        kind = kinds.get(handle.kind)
    except ChangeoverError as exc:
        return not_checkable(exc.message)
    try:
        result = kind.check(handle, timeout)
    except Exception as exc:  # a driver's surprise must not take the whole check run down
        logger.exception("the %s check raised", handle.kind)
        text = redaction.redact(str(exc), handle.secrets.values())
        return CheckResult(CheckStatus.FAILED, 0.0, f"The {kind.title} check failed unexpectedly: {text[:300]}")
    return CheckResult(result.status, result.latency_ms, redaction.redact(result.reason, handle.secrets.values()))


@dataclass(frozen=True)
class _Target:
    resource_id: int
    name: str
    kind: str
    masked: str
    handle: Handle | None
    problem: CheckResult | None


def check_resources(
    ctx: Context, names: Iterable[str] | None = None, *, timeout: float = TIMEOUT
) -> list[ResourceCheck]:
    """Check the named resources (``None``: every resource not deprovisioned) and keep the results.

    An unknown name raises :class:`~changeover.core.errors.NotFound` before anything is checked; a
    handle the keyring will not give (locked, missing secret) is ``failed`` with that reason.
    """
    targets = _targets(ctx, None if names is None else list(names))
    with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL, len(targets)))) as pool:
        results = list(pool.map(lambda t: _run(t, timeout), targets))
    found: list[ResourceCheck] = []
    with ctx.session() as session:
        for target, result in zip(targets, results, strict=True):
            at = ctx.clock()
            session.add(
                HealthCheck(
                    resource_id=target.resource_id,
                    checked_at=at,
                    status=result.status.value,
                    latency_ms=result.latency_ms,
                    reason=result.reason[:4000],
                )
            )
            found.append(
                ResourceCheck(
                    target.name, target.kind, target.masked, result.status, result.latency_ms, result.reason, at
                )
            )
        session.flush()
        for target in targets:
            _prune(session, target.resource_id)
        session.commit()
    logger.info("checked %d resources: %d failed", len(found), sum(r.failed for r in found))
    return found


def _run(target: _Target, timeout: float) -> CheckResult:
    if target.problem is not None or target.handle is None:
        return target.problem or not_checkable("No handle to check.")
    return check(target.handle, timeout)


def _targets(ctx: Context, names: list[str] | None) -> list[_Target]:
    targets: list[_Target] = []
    with ctx.session() as session:
        if names is None:
            rows = list(
                session.scalars(
                    select(Resource).where(Resource.state != ResourceState.DEPROVISIONED.value).order_by(Resource.name)
                )
            )
        else:
            rows = [ctx.resource(session, name) for name in dict.fromkeys(names)]
        for resource in rows:
            masked = stored_handle(resource).masked()
            if resource.state == ResourceState.DEPROVISIONED.value:
                targets.append(
                    _Target(
                        resource.id, resource.name, resource.kind, masked, None, not_checkable("It is deprovisioned.")
                    )
                )
                continue
            try:
                handle = ctx.resolve_handle(resource)
            except ChangeoverError as exc:
                problem = CheckResult(CheckStatus.FAILED, 0.0, exc.message)
                targets.append(_Target(resource.id, resource.name, resource.kind, masked, None, problem))
                continue
            targets.append(_Target(resource.id, resource.name, resource.kind, masked, handle, None))
    return targets


def _prune(session: Session, resource_id: int) -> None:
    keep = (
        select(HealthCheck.id)
        .where(HealthCheck.resource_id == resource_id)
        .order_by(HealthCheck.checked_at.desc(), HealthCheck.id.desc())
        .limit(KEEP_PER_RESOURCE)
    )
    kept = list(session.scalars(keep))
    if kept:
        session.execute(delete(HealthCheck).where(HealthCheck.resource_id == resource_id, HealthCheck.id.not_in(kept)))


def last_results(ctx: Context) -> dict[str, ResourceCheck]:
    """Each checked resource's latest result, by resource name (what the window's health column shows)."""
    latest = (
        select(HealthCheck.resource_id, func.max(HealthCheck.id).label("last_id"))
        .group_by(HealthCheck.resource_id)
        .subquery()
    )
    found: dict[str, ResourceCheck] = {}
    with ctx.session() as session:
        rows = session.execute(
            select(HealthCheck, Resource)
            .join(latest, HealthCheck.id == latest.c.last_id)
            .join(Resource, Resource.id == HealthCheck.resource_id)
        )
        for row, resource in rows:
            found[resource.name] = ResourceCheck(
                resource.name,
                resource.kind,
                stored_handle(resource).masked(),
                CheckStatus(row.status),
                row.latency_ms,
                row.reason,
                row.checked_at,
            )
    return found
