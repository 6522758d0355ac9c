"""Deploys: add, edit, remove, list and show them, their config, restart and maintenance, import."""

from __future__ import annotations

import logging
import re
from contextlib import suppress
from dataclasses import dataclass
from typing import TypedDict, Unpack
from urllib.parse import quote

from sqlalchemy import select

from . import handles, kinds, resources
from . import secrets as keyring_secrets
from .configstores import EnvFileStore, open_store
from .context import HOOK_SECONDS, Context, check_range, is_secretish, validate_name
from .errors import Conflict, InvalidInput
from .inventory.models import (
    Attachment,
    ConfigIntent,
    Deploy,
    IntentState,
    Resource,
    ResourceState,
)
from .records import (
    AttachmentInfo,
    ConfigVar,
    DeployInfo,
    ImportResult,
    ResourceInfo,
    deploy_info,
    resource_info,
)

logger = logging.getLogger(__name__)


def add_deploy(
    ctx: Context,
    name: str,
    env_file: str,
    *,
    app: str = "",
    environment: str = "",
    restart_cmd: str | None = None,
    maintenance_on_cmd: str | None = None,
    maintenance_off_cmd: str | None = None,
    maintenance_var: str | None = None,
    hook_timeout: int = 60,
    create_env_file: bool = False,
) -> DeployInfo:
    """Add a deploy whose config is ``env_file`` (created empty, mode 0600, if asked and missing)."""
    with ctx.audited("add deploy", "deploy", name) as details:
        validate_name(name, "deploy")
        if maintenance_var:
            handles.validate_env_var(maintenance_var)
        check_range(hook_timeout, HOOK_SECONDS, "The hook timeout (seconds)")
        store = EnvFileStore(env_file)
        with ctx.session() as session:
            if session.scalar(select(Deploy.id).where(Deploy.name == name)) is not None:
                raise Conflict(f"A deploy named '{name}' already exists: choose another name.")
            if create_env_file and not store.exists():
                store.create()
                details.append("created an empty env file")
            store.read()
            stamp = ctx.clock()
            deploy = Deploy(
                name=name,
                app=app,
                environment=environment,
                config_kind=store.kind,
                config_location=store.location,
                restart_cmd=restart_cmd or None,
                maintenance_on_cmd=maintenance_on_cmd or None,
                maintenance_off_cmd=maintenance_off_cmd or None,
                maintenance_var=maintenance_var or None,
                hook_timeout=hook_timeout,
                created_at=stamp,
                updated_at=stamp,
            )
            session.add(deploy)
            session.commit()
            details.append(f"config {store.location}")
            return deploy_info(deploy)


class DeployHooks(TypedDict, total=False):
    """A deploy's labels and hooks, as given to add, import or edit it (a hook given as "" is cleared)."""

    app: str
    environment: str
    restart_cmd: str | None
    maintenance_on_cmd: str | None
    maintenance_off_cmd: str | None
    maintenance_var: str | None
    hook_timeout: int


class DeployChanges(DeployHooks, total=False):
    """What an edit may change; a key left out (or None) stays as it is."""

    env_file: str | None
    new_name: str | None


def edit_deploy(ctx: Context, name: str, **changes: Unpack[DeployChanges]) -> DeployInfo:
    """Change a deploy's labels, hooks, name or config file (refused while an upgrade run holds it)."""
    allowed = set(DeployChanges.__annotations__) | set(DeployHooks.__annotations__)
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"Cannot edit {', '.join(sorted(unknown))} of a deploy.")
    with ctx.audited("edit deploy", "deploy", name) as details, ctx.session() as session:
        deploy = ctx.deploy(session, name)
        ctx.refuse_if_held(session, "edit this deploy", deploy=deploy)
        new_name = changes.get("new_name")
        if new_name:
            validate_name(new_name, "deploy")
            if session.scalar(select(Deploy.id).where(Deploy.name == new_name)) is not None:
                raise Conflict(f"A deploy named '{new_name}' already exists: choose another name.")
            deploy.name = new_name
        env_file = changes.get("env_file")
        if env_file:
            if any(a.detached_at is None for a in deploy.attachments):
                raise Conflict(
                    f"'{name}' has attached resources; detach them before pointing it at another config file.",
                )
            store = open_store("envfile", env_file)
            store.read()
            deploy.config_location = store.location
        maintenance_var = changes.get("maintenance_var")
        if maintenance_var:
            handles.validate_env_var(maintenance_var)
        hook_timeout = changes.get("hook_timeout")
        if hook_timeout is not None:
            check_range(int(hook_timeout), HOOK_SECONDS, "The hook timeout (seconds)")
            deploy.hook_timeout = int(hook_timeout)
        app, environment = changes.get("app"), changes.get("environment")
        if app is not None:
            deploy.app = app
        if environment is not None:
            deploy.environment = environment
        hooks = {
            "restart_cmd": changes.get("restart_cmd"),
            "maintenance_on_cmd": changes.get("maintenance_on_cmd"),
            "maintenance_off_cmd": changes.get("maintenance_off_cmd"),
            "maintenance_var": maintenance_var,
        }
        for key, value in hooks.items():
            if value is not None:
                setattr(deploy, key, value or None)
        deploy.updated_at = ctx.clock()
        session.commit()
        details.append("changed " + ", ".join(sorted(changes)))
        return deploy_info(deploy)


