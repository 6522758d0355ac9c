"""Swap: one resource replaced by another of the same kind on every deploy it is attached to.

The twelve-factor promise (a local Redis swapped for a hosted one by changing only the handle), done
deploy by deploy in name order: one atomic config change and one restart each, through the kernel's
:meth:`~changeover.core.context.Context.change_config`, the deploy's config locked from its check to the
inventory commit. The new resource is checked first. On the first failure the swap stops, and every deploy
already switched is put back on the old handle and restarted: nothing is left half-done. The old resource
stays listed, detached, with its keep-until date. Databases are refused: their data has to move with
them, which is what ``changeover upgrade`` does.

May touch: the inventory (through the kernel), the deploys' configs and restart hooks, the keyring (read).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import handles, health, kinds, redaction
from .attachments import record_attach
from .checks import TIMEOUT as CHECK_TIMEOUT
from .checks import CheckStatus
from .configstores import ConfigStore
from .context import DAYS, Context, check_range
from .errors import ChangeoverError, Conflict, HookError, InvalidInput
from .inventory.models import Deploy, IntentState, Resource, ResourceState
from .records import ResourceInfo, resource_info

logger = logging.getLogger(__name__)


class SwapFailed(ChangeoverError):
    """A swap stopped on a deploy; the deploys already switched were put back."""

    title = "Swap stopped and undone"


@dataclass(frozen=True)
class SwapResult:
    old: ResourceInfo  # detached now, with its keep-until date
    new: ResourceInfo
    switched: tuple[tuple[str, str], ...]  # (deploy, env var), in the order they were switched
    check: str  # what the check of the new resource said


@dataclass(frozen=True)
class _Before:
    """The new resource's state before the swap, put back if the swap is undone."""

    state: str
    detached_at: datetime | None
    keep_until: datetime | None


def swap(ctx: Context, old_name: str, new_name: str, *, keep_days: int | None = None) -> SwapResult:
    """Replace ``old_name`` by ``new_name`` on every deploy ``old_name`` is attached to (see the module)."""
    if keep_days is not None:
        check_range(keep_days, DAYS, "The days to keep the replaced resource")
    with ctx.audited("swap", "resource", old_name) as details:
        details.append(f"for {new_name}")
        plan, before = _plan(ctx, old_name, new_name)
        checked = check_new(ctx, new_name)
        details.append(f"{new_name} checked: {checked}")
        try:
            done = propagate(
                [deploy_name for deploy_name, _ in plan],
                lambda deploy_name: _switch(ctx, old_name, new_name, deploy_name, keep_days, details),
                lambda done: _undo(ctx, old_name, new_name, done, before, details),
            )
        except PropagationStopped as stopped:
            message = _failure(old_name, new_name, stopped.deploy, stopped.error, stopped.done, stopped.problems)
            raise SwapFailed(message) from None
        with ctx.session() as session:
            old = resource_info(ctx.resource(session, old_name))
            new = resource_info(ctx.resource(session, new_name))
        switched = tuple((d, v) for d, variables in done for v in variables)
        return SwapResult(old, new, switched, checked)


Done = list[tuple[str, list[str]]]  # (deploy, variables rewritten), in the order they were rewritten


class PropagationStopped(Exception):
    """A propagation stopped at ``deploy`` on ``error``; ``done`` were put back, but for ``problems``."""

    def __init__(self, deploy: str, error: ChangeoverError, done: Done, problems: list[str]) -> None:
        super().__init__(error.message)
        self.deploy = deploy
        self.error = error
        self.done = done
        self.problems = problems


def propagate(deploys: Sequence[str], switch: Callable[[str], list[str]], undo: Callable[[Done], list[str]]) -> Done:
    """Rewrite ``deploys`` one at a time, in order; on the first failure undo the ones done, last first.

    ``switch(deploy)`` rewrites and restarts one deploy and returns the variables it rewrote (none: left
    alone); ``undo(done)`` puts those back and returns one sentence per deploy it could not fully put
    back. Shared by swap and the replace of a secret everywhere. A :class:`ChangeoverError` becomes
    :class:`PropagationStopped`; anything else is re-raised once the deploys are put back.
    """
    done: Done = []
    current = ""
    try:
        for deploy_name in deploys:
            current = deploy_name
            variables = switch(deploy_name)
            if variables:
                done.append((deploy_name, variables))
    except BaseException as exc:
        problems = undo(done)
        if not isinstance(exc, ChangeoverError):
            raise
        raise PropagationStopped(current, exc, done, problems) from None
    return done


