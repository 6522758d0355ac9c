"""Resources: register them from their handle (the secret to the keyring), list, show, keep, replace secrets."""

from __future__ import annotations

import logging
import re
import secrets as _random
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import handles
from . import secrets as keyring_secrets
from .context import Context, validate_name
from .errors import Conflict, InvalidInput
from .inventory.models import (
    Origin,
    Resource,
    ResourceState,
    Server,
)
from .records import ResourceInfo, resource_info, stored_handle

logger = logging.getLogger(__name__)


def register_resource(ctx: Context, name: str, handle_text: str, *, kind: str | None = None) -> ResourceInfo:
    """Register a resource from its handle; its secret goes to the keyring, the rest to the inventory."""
    with ctx.audited("register", "resource", name) as details:
        validate_name(name, "resource")
        handle = handles.parse(handle_text, kind=kind)
        with ctx.session() as session:
            check_free_name(ctx, session, name)
            resource = add_row(ctx, session, name, handle)
            session.commit()
            details.append(f"{handle.kind} {handle.masked()}")
            return resource_info(resource)


def check_free_name(ctx: Context, session: Session, name: str) -> None:
    existing = session.scalar(select(Resource).where(Resource.name == name))
    if existing is not None:
        extra = " (kept for history after it was deprovisioned)" if existing.state == "deprovisioned" else ""
        raise Conflict(f"A resource named '{name}' already exists{extra}: choose another name.")


def add_row(
    ctx: Context,
    session: Session,
    name: str,
    handle: handles.Handle,
    *,
    origin: str = Origin.REGISTERED,
    server: Server | None = None,
) -> Resource:
    """Add a resource row; store its secrets first so a keyring failure leaves the inventory as it was."""
    secret_ref = None
    if handle.secrets:
        secret_ref = f"resource:{name}:{_random.token_hex(4)}"
        keyring_secrets.store(secret_ref, handle.keyring_entries)
    stamp = ctx.clock()
    resource = Resource(
        name=name,
        kind=handle.kind,
        scheme=handle.scheme,
        handle=handle.public,
        secret_ref=secret_ref,
        secret_slots=",".join(handle.secrets),
        origin=str(origin),
        server=server,
        state=ResourceState.AVAILABLE.value,
        note="",
        created_at=stamp,
        updated_at=stamp,
    )
    session.add(resource)
    try:
        session.flush()
    except IntegrityError:
        if secret_ref:
            keyring_secrets.delete(secret_ref)
        raise Conflict(f"A resource named '{name}' already exists: choose another name.") from None
    return resource


def set_resource_secret(ctx: Context, name: str, handle_text: str) -> ResourceInfo:
    """Replace a resource's handle secret (same kind); attached deploys are not rewritten by this."""
    with ctx.audited("replace secret", "resource", name) as details, ctx.session() as session:
        resource = ctx.resource(session, name)
        ctx.refuse_if_held(session, "replace its secret", resource=resource)
        handle = handles.parse(handle_text, kind=resource.kind)
        if not handles.same_public(handle.public, resource.handle):
            raise InvalidInput(
                "The new handle differs from the registered one in more than its secret; register it as a "
                "new resource instead.",
            )
        if not handle.secrets:
            raise InvalidInput("The new handle carries no secret (password, token or key).")
        secret_ref = resource.secret_ref or f"resource:{name}:{_random.token_hex(4)}"
        keyring_secrets.store(secret_ref, handle.keyring_entries)
        resource.secret_ref = secret_ref
        resource.secret_slots = ",".join(handle.secrets)
        resource.updated_at = ctx.clock()
        session.commit()
        details.append("secret replaced in the keyring")
        return resource_info(resource)


def list_resources(ctx: Context, state: str | None = None) -> list[ResourceInfo]:
    """Resources in ``state``; by default every one that is not deprovisioned; ``all`` for every one."""
    with ctx.session() as session:
        query = select(Resource).order_by(Resource.name)
        if state in (None, ""):
            query = query.where(Resource.state != ResourceState.DEPROVISIONED.value)
        elif state != "all":
            if state not in {s.value for s in ResourceState}:
                raise InvalidInput(
                    f"Unknown state '{state}': use all, {', '.join(s.value for s in ResourceState)}.",
                )
            query = query.where(Resource.state == state)
        return [resource_info(r) for r in session.scalars(query)]


def show_resource(ctx: Context, name: str) -> ResourceInfo:
    with ctx.session() as session:
        return resource_info(ctx.resource(session, name))


def set_keep_until(ctx: Context, resource_name: str, keep_until: datetime) -> ResourceInfo:
    with ctx.audited("keep until", "resource", resource_name) as details, ctx.session() as session:
        resource = ctx.resource(session, resource_name)
        if resource.state != ResourceState.DETACHED:
            raise Conflict(f"'{resource.name}' is {resource.state}; only detached resources have a keep-until date.")
        resource.keep_until = keep_until
        session.commit()
        details.append(keep_until.isoformat())
        return resource_info(resource)


def find_same(ctx: Context, session: Session, handle: handles.Handle) -> Resource | None:
    """A live resource with exactly this handle (secrets included), to attach instead of a duplicate."""
    candidates = session.scalars(
        select(Resource).where(
            Resource.kind == handle.kind,
            Resource.state != ResourceState.DEPROVISIONED.value,
        )
    )
    for candidate in candidates:
        if not handles.same_public(candidate.handle, handle.public):
            continue
        if not candidate.secret_ref and not handle.secrets:
            return candidate
        stored = keyring_secrets.load(candidate.secret_ref) if candidate.secret_ref else None
        if stored is not None and stored_handle(candidate).with_secrets(stored).secrets == handle.secrets:
            return candidate
    return None


def free_name(ctx: Context, session: Session, base: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "-", base)[:90]
    name, n = base, 2
    while session.scalar(select(Resource.id).where(Resource.name == name)) is not None:
        name, n = f"{base}-{n}", n + 1
    return name


def refusal_to_deprovision(ctx: Context, session: Session, resource: Resource) -> str | None:
    """Why ``resource`` cannot be deprovisioned now (attached, already gone, needed by an upgrade), or None."""
    if resource.state == ResourceState.DEPROVISIONED:
        return f"'{resource.name}' is already deprovisioned."
    active = [a for a in resource.attachments if a.detached_at is None]
    if active:
        where = ", ".join(f"{a.deploy.name} as {a.env_var}" for a in active)
        return (
            f"'{resource.name}' is attached to {where}: detach it first "
            f"(changeover detach {resource.name} {active[0].deploy.name})."
        )
    try:
        ctx.refuse_if_held(session, "deprovision it", resource=resource)
    except Conflict as exc:
        return exc.message
    return None


def deprovision_refusal(ctx: Context, name: str) -> str | None:
    """The reason the resource ``name`` cannot be deprovisioned now, or None: the faces ask before offering it."""
    with ctx.session() as session:
        return refusal_to_deprovision(ctx, session, ctx.resource(session, name))