def remove_deploy(ctx: Context, name: str) -> None:
    with ctx.audited("remove deploy", "deploy", name), ctx.session() as session:
        deploy = ctx.deploy(session, name)
        ctx.refuse_if_held(session, "remove this deploy", deploy=deploy)
        active = [a for a in deploy.attachments if a.detached_at is None]
        if active:
            listing = ", ".join(f"{a.resource.name} as {a.env_var}" for a in active)
            raise Conflict(f"'{name}' still has attached resources ({listing}): detach them first.")
        for attachment in list(deploy.attachments):
            session.delete(attachment)
        for intent in session.scalars(select(ConfigIntent).where(ConfigIntent.deploy_id == deploy.id)):
            if intent.state == IntentState.PENDING:
                raise Conflict(
                    f"A config change of '{name}' is still being made or was interrupted: run any "
                    "changeover command to finish it, then remove the deploy.",
                )
            session.delete(intent)
        session.delete(deploy)
        session.commit()


def list_deploys(ctx: Context) -> list[DeployInfo]:
    with ctx.session() as session:
        rows = session.scalars(select(Deploy).order_by(Deploy.app, Deploy.environment, Deploy.name))
        return [deploy_info(d) for d in rows]


def show_deploy(ctx: Context, name: str) -> DeployInfo:
    with ctx.session() as session:
        return deploy_info(ctx.deploy(session, name))


def deploy_config(ctx: Context, name: str) -> list[ConfigVar]:
    """The deploy's config variables for display: handles and secret-looking values masked."""
    with ctx.session() as session:
        deploy = ctx.deploy(session, name)
        by_var = {a.env_var: a.resource.name for a in deploy.attachments if a.detached_at is None}
        store = ctx.store(deploy)
    result = []
    for var, value in store.read().items():
        shown = value
        if is_secretish(var):
            shown = handles.MASK if value else ""
        else:
            with suppress(handles.HandleError):
                shown = handles.parse(value).masked()
        result.append(ConfigVar(var, shown, by_var.get(var)))
    return result


def restart(ctx: Context, name: str) -> None:
    with ctx.audited("restart", "deploy", name) as details, ctx.session() as session:
        ctx.run_hook(ctx.deploy(session, name), "restart", details)


def set_maintenance(ctx: Context, name: str, on: bool) -> None:
    """Maintenance on or off: the deploy's command, or its flag variable followed by a restart."""
    which = "maintenance on" if on else "maintenance off"
    with ctx.audited(which, "deploy", name) as details, ctx.session() as session:
        deploy = ctx.deploy(session, name)
        if deploy.maintenance_on_cmd if on else deploy.maintenance_off_cmd:
            ctx.run_hook(deploy, which, details)
        elif deploy.maintenance_var:
            ctx.change_config(deploy, {deploy.maintenance_var: "1" if on else None}, details)
        else:
            raise Conflict(
                f"'{name}' has no maintenance hook: set --maintenance-on-cmd/--maintenance-off-cmd or "
                "--maintenance-var with `changeover deploy edit`.",
            )


@dataclass(frozen=True)
class Recognised:
    """One resource discovery found in a deploy's config, and why.

    ``resource`` is the name it would be registered under, or the registered resource it is the same as
    (``existing``). ``attach`` is False when the variables hold the resource in the app's own form (a
    server list, a bucket name, parts of an SMTP login): it is registered but not attached, since
    Changeover could not write it back in that form on a swap or a rotation.
    """

    variable: str
    kind: str
    resource: str
    handle: str  # masked
    why: str
    existing: bool = False
    attach: bool = True
    variables: tuple[str, ...] = ()  # every variable it was read from


