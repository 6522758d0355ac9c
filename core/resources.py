"""Resources: register them from their handle (the secret to the keyring), list, show, keep, replace secrets."""

from __future__ import annotations

import logging
import re
import secrets as _random
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import handles, redaction, swaps
from . import secrets as keyring_secrets
from .checks import CheckStatus, check
from .context import Context, change, validate_name
from .errors import ChangeoverError, Conflict, InvalidInput
from .inventory.models import (
    IntentState,
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
        secret_set_at=stamp if secret_ref else None,
    )
    session.add(resource)
    try:
        session.flush()
    except IntegrityError:
        if secret_ref:
            keyring_secrets.delete(secret_ref)
        raise Conflict(f"A resource named '{name}' already exists: choose another name.") from None
    return resource


class ReplaceFailed(ChangeoverError):
    """A replace stopped on a deploy; the deploys already rewritten and the keyring were put back."""

    title = "Replace stopped and undone"


def set_resource_secret(ctx: Context, name: str, handle_text: str, *, keep_deploys: bool = False) -> ResourceInfo:
    """Replace a resource's secret (same handle otherwise) in the keyring and in every attached deploy.

    The new handle is checked first (:func:`changeover.core.checks.check`): a resource that refuses it
    changes nothing. Then the keyring gets the new secret and each attached deploy, in name order, gets
    it written into its config and is restarted, through the same machinery as a swap
    (:func:`changeover.core.swaps.propagate`). On the first failure every deploy already rewritten is put
    back on its old value and restarted, and the keyring holds the old secret again. With
    ``keep_deploys`` only the keyring changes (the deploys keep the old value until attached again).
    The resource records when its secret was changed, never the value.
    """
    with ctx.audited("replace secret", "resource", name) as details:
        new, plan, previous = _plan_replace(ctx, name, handle_text, keep_deploys)
        if plan:
            details.append(f"checked with the new secret: {_check_new_secret(name, new)}")
        elif keep_deploys:
            details.append("deploys kept as they are (--keep-deploys)")
        with ctx.session() as session:
            secret_ref = ctx.resource(session, name).secret_ref or f"resource:{name}:{_random.token_hex(4)}"
        redaction.remember(*new.secrets.values())
        keyring_secrets.store(secret_ref, new.keyring_entries)
        details.append("secret replaced in the keyring")
        details.append(change("secret", None, None, secret=True))
        before: dict[str, dict[str, str | None]] = {}

        def undo(done: swaps.Done) -> list[str]:
            _restore_keyring(secret_ref, previous, details)
            return swaps.undo_each(
                done,
                lambda deploy_name, _: put_deploy_back(ctx, name, deploy_name, before[deploy_name], new, details),
                name,
                "its old secret",
            )

        try:
            swaps.propagate(plan, lambda d: rewrite_deploy(ctx, name, d, new, before, details), undo)
        except swaps.PropagationStopped as stopped:
            raise ReplaceFailed(_failure(name, stopped)) from None
        with ctx.session() as session:
            resource = ctx.resource(session, name)
            stamp = ctx.clock()
            resource.secret_ref = secret_ref
            resource.secret_slots = ",".join(new.secrets)
            if resource.secret_set_at is None:
                resource.secret_set_at = stamp
            else:
                resource.secret_rotated_at = stamp
            resource.updated_at = stamp
            session.commit()
            return resource_info(resource)


def deploys_to_rewrite(ctx: Context, session: Session, resource: Resource, doing: str) -> list[str]:
    """The deploys ``resource`` is attached to (by name), each checked free of upgrades and writable."""
    plan = sorted({a.deploy.name for a in resource.attachments if a.detached_at is None})
    for deploy_name in plan:
        deploy = ctx.deploy(session, deploy_name)
        ctx.refuse_if_held(session, doing, deploy=deploy)
        ctx.store(deploy).check_writable()
    return plan


def _plan_replace(
    ctx: Context, name: str, handle_text: str, keep_deploys: bool
) -> tuple[handles.Handle, list[str], dict[str, str] | None]:
    """The new handle, the deploys to rewrite (by name) and the keyring entries to put back on failure."""
    with ctx.session() as session:
        resource = ctx.resource(session, name)
        if resource.state == ResourceState.DEPROVISIONED:
            raise Conflict(f"'{name}' is deprovisioned: there is no secret to replace.")
        ctx.refuse_if_held(session, "replace its secret", resource=resource)
        handle = handles.parse(handle_text, kind=resource.kind)
        if not handles.same_public(handle.public, resource.handle):
            raise InvalidInput(
                "The new handle differs from the registered one in more than its secret; register it as a "
                "new resource instead.",
            )
        if not handle.secrets:
            raise InvalidInput("The new handle carries no secret (password, token or key).")
        previous = keyring_secrets.load(resource.secret_ref) if resource.secret_ref else None
        plan = [] if keep_deploys else deploys_to_rewrite(ctx, session, resource, "rewrite its config")
        return handle, plan, previous


