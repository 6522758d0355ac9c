"""Attach and detach: a resource's handle set in or cleared from a deploy's config, the deploy restarted.

A change interrupted between the file and the inventory is finished or dropped by :func:`recover`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import handles, paths
from .context import DAYS, Context, check_range, owner_alive
from .errors import ChangeoverError, Conflict, HookError
from .inventory.models import (
    Attachment,
    ConfigIntent,
    Deploy,
    IntentState,
    Resource,
    ResourceState,
)
from .records import AttachmentInfo, ResourceInfo, attachment_info, resource_info

logger = logging.getLogger(__name__)


def attach(
    ctx: Context, resource_name: str, deploy_name: str, env_var: str | None = None, *, replace: bool = False
) -> AttachmentInfo:
    """Write the resource's full handle into the deploy's config under ``env_var``, then restart it.

    The deploy's config stays locked from the first check to the inventory commit, so concurrent
    changes to one deploy happen one after the other and every one of them lands.
    """
    with ctx.audited("attach", "resource", resource_name) as details:
        store = ctx.deploy_store(deploy_name)
        with store.locked(), ctx.session() as session:
            resource = ctx.resource(session, resource_name)
            deploy = ctx.deploy(session, deploy_name)
            default_var = handles.DEFAULT_ENV_VAR[resource.kind]
            var = handles.validate_env_var(default_var if env_var is None else env_var)
            details.append(f"to {deploy.name} as {var}")
            if resource.state in (ResourceState.DEPROVISIONED, ResourceState.FAILED):
                raise Conflict(f"'{resource.name}' is {resource.state} and cannot be attached.")
            ctx.refuse_if_held(session, "attach it", resource=resource)
            active = [a for a in deploy.attachments if a.detached_at is None]
            if any(a.resource_id == resource.id and a.env_var == var for a in active):
                raise Conflict(f"'{resource.name}' is already attached to {deploy.name} as {var}.")
            displaced = [a for a in active if a.env_var == var]
            for old in displaced:
                ctx.refuse_if_held(session, f"replace {var}", resource=old.resource)
            in_config = var in store.read()
            if (displaced or in_config) and not replace:
                holder = f"by '{displaced[0].resource.name}'" if displaced else "in its config"
                raise Conflict(
                    f"{var} is already in use on {deploy.name} ({holder}): choose another variable with "
                    "--as, or replace it with --replace.",
                )
            handle = ctx.resolve_handle(resource)
            store.check_writable()
            intent = ctx.change_config(
                deploy,
                {var: handle.full()},
                details,
                tuple(handle.secrets.values()),
                effect={"op": "attach", "resource": resource.name, "var": var},
            )
            attachment = record_attach(ctx, session, deploy, resource, var, details)
            ctx.close_intent(session, intent, IntentState.DONE)
            session.commit()
            return attachment_info(attachment)


def record_attach(
    ctx: Context, session: Session, deploy: Deploy, resource: Resource, var: str, details: list[str]
) -> Attachment:
    """The inventory side of an attach whose config write is done: the same for attach and recovery."""
    stamp = ctx.clock()
    for old in [a for a in deploy.attachments if a.detached_at is None and a.env_var == var]:
        old.detached_at = stamp
        mark_detached_if_free(ctx, old.resource, stamp, exclude=old)
        details.append(f"replaced {old.resource.name}")
    attachment = Attachment(deploy=deploy, resource=resource, env_var=var, attached_at=stamp)
    session.add(attachment)
    resource.state = ResourceState.ATTACHED.value
    resource.keep_until = None
    resource.detached_at = None
    resource.updated_at = stamp
    return attachment


def mark_detached_if_free(
    ctx: Context,
    resource: Resource,
    stamp: datetime,
    *,
    exclude: Attachment | None = None,
    keep_days: int | None = None,
) -> None:
    still = [a for a in resource.attachments if a.detached_at is None and a is not exclude]
    if still:
        return
    resource.state = ResourceState.DETACHED.value
    resource.detached_at = stamp
    resource.keep_until = stamp + (timedelta(days=keep_days) if keep_days else ctx.retention())
    resource.updated_at = stamp


def detach(ctx: Context, resource_name: str, deploy_name: str, *, keep_days: int | None = None) -> ResourceInfo:
    """Clear the variable from the deploy's config and restart it; the resource is kept, detached."""
    if keep_days is not None:
        check_range(keep_days, DAYS, "The days to keep a detached resource")
    with ctx.audited("detach", "resource", resource_name) as details:
        store = ctx.deploy_store(deploy_name)
        with store.locked(), ctx.session() as session:
            resource = ctx.resource(session, resource_name)
            deploy = ctx.deploy(session, deploy_name)
            current = [a for a in resource.attachments if a.detached_at is None and a.deploy_id == deploy.id]
            if not current:
                raise Conflict(f"'{resource.name}' is not attached to {deploy.name}.")
            ctx.refuse_if_held(session, "detach it", resource=resource)
            variables = sorted({a.env_var for a in current})
            intent = ctx.change_config(
                deploy,
                dict.fromkeys(variables),
                details,
                effect={"op": "detach", "resource": resource.name, "vars": variables, "keep_days": keep_days},
            )
            record_detach(ctx, session, deploy, resource, keep_days, details)
            ctx.close_intent(session, intent, IntentState.DONE)
            session.commit()
            return resource_info(resource)