@dataclass(frozen=True)
class Discovery(ImportResult):
    """An import's result with what was recognised; with ``dry_run`` nothing was saved."""

    recognised: tuple[Recognised, ...] = ()
    registered: tuple[tuple[str, str], ...] = ()  # (env var, resource name): registered, not attached
    dry_run: bool = False


@dataclass(frozen=True)
class _Found:
    variable: str
    handle: handles.Handle
    why: str
    attach: bool = True
    variables: tuple[str, ...] = ()
    suffix: str = ""


def import_deploy(
    ctx: Context,
    name: str,
    env_file: str,
    *,
    dry_run: bool = False,
    **deploy_options: Unpack[DeployHooks],
) -> Discovery:
    """Add a deploy from an existing ``.env`` and register and attach the resources it already uses.

    Resources are recognised by scheme (any handle of a known kind; an http(s) URL only when it carries
    a key under a ``*_URL`` name or sits under a conventional name such as ``SENTRY_DSN``) and by the
    kind registry's conventional names (:mod:`changeover.core.kinds`): a bare key under ``*_API_KEY``,
    ``*_TOKEN``, ``NEW_RELIC_LICENSE_KEY``...; ``MEMCACHED_SERVERS`` server lists; ``S3_BUCKET`` with
    ``AWS_REGION`` and the AWS keys; ``MAILGUN_SMTP_SERVER`` with its login and password. The config
    file is not rewritten: the variables already hold their handles.

    With ``dry_run`` the same checks run and the result says what would be registered and attached,
    and nothing is saved: no deploy, no resource, no keyring entry, no audit row.
    """
    if dry_run:
        return _preview(ctx, name, env_file, deploy_options)
    with ctx.audited("import deploy", "deploy", name) as details:
        validate_name(name, "deploy")
        store = open_store("envfile", env_file)
        found, skipped = _discover(store.read())
        added = add_deploy(ctx, name, env_file, **deploy_options)
        stored_refs: list[str] = []
        attached: list[tuple[str, str]] = []
        registered: list[tuple[str, str]] = []
        recognised: list[Recognised] = []
        try:
            with ctx.session() as session:
                deploy = ctx.deploy(session, name)
                stamp = ctx.clock()
                for item in found:
                    resource = resources.find_same(ctx, session, item.handle)
                    existing = resource is not None
                    if resource is None:
                        resource_name = resources.free_name(ctx, session, _base_name(name, item))
                        resource = resources.add_row(ctx, session, resource_name, item.handle)
                        if resource.secret_ref:
                            stored_refs.append(resource.secret_ref)
                    if item.attach:
                        session.add(
                            Attachment(deploy=deploy, resource=resource, env_var=item.variable, attached_at=stamp)
                        )
                        resource.state = ResourceState.ATTACHED.value
                        resource.keep_until = None
                        attached.append((item.variable, resource.name))
                    else:
                        registered.append((item.variable, resource.name))
                    recognised.append(_recognised(item, resource.name, existing))
                session.commit()
                added = deploy_info(deploy)
        except BaseException:
            for ref in stored_refs:
                keyring_secrets.delete(ref)
            with ctx.session() as session:
                session.delete(ctx.deploy(session, name))
                session.commit()
            raise
        details.extend(f"{var} -> {res}" for var, res in attached)
        details.extend(f"{var} -> {res} (registered, not attached)" for var, res in registered)
        return Discovery(added, tuple(attached), tuple(skipped), tuple(recognised), tuple(registered), dry_run=False)