def rewrite_and_restart(
    ctx: Context,
    deploy: Deploy,
    variables: list[str],
    handle: handles.Handle,
    resource_name: str,
    details: list[str],
) -> list[int | None]:
    """Write ``handle`` into ``variables`` of the deploy's config and restart it, through the kernel.

    One intent per variable (the effect: ``resource_name`` attached there), so an interrupted change is
    finished or dropped variable by variable; the caller closes the returned intents in the transaction
    that records the change. A failed restart has put the config back before this raises.
    """
    extra: list[int | None] = [
        ctx.announce(deploy, {"op": "attach", "resource": resource_name, "var": v}) for v in variables[1:]
    ]
    try:
        intent = ctx.change_config(
            deploy,
            dict.fromkeys(variables, handle.full()),
            details,
            tuple(handle.secrets.values()),
            effect={"op": "attach", "resource": resource_name, "var": variables[0]},
        )
    except BaseException as exc:
        state = IntentState.UNDONE if isinstance(exc, HookError) else IntentState.ABANDONED
        for intent_id in extra:
            ctx.close_intent(None, intent_id, state)
        raise
    return [intent, *extra]


def write_back(
    ctx: Context,
    store: ConfigStore,
    deploy: Deploy,
    values: Mapping[str, str | None],
    resource_name: str,
) -> list[int]:
    """Write ``values`` (the ones known to work; None clears) back into the deploy's config, without a restart yet.

    ``store`` is the deploy's config store, locked by the caller. Returns the intents for the caller to
    close in its transaction; then :func:`restart_put_back`.
    """
    changes: dict[str, str | None] = dict(values)
    intents = [ctx.announce(deploy, {"op": "attach", "resource": resource_name, "var": v}) for v in values]
    try:
        store.apply(changes)
    except BaseException:
        for intent_id in intents:
            ctx.close_intent(None, intent_id, IntentState.ABANDONED)
        raise
    return intents


def restart_put_back(ctx: Context, deploy: Deploy, details: list[str], secrets: tuple[str, ...]) -> None:
    """Restart a deploy that was put back; a failure is :class:`RestartFailed` (its file stays put back)."""
    try:
        ctx.run_hook(deploy, "restart", details, secrets)
    except HookError as exc:
        raise RestartFailed(exc.message) from None


def undo_each(
    done: Done,
    put_back: Callable[[str, list[str]], None],
    resource_name: str,
    back_on: str,
) -> list[str]:
    """Put every deploy in ``done`` back (last first) with ``put_back(deploy, variables)``.

    The file goes back even when the restart then fails: the old handle is the one known to work.
    Returns one sentence per deploy that could not be fully put back, with the command that finishes it.
    """
    problems: list[str] = []
    for deploy_name, variables in reversed(done):
        try:
            put_back(deploy_name, variables)
        except ChangeoverError as exc:
            logger.warning("could not put %s back on %s: %s", deploy_name, back_on, exc.message)
            problems.append(
                f"{deploy_name} could not be put back ({exc.message}): run `changeover attach {resource_name} "
                f"{deploy_name} --as {variables[0]} --replace`",
            )
        except RestartFailed as exc:
            problems.append(
                f"{deploy_name} is back on {back_on} but its restart failed ({exc.message}): restart it with "
                f"`changeover deploy restart {deploy_name}`",
            )
    return problems


def check_new(ctx: Context, name: str) -> str:
    """Check the resource ``name`` answers before any deploy is pointed at it; raise :class:`Conflict` if not.

    The kind's own check (:mod:`changeover.core.kinds`: Redis ``AUTH`` + ``PING``, AMQP open, SMTP
    ``EHLO``...); a kind whose check module is not there yet gets a TCP connection to its host and port
    (:func:`changeover.core.health.check_connection`). A resource that cannot be checked (a bare API key)
    is swapped to, and the answer says so.
    """
    handle = handles.parse(ctx.full_handle(name), kind=_kind_of(ctx, name))
    try:
        result = kinds.get(handle.kind).check(handle, CHECK_TIMEOUT)
    except ModuleNotFoundError:
        reached = health.check_connection(handle.full(), CHECK_TIMEOUT)
        ok, reason = reached.ok, reached.message
    else:
        if result.status is CheckStatus.NOT_CHECKABLE:
            return f"not checkable ({result.reason})"
        ok, reason = result.ok, result.reason
    if not ok:
        raise Conflict(
            f"'{name}' did not pass its check ({reason}), so no deploy was changed: make it reachable from this "
            "machine and swap again.",
        )
    return reason


def _kind_of(ctx: Context, name: str) -> str:
    """The registered kind of resource ``name`` (a bare key parses only when its kind is given)."""
    with ctx.session() as session:
        return ctx.resource(session, name).kind


