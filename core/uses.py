"""Who uses what: every deploy whose current config points at a host, a resource or a user name.

The answer comes from each deploy's config as it is now, values Changeover did not write included (a
``.env`` edited by hand is read like any other): every value that parses as a handle is compared, and each
match says whether Changeover knows that variable as an attachment. Values that are not handles are
ignored; a config that cannot be read is reported, never skipped in silence (a deprovision decided on an
incomplete answer would break a deploy).

May touch: the inventory (read), the deploys' configs (read), the keyring (read, for bare API keys only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from . import handles, kinds
from .configstores import ConfigStore
from .context import Context
from .errors import ChangeoverError, InvalidInput
from .inventory.models import Deploy, Resource

logger = logging.getLogger(__name__)


class Matched(StrEnum):
    RESOURCE = "resource"
    HOST = "host"
    USER = "user"


@dataclass(frozen=True)
class Use:
    """One variable of one deploy that points at what was asked about."""

    deploy: str
    variable: str
    kind: str
    handle: str  # masked
    matched: str  # a :class:`Matched`: how the value points at what was asked about
    resource: str | None  # the resource Changeover attached under this variable, if any
    known: bool  # Changeover attached this variable, and the value still is that resource's handle
    problem: str = ""  # set (variable, kind and handle empty) when the deploy's config cannot be read


@dataclass(frozen=True)
class _Target:
    text: str
    resource: Resource | None
    apikey: str | None  # the key, when the resource asked about is a bare API key
    host: str
    port: int | None


@dataclass(frozen=True)
class _Deploy:
    name: str
    store: ConfigStore
    attached: dict[str, tuple[str, str, str]]  # env var -> (resource name, kind, public handle)


def uses(ctx: Context, what: str) -> list[Use]:
    """Every deploy variable pointing at ``what``: a resource name, a host (``host`` or ``host:port``) or a
    user name; by deploy, then variable."""
    what = what.strip()
    if not what:
        raise InvalidInput("Say what to look for: a host (db.internal or db.internal:5432), a resource or a user.")
    with ctx.session() as session:
        resource = session.scalar(select(Resource).where(Resource.name == what))
        apikey = None
        if resource is not None and resource.kind == handles.APIKEY:
            try:
                apikey = ctx.resolve_handle(resource).full()
            except ChangeoverError as exc:
                logger.warning("the key of %s could not be read: %s", resource.name, exc.message)
        host, port = _host_port(what)
        target = _Target(what, resource, apikey, host, port)
        deploys = [
            _Deploy(
                d.name,
                ctx.store(d),
                {
                    a.env_var: (a.resource.name, a.resource.kind, a.resource.handle)
                    for a in d.attachments
                    if a.detached_at is None
                },
            )
            for d in session.scalars(select(Deploy).order_by(Deploy.name))
        ]
        if resource is not None:
            session.expunge(resource)
    found: list[Use] = []
    for deploy in deploys:
        try:
            values = deploy.store.read()
        except ChangeoverError as exc:
            found.append(Use(deploy.name, "", "", "", "", None, False, f"its config cannot be read: {exc.message}"))
            continue
        for var, value in values.items():
            use = _match(deploy, var, value, target)
            if use is not None:
                found.append(use)
    return found


def _match(deploy: _Deploy, var: str, value: str, target: _Target) -> Use | None:
    attached = deploy.attached.get(var)
    resource = attached[0] if attached else None
    if target.apikey is not None:
        if value.strip() != target.apikey:
            return None
        return Use(deploy.name, var, handles.APIKEY, handles.MASK, Matched.RESOURCE, resource, resource == target.text)
    try:
        handle = handles.parse(value)
    except handles.HandleError:
        return None
    known = attached is not None and attached[1] == handle.kind and handles.same_public(attached[2], handle.public)
    if target.resource is not None:
        if handle.kind != target.resource.kind or not handles.same_public(handle.public, target.resource.handle):
            return None
        matched = Matched.RESOURCE
    elif _same_host(handle, target):
        matched = Matched.HOST
    elif _user(handle) == target.text:
        matched = Matched.USER
    else:
        return None
    return Use(deploy.name, var, handle.kind, handle.masked(), matched, resource, known)


def _host_port(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port`` or ``[v6]:port`` as (lower-case host, port or None)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    return host.lower(), int(port) if port.isdigit() else None


def _same_host(handle: handles.Handle, target: _Target) -> bool:
    try:
        parts = urlsplit(handle.public)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return False
    if not host or host != target.host:
        return False
    if target.port is None:
        return True
    if port is None:
        kind = kinds.by_scheme(parts.scheme)
        port = kind.port_for(parts.scheme) if kind is not None else None
    return port == target.port


def _user(handle: handles.Handle) -> str | None:
    """The user name in the handle's public part (a token in the userinfo is a secret, never compared)."""
    try:
        name = urlsplit(handle.public).username
    except ValueError:
        return None
    return unquote(name) if name else None