def _preview(ctx: Context, name: str, env_file: str, options: DeployHooks) -> Discovery:
    """What :func:`import_deploy` would do, checked as it checks, with nothing saved."""
    validate_name(name, "deploy")
    if options.get("maintenance_var"):
        handles.validate_env_var(str(options.get("maintenance_var")))
    check_range(int(options.get("hook_timeout", 60)), HOOK_SECONDS, "The hook timeout (seconds)")
    store = EnvFileStore(env_file)
    found, skipped = _discover(store.read())
    stamp = ctx.clock()
    recognised: list[Recognised] = []
    taken: set[str] = set()
    with ctx.session() as session:
        if session.scalar(select(Deploy.id).where(Deploy.name == name)) is not None:
            raise Conflict(f"A deploy named '{name}' already exists: choose another name.")
        for item in found:
            resource = resources.find_same(ctx, session, item.handle)
            if resource is not None:
                recognised.append(_recognised(item, resource.name, True))
                continue
            proposed = resources.free_name(ctx, session, _base_name(name, item))
            base, n = proposed, 2
            while proposed in taken:
                proposed, n = f"{base}-{n}", n + 1
            taken.add(proposed)
            recognised.append(_recognised(item, proposed, False))
    attachments = tuple(
        AttachmentInfo(name, r.resource, r.variable, r.kind, r.handle, stamp, None) for r in recognised if r.attach
    )
    deploy = DeployInfo(
        name=name,
        app=options.get("app") or "",
        environment=options.get("environment") or "",
        config_kind=store.kind,
        config_location=store.location,
        restart_cmd=options.get("restart_cmd") or None,
        maintenance_on_cmd=options.get("maintenance_on_cmd") or None,
        maintenance_off_cmd=options.get("maintenance_off_cmd") or None,
        maintenance_var=options.get("maintenance_var") or None,
        hook_timeout=int(options.get("hook_timeout", 60)),
        created_at=stamp,
        attachments=attachments,
    )
    return Discovery(
        deploy,
        tuple((r.variable, r.resource) for r in recognised if r.attach),
        tuple(skipped),
        tuple(recognised),
        tuple((r.variable, r.resource) for r in recognised if not r.attach),
        dry_run=True,
    )


def _base_name(deploy: str, item: _Found) -> str:
    return f"{deploy}-{item.variable.lower().replace('_', '-')}{item.suffix}"


def _recognised(item: _Found, resource: str, existing: bool) -> Recognised:
    return Recognised(
        item.variable,
        item.handle.kind,
        resource,
        item.handle.masked(),
        item.why,
        existing,
        item.attach,
        item.variables or (item.variable,),
    )


def overview(ctx: Context) -> tuple[list[DeployInfo], list[ResourceInfo]]:
    """Every deploy and every resource (deprovisioned ones too), read with eager loading.

    The same results as :meth:`list_deploys` and ``list_resources("all")``, without one query per
    attachment: about three times faster on a large inventory (2,000 deploys, 10,000 resources).
    """
    from sqlalchemy.orm import selectinload

    with ctx.session() as session:
        deploys = session.scalars(
            select(Deploy)
            .order_by(Deploy.app, Deploy.environment, Deploy.name)
            .options(selectinload(Deploy.attachments).selectinload(Attachment.resource))
        )
        deploy_infos = [deploy_info(d) for d in deploys]
        resources = session.scalars(
            select(Resource)
            .order_by(Resource.name)
            .options(
                selectinload(Resource.attachments).selectinload(Attachment.deploy),
                selectinload(Resource.server),
            )
        )
        return deploy_infos, [resource_info(r) for r in resources]


#: where an app reads the parts of a resource it does not take as one URL (discovery composes a handle)
_REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")
_AWS_KEY_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
_SMTP_PARTS = {
    "server": ("SERVER", "HOST"),
    "port": ("PORT",),
    "login": ("LOGIN", "USERNAME", "USER"),
    "password": ("PASSWORD", "PASS"),
}


def _discover(values: dict[str, str]) -> tuple[list[_Found], list[tuple[str, str]]]:
    """Every resource the variables hold (see :func:`import_deploy`), and the variables passed over, why."""
    found: list[_Found] = []
    skipped: list[tuple[str, str]] = []
    used: set[str] = set()
    for group in (_smtp_groups(values), _buckets(values), _server_lists(values)):
        for item in group:
            found.append(item)
            used.update(item.variables)
    for var, value in values.items():
        if var in used:
            continue
        try:
            single = _recognise(var, value)
        except handles.HandleError as exc:
            skipped.append((var, exc.message))
            continue
        if isinstance(single, str):
            skipped.append((var, single))
        elif single is not None:
            found.append(single)
    order = {var: i for i, var in enumerate(values)}
    found.sort(key=lambda f: (order.get(f.variable, 0), f.suffix))
    return found, skipped