def _check_new_secret(name: str, handle: handles.Handle) -> str:
    """Check the resource answers to the new secret before any deploy is given it; raise if it does not."""
    result = check(handle)
    if result.status is CheckStatus.NOT_CHECKABLE:
        return f"not checkable ({result.reason})"
    if not result.ok:
        raise Conflict(
            f"'{name}' did not accept the new secret ({result.reason}), so nothing was changed: give the new "
            "secret to the service first, or replace with --keep-deploys to change only the keyring.",
        )
    return result.reason


def rewrite_deploy(
    ctx: Context,
    name: str,
    deploy_name: str,
    handle: handles.Handle,
    before: dict[str, dict[str, str | None]],
    details: list[str],
) -> list[str]:
    """Write the new handle into one deploy's variables for the resource and restart it (replace, rotate).

    What the variables held is kept in ``before[deploy_name]`` for :func:`put_deploy_back`.
    """
    store = ctx.deploy_store(deploy_name)
    with store.locked(), ctx.session() as session:
        resource = ctx.resource(session, name)
        deploy = ctx.deploy(session, deploy_name)
        variables = sorted(
            a.env_var for a in deploy.attachments if a.detached_at is None and a.resource_id == resource.id
        )
        if not variables:
            details.append(f"{deploy_name}: {name} was detached meanwhile, left alone")
            return []
        store.check_writable()
        values = store.read()
        before[deploy_name] = {v: values.get(v) for v in variables}  # None: it was not there
        intents = swaps.rewrite_and_restart(ctx, deploy, variables, handle, name, details)
        for intent_id in intents:
            ctx.close_intent(session, intent_id, IntentState.DONE)
        session.commit()
        details.append(f"{deploy_name}: {', '.join(variables)} rewritten")
        return variables


def put_deploy_back(
    ctx: Context,
    name: str,
    deploy_name: str,
    values: dict[str, str | None],
    new: handles.Handle,
    details: list[str],
) -> None:
    """The deploy's variables back to what they held before the replace, then a restart."""
    store = ctx.deploy_store(deploy_name)
    with store.locked(), ctx.session() as session:
        deploy = ctx.deploy(session, deploy_name)
        intents = swaps.write_back(ctx, store, deploy, values, name)
        for intent_id in intents:
            ctx.close_intent(session, intent_id, IntentState.DONE)
        session.commit()
        details.append(f"{deploy_name}: put back on the old secret")
        swaps.restart_put_back(ctx, deploy, details, tuple(new.secrets.values()))


def _restore_keyring(secret_ref: str, previous: dict[str, str] | None, details: list[str]) -> None:
    """The keyring as it was before the replace: the old entries, or none."""
    if previous:
        keyring_secrets.store(secret_ref, previous)
    else:
        keyring_secrets.delete(secret_ref)
    details.append("old secret put back in the keyring")


def _failure(name: str, stopped: swaps.PropagationStopped) -> str:
    text = f"Replacing the secret of '{name}' stopped at deploy '{stopped.deploy}': {stopped.error.message}"
    if stopped.problems:
        return f"{text} Putting the deploys back was not complete: {'; '.join(stopped.problems)}."
    if stopped.done:
        names = ", ".join(d for d, _ in stopped.done)
        verb = "was" if len(stopped.done) == 1 else "were"
        return (
            f"{text} {names} {verb} put back on the old secret and restarted, and the keyring holds the old secret "
            "again: nothing changed. Fix that deploy and replace again."
        )
    return f"{text} No deploy was rewritten and the keyring holds the old secret again: nothing changed."


def reveal_secret(ctx: Context, name: str, *, shown_on: str) -> str:
    """The resource's complete handle, secret included, for a face to show; audited (who, when, where).

    ``shown_on`` says where it went ("a terminal", "the window", "stdout, forced"); never the value.
    """
    with ctx.audited("reveal secret", "resource", name) as details:
        full = ctx.full_handle(name)
        details.append(f"shown on {shown_on}")
        return full


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
        old = resource.keep_until
        resource.keep_until = keep_until
        session.commit()
        details.append(keep_until.isoformat())
        details.append(change("keep until", old.isoformat() if old else None, keep_until.isoformat()))
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