def _plan(ctx: Context, old_name: str, new_name: str) -> tuple[list[tuple[str, list[str]]], _Before]:
    """Every deploy to switch (by name) with its variables, after every check that needs no change."""
    if old_name == new_name:
        raise InvalidInput(f"'{old_name}' cannot be swapped for itself: name the resource that replaces it.")
    with ctx.session() as session:
        old = ctx.resource(session, old_name)
        new = ctx.resource(session, new_name)
        if old.kind in handles.DATABASE_KINDS:
            raise Conflict(
                f"'{old.name}' is a {old.kind} database: a swap would leave its data behind. Move the data and "
                f"the deploys together with `changeover upgrade {old.name} --to HANDLE` (or --provision SERVER).",
            )
        if new.kind != old.kind:
            raise Conflict(
                f"'{new.name}' is {_a(new.kind)} and '{old.name}' is {_a(old.kind)}: a swap needs two resources "
                "of the same kind.",
            )
        if new.state in (ResourceState.DEPROVISIONED, ResourceState.FAILED):
            raise Conflict(f"'{new.name}' is {new.state} and cannot replace '{old.name}'.")
        ctx.refuse_if_held(session, "swap it", resource=old)
        ctx.refuse_if_held(session, "swap to it", resource=new)
        by_deploy: dict[str, list[str]] = {}
        for attachment in old.attachments:
            if attachment.detached_at is None:
                by_deploy.setdefault(attachment.deploy.name, []).append(attachment.env_var)
        if not by_deploy:
            raise Conflict(
                f"'{old.name}' is attached to no deploy, so there is nothing to swap: attach '{new.name}' "
                f"with `changeover attach {new.name} DEPLOY`.",
            )
        plan = [(name, sorted(by_deploy[name])) for name in sorted(by_deploy)]
        for deploy_name, _ in plan:
            deploy = ctx.deploy(session, deploy_name)
            ctx.refuse_if_held(session, "swap a resource on it", deploy=deploy)
            ctx.store(deploy).check_writable()
        return plan, _Before(new.state, new.detached_at, new.keep_until)


def _switch(
    ctx: Context, old_name: str, new_name: str, deploy_name: str, keep_days: int | None, details: list[str]
) -> list[str]:
    """Point one deploy's variables at the new resource and restart it; the inventory records it.

    Returns the variables switched (none when the old resource was detached from it meanwhile).
    """
    store = ctx.deploy_store(deploy_name)
    with store.locked(), ctx.session() as session:
        old = ctx.resource(session, old_name)
        new = ctx.resource(session, new_name)
        deploy = ctx.deploy(session, deploy_name)
        variables = sorted(a.env_var for a in deploy.attachments if a.detached_at is None and a.resource_id == old.id)
        if not variables:
            details.append(f"{deploy_name}: {old_name} was detached meanwhile, left alone")
            return []
        handle = ctx.resolve_handle(new)
        store.check_writable()
        intents = rewrite_and_restart(ctx, deploy, variables, handle, new.name, details)
        for var in variables:
            record_attach(ctx, session, deploy, new, var, details)
        if keep_days is not None and old.state == ResourceState.DETACHED and old.detached_at is not None:
            old.keep_until = old.detached_at + timedelta(days=keep_days)
        for intent_id in intents:
            ctx.close_intent(session, intent_id, IntentState.DONE)
        session.commit()
        details.append(f"{deploy_name}: {', '.join(variables)} switched")
        return variables


def _undo(
    ctx: Context,
    old_name: str,
    new_name: str,
    done: Done,
    before: _Before,
    details: list[str],
) -> list[str]:
    """Put every switched deploy back on the old resource (last switched first) and restart it."""
    return undo_each(
        done,
        lambda deploy_name, variables: _put_back(ctx, old_name, new_name, deploy_name, variables, before, details),
        old_name,
        f"'{old_name}'",
    )


class RestartFailed(Exception):
    """A deploy put back could not be restarted (its config is back all the same)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _put_back(
    ctx: Context,
    old_name: str,
    new_name: str,
    deploy_name: str,
    variables: list[str],
    before: _Before,
    details: list[str],
) -> None:
    store = ctx.deploy_store(deploy_name)
    with store.locked(), ctx.session() as session:
        old = ctx.resource(session, old_name)
        new = ctx.resource(session, new_name)
        deploy = ctx.deploy(session, deploy_name)
        handle = ctx.resolve_handle(old)
        new_secrets = tuple(ctx.resolve_handle(new).secrets.values())
        redaction.remember(*handle.secrets.values(), *new_secrets)
        intents = write_back(ctx, store, deploy, dict.fromkeys(variables, handle.full()), old.name)
        for var in variables:
            record_attach(ctx, session, deploy, old, var, details)
        _restore(new, before)
        for intent_id in intents:
            ctx.close_intent(session, intent_id, IntentState.DONE)
        session.commit()
        details.append(f"{deploy_name}: put back on {old_name}")
        restart_put_back(ctx, deploy, details, new_secrets)


def _restore(new: Resource, before: _Before) -> None:
    """The new resource as it was before the swap, once no deploy uses it any more."""
    if any(a.detached_at is None for a in new.attachments):
        return
    new.state = before.state
    new.detached_at = before.detached_at
    new.keep_until = before.keep_until


def _failure(old: str, new: str, deploy: str, exc: ChangeoverError, done: Done, problems: list[str]) -> str:
    text = f"The swap of '{old}' for '{new}' stopped at deploy '{deploy}': {exc.message}"
    if problems:
        return f"{text} Putting the deploys back was not complete: {'; '.join(problems)}."
    if done:
        names = ", ".join(d for d, _ in done)
        verb = "was" if len(done) == 1 else "were"
        return f"{text} {names} {verb} put back on '{old}' and restarted: every deploy is on '{old}' as before."
    return f"{text} No deploy was switched: every deploy is on '{old}' as before."


def _a(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"