def record_detach(
    ctx: Context, session: Session, deploy: Deploy, resource: Resource, keep_days: int | None, details: list[str]
) -> None:
    """The inventory side of a detach whose config write is done: the same for detach and recovery."""
    stamp = ctx.clock()
    for attachment in resource.attachments:
        if attachment.detached_at is None and attachment.deploy_id == deploy.id:
            attachment.detached_at = stamp
            details.append(f"from {deploy.name} ({attachment.env_var})")
    mark_detached_if_free(ctx, resource, stamp, keep_days=keep_days)


def recover(ctx: Context) -> list[str]:
    """Finish or drop every config change a stopped Changeover announced but did not record.

    A change whose file write happened is finished (the inventory records it, the deploy is restarted);
    one that never reached the file is dropped. Changes still being made by a live process are left
    alone. Returns one line per change dealt with; each also goes to the audit trail. Leftovers of a
    killed Changeover (credential files of its tools, partial backup folders) are removed first.
    """
    from .transfer.partials import clean_partials

    for leftover in [*paths.clean_private_runtime(), *clean_partials()]:
        logger.info("removed %s, left by a Changeover that was stopped", leftover)
    with ctx.session() as session:
        pending = [
            (i.id, i.owner, i.created_at)
            for i in session.scalars(
                select(ConfigIntent).where(ConfigIntent.state == IntentState.PENDING.value).order_by(ConfigIntent.id)
            )
        ]
    outcomes: list[str] = []
    for intent_id, owner, created_at in pending:
        if owner_alive(owner, since=created_at, now=ctx.clock()):
            continue
        try:
            outcomes.append(_recover_intent(ctx, intent_id))
        except ChangeoverError as exc:
            logger.warning("config change %s could not be recovered yet: %s", intent_id, exc.message)
    return outcomes


def _recover_intent(ctx: Context, intent_id: int) -> str:
    with ctx.session() as session:
        intent = session.get(ConfigIntent, intent_id)
        if intent is None:
            return ""
        deploy_name = intent.deploy.name
    store = ctx.deploy_store(deploy_name)
    details: list[str] = [f"interrupted config change {intent_id}"]
    with store.locked(), ctx.session() as session:
        intent = session.get(ConfigIntent, intent_id)
        if intent is None or intent.state != IntentState.PENDING:
            return ""
        deploy = intent.deploy
        effect = dict(intent.effect)
        op = str(effect.get("op"))
        resource = ctx.resource(session, str(effect.get("resource")))
        values = store.read()
        if op == "attach":
            var = str(effect["var"])
            written = values.get(var) == ctx.resolve_handle(resource).full()
        else:
            variables = [str(v) for v in effect.get("vars", []) or []]  # type: ignore[attr-defined]
            written = not any(v in values for v in variables)
        if written:
            if op == "attach":
                record_attach(ctx, session, deploy, resource, str(effect["var"]), details)
            else:
                keep = effect.get("keep_days")
                record_detach(ctx, session, deploy, resource, int(str(keep)) if keep else None, details)
            intent.state = IntentState.DONE.value
            outcome = f"finished {op} of {resource.name} on {deploy_name}: the config already held the change"
        else:
            intent.state = IntentState.ABANDONED.value
            outcome = f"dropped {op} of {resource.name} on {deploy_name}: the config never received the change"
        intent.finished_at = ctx.clock()
        session.commit()
        if written:
            try:
                ctx.run_hook(deploy, "restart", details)
            except HookError as exc:
                details.append(f"the restart after recovery failed: {exc.message}")
    ctx.audit(f"recover {op}", "resource", resource.name, "ok", "; ".join([outcome, *details]))
    return outcome