def _recognise(var: str, value: str) -> _Found | str | None:
    """The resource one variable holds, a reason it holds none worth saying, or None (not a resource)."""
    value = value.strip()
    if not value:
        return None
    named = kinds.for_env_var(var)
    bare_key = kinds.get(handles.APIKEY).matches_env_var(var)
    if "://" not in value and not value.startswith("sqlite:"):
        if named is not None and (named.name == handles.APIKEY or bare_key):
            return _Found(var, handles.parse(value, kind=handles.APIKEY), f"conventional name {var} (a bare key)")
        return None
    scheme = value.split(":", 1)[0]
    by_scheme = kinds.by_scheme(scheme)
    if by_scheme is None:
        if named is not None and named.name != handles.APIKEY:
            known = scheme.lower()
            return f"{var} is conventionally {named.title}, but Changeover does not know the scheme '{known}://'."
        return None
    handle = handles.parse(value)
    if handle.kind != "http":
        return _Found(var, handle, f"scheme {scheme.lower()}://")
    if named is not None and named.name == "http":
        if "WEBHOOK" in var.upper() and not handle.secrets:
            return (
                f"{var} is a webhook URL whose secret is in its path, which Changeover cannot keep out of the "
                "inventory: register it by hand as an API key if Changeover should keep it."
            )
        return _Found(var, handle, f"conventional name {var}")
    if var.upper().endswith("_URL") and handle.secrets:
        return _Found(var, handle, "an http(s) URL that carries a key, under a *_URL name")
    return None


def _first(values: dict[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = values.get(name, "").strip()
        if value:
            return name, value
    return None


def _userinfo(login: str, password: str) -> str:
    user = quote(login, safe="")
    return f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")


def _smtp_groups(values: dict[str, str]) -> list[_Found]:
    """``MAILGUN_SMTP_SERVER`` with its port, login and password (and Postmark's, SendGrid's): one SMTP relay."""
    prefixes = [n[:-1] for n in kinds.get("smtp").env_names if n.endswith("_SMTP_*")]
    found = []
    for prefix in prefixes:
        parts = {part: _first(values, tuple(prefix + s for s in suffixes)) for part, suffixes in _SMTP_PARTS.items()}
        server = parts["server"]
        if server is None:
            continue
        port, login, password = parts["port"], parts["login"], parts["password"]
        text = f"smtp://{_userinfo(login[1] if login else '', password[1] if password else '')}{server[1]}"
        if port is not None:
            text += f":{port[1]}"
        try:
            handle = handles.parse(text, kind="smtp")
        except handles.HandleError:
            continue
        variables = tuple(p[0] for p in (server, port, login, password) if p is not None)
        found.append(_Found(server[0], handle, "conventional names " + ", ".join(variables), False, variables))
    return found


def _buckets(values: dict[str, str]) -> list[_Found]:
    """``S3_BUCKET`` (or its siblings) with ``AWS_REGION`` and the AWS keys: one S3 bucket."""
    names = [n for n in kinds.get("s3").env_names if n != "S3_URL" and "*" not in n]
    found = []
    for name in names:
        bucket = values.get(name, "").strip()
        if not bucket or "://" in bucket:
            continue
        region = _first(values, _REGION_VARS)
        key_id, secret = (_first(values, (v,)) for v in _AWS_KEY_VARS)
        userinfo = _userinfo(key_id[1], secret[1] if secret else "") if key_id else ""
        text = f"s3://{userinfo}{bucket}" + (f"?region={quote(region[1], safe='')}" if region else "")
        try:
            handle = handles.parse(text, kind="s3")
        except handles.HandleError:
            continue
        variables = tuple(p[0] for p in ((name, bucket), region, key_id, secret) if p is not None)
        found.append(_Found(name, handle, "conventional names " + ", ".join(variables), False, variables))
    return found


def _server_lists(values: dict[str, str]) -> list[_Found]:
    """``MEMCACHED_SERVERS=host:port,host:port`` (with ``*_USERNAME``/``*_PASSWORD``): a server each."""
    names = [n for n in kinds.get("memcached").env_names if n.endswith("_SERVERS")]
    found = []
    for name in names:
        listed = values.get(name, "").strip()
        if not listed or "://" in listed:
            continue
        prefix = name[: -len("SERVERS")]
        login, password = _first(values, (prefix + "USERNAME",)), _first(values, (prefix + "PASSWORD",))
        servers = [s for s in re.split(r"[\s,;]+", listed) if s]
        variables = tuple(p[0] for p in ((name, listed), login, password) if p is not None)
        for i, server in enumerate(servers, 1):
            userinfo = _userinfo(login[1], password[1] if password else "") if login else ""
            try:
                handle = handles.parse(f"memcached://{userinfo}{server}", kind="memcached")
            except handles.HandleError:
                continue
            why = "conventional names " + ", ".join(variables)
            if len(servers) > 1:
                why += f" (server {i} of {len(servers)})"
            suffix = f"-{i}" if len(servers) > 1 else ""
            found.append(_Found(name, handle, why, False, variables, suffix))
    return found
