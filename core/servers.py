"""Database servers Changeover may provision on, and the databases it makes and drops there.

Register a server (PostgreSQL or MariaDB/MySQL by an admin handle whose password goes to the keyring, or
a folder for SQLite files), list and remove servers, provision a database with its own user and
generated password, deprovision a resource (dropping a provider-made one after a final backup, refused
while others are connected), and rotate a provisioned user's password everywhere it is used.
"""

from __future__ import annotations

import secrets as _random
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from . import engines, handles, providers, resources
from . import secrets as keyring_secrets
from .context import Context, validate_name
from .errors import Cancelled, ChangeoverError, Conflict, HookError, InvalidInput, NotFound
from .inventory.models import Origin, Resource, ResourceState, Server
from .jobs import Progress, no_progress
from .providers.base import Provider
from .records import ResourceInfo, resource_info

SERVER_KINDS = engines.NAMES


def kind_text(kind: str) -> str:
    """A server kind in words: "PostgreSQL", "MariaDB/MySQL", "SQLite folder"."""
    engine = engines.of(kind)
    return f"{engine.label} folder" if engine.file_based else engine.label


#: what the faces offer when a server is registered: (kind, in words, an example admin handle or "")
KIND_CHOICES: tuple[tuple[str, str, str], ...] = tuple(
    (e.name, kind_text(e.name), e.admin_example) for e in engines.ALL
)


def is_folder(kind: str) -> bool:
    """A server of this kind is a folder of database files (SQLite), with no admin handle or users."""
    return engines.of(kind).file_based


PASSWORD_BYTES = 24  # token_urlsafe: 32 characters of [A-Za-z0-9_-]


@dataclass(frozen=True)
class ServerInfo:
    name: str
    kind: str  # postgresql | mysql | sqlite
    handle: str  # masked; a folder for sqlite
    has_secret: bool
    version: str
    has_plans: bool
    created_at: datetime
    resources: tuple[str, ...] = ()  # live resources provisioned on it


def _server_handle(server: Server) -> handles.Handle:
    """The server's public handle with placeholder secrets (for masking)."""
    parsed = handles.parse(server.handle, kind=server.kind)
    return handles.Handle(parsed.kind, parsed.scheme, parsed.public, dict.fromkeys(_slots(server), ""))


def _slots(server: Server) -> list[str]:
    return server.secret_slots.split(",") if server.secret_slots else []


def provider_for(server: Server) -> Provider:
    """The provider of a registered server, its admin secret fetched from the keyring."""
    if engines.of(server.kind).file_based:
        return providers.for_server(Path(server.handle))
    public = _server_handle(server)
    full = public
    if server.secret_ref:
        stored = keyring_secrets.load(server.secret_ref)
        if set(public.secrets) - set(stored):
            raise Conflict(
                f"The keyring holds no admin secret for the server '{server.name}' (was it deleted outside "
                "Changeover?): register the server again.",
            )
        full = public.with_secrets(stored)
    return providers.for_server(full)


def provider_named(ctx: Context, name: str) -> Provider:
    """The provider of the registered server ``name`` (for a plan made against the server itself)."""
    with ctx.session() as session:
        return provider_for(_server(session, name))


def _server(session: Session, name: str) -> Server:
    server = session.scalar(select(Server).where(Server.name == name))
    if server is None:
        raise NotFound(f"No server named '{name}': see `changeover server list`.")
    return server


def _server_info(session: Session, server: Server) -> ServerInfo:
    live = session.scalars(
        select(Resource.name)
        .where(Resource.server_id == server.id, Resource.state != ResourceState.DEPROVISIONED.value)
        .order_by(Resource.name)
    ).all()
    shown = server.handle if engines.of(server.kind).file_based else _server_handle(server).masked()
    options = server.options or {}
    return ServerInfo(
        name=server.name,
        kind=server.kind,
        handle=shown,
        has_secret=bool(server.secret_ref),
        version=str(options.get("version", "")),
        has_plans=bool(options.get("has_plans", False)),
        created_at=server.created_at,
        resources=tuple(live),
    )


def parse_server_location(text: str) -> tuple[str, handles.Handle | Path]:
    """What a server is, from what the admin typed: (kind, admin handle) or ("sqlite", folder); checked."""
    text = text.strip()
    if text.startswith(("/", "~")) or text.startswith("sqlite:"):
        where = (make_url(text).database or "") if text.startswith("sqlite:") else text
        folder = Path(where).expanduser()
        if not folder.is_absolute():
            raise InvalidInput("Give the SQLite folder as an absolute path, for example /srv/sqlite.")
        if not folder.is_dir():
            raise InvalidInput(f"The folder {folder} does not exist: create it first.")
        return "sqlite", folder
    handle = handles.parse(text)
    if handle.kind not in providers.SERVER_ENGINES:
        raise InvalidInput(
            f"A {handle.kind} handle is not a database server: give a postgresql:// or mysql:// admin handle, "
            "or an absolute folder for SQLite files.",
        )
    return handle.kind, handle


def register_server(ctx: Context, name: str, handle_text: str) -> ServerInfo:
    """Register a server from an admin handle (its password to the keyring) or a SQLite folder.

    The server is reached first: a handle that does not connect is refused and nothing is stored.
    """
    with ctx.audited("register", "server", name) as details:
        validate_name(name, "server")
        kind, parsed = parse_server_location(handle_text)
        with ctx.session() as session:
            if session.scalar(select(Server).where(Server.name == name)) is not None:
                raise Conflict(f"A server named '{name}' already exists: choose another name.")
        provider = providers.for_server(parsed)
        version = provider.server_version()
        secret_ref = None
        if isinstance(parsed, handles.Handle) and parsed.secrets:
            secret_ref = f"server:{name}:{_random.token_hex(4)}"
            keyring_secrets.store(secret_ref, parsed.secrets)
        public = str(parsed) if isinstance(parsed, Path) else parsed.public
        try:
            with ctx.session() as session:
                server = Server(
                    name=name,
                    kind=kind,
                    handle=public,
                    secret_ref=secret_ref,
                    secret_slots=",".join(parsed.secrets) if isinstance(parsed, handles.Handle) else "",
                    options={"version": version, "has_plans": provider.has_plans},
                    created_at=ctx.clock(),
                )
                session.add(server)
                session.commit()
                details.append(f"{kind} {version} at {public if isinstance(parsed, Path) else parsed.masked()}")
                return _server_info(session, server)
        except BaseException:
            if secret_ref:
                keyring_secrets.delete(secret_ref)
            raise


def list_servers(ctx: Context) -> list[ServerInfo]:
    with ctx.session() as session:
        return [_server_info(session, s) for s in session.scalars(select(Server).order_by(Server.name))]


def show_server(ctx: Context, name: str) -> ServerInfo:
    with ctx.session() as session:
        return _server_info(session, _server(session, name))


def remove_server(ctx: Context, name: str) -> None:
    """Forget a server (its admin secret too); refused while it carries live provisioned resources."""
    with ctx.audited("remove", "server", name), ctx.session() as session:
        server = _server(session, name)
        info = _server_info(session, server)
        if info.resources:
            raise Conflict(
                f"The server '{name}' still carries {', '.join(info.resources)}: deprovision them first.",
            )
        if session.scalar(select(Resource).where(Resource.server_id == server.id)) is not None:
            raise Conflict(f"The server '{name}' is named in the history of deprovisioned resources; it is kept.")
        if server.secret_ref:
            keyring_secrets.delete(server.secret_ref)
        session.delete(server)
        session.commit()


def database_name(resource_name: str) -> str:
    """The database (and user) name for a resource: lower case, ``[a-z0-9_]``, at most 48 characters."""
    base = "".join(c if c.isalnum() else "_" for c in resource_name.lower())[:48]
    return base if base[:1].isalpha() else f"db_{base}"[:48]


def provision(ctx: Context, server_name: str, name: str, *, plan: str | None = None) -> ResourceInfo:
    """Create a database and its dedicated user on a server; return the new resource (origin provisioned).

    The user's generated password goes to the keyring; the inventory gets the handle without it.
    """
    with ctx.audited("provision", "resource", name) as details:
        validate_name(name, "resource")
        with ctx.session() as session:
            server = _server(session, server_name)
            resources.check_free_name(ctx, session, name)
            provider = provider_for(server)
            if plan and not provider.has_plans:
                raise InvalidInput(
                    f"The server '{server.name}' ({server.kind}) has no sizes or plans: provision without a plan. "
                    "Plans apply to cloud providers such as AWS RDS.",
                )
            keyring_secrets.check()
            database = database_name(name)
            password = _random.token_urlsafe(PASSWORD_BYTES)
            details.append(f"on {server.name} as {database}")
            handle = provider.provision(database, database, password, plan=plan)
            try:
                resource = resources.add_row(ctx, session, name, handle, origin=Origin.PROVISIONED, server=server)
                resource.size_bytes = 0
                session.commit()
            except BaseException:
                session.rollback()
                provider.deprovision(database, None if engines.of(server.kind).file_based else database)
                raise
            return resource_info(resource)


# -- deprovision ------------------------------------------------------------------------------------


def deprovision(
    ctx: Context,
    resource_name: str,
    confirm: str,
    *,
    final_backup: bool = True,
    test_restore: bool = True,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> ResourceInfo:
    """Forget a resource (and, for provider-made ones, drop it, after a final backup unless declined).

    The final backup is test-restored (into a scratch database on the same server, or a private SQLite
    file) before the database is dropped, unless ``test_restore`` is False; a failed backup or proof
    stops the deprovision with the database untouched.

    Refused while it is attached anywhere, while an unfinished upgrade needs it, and without its name
    typed again as ``confirm``.
    """
    with ctx.audited("deprovision", "resource", resource_name) as details, ctx.session() as session:
        resource = ctx.resource(session, resource_name)
        if confirm != resource.name:
            raise InvalidInput(
                f"The confirmation does not match: type the resource's name, {resource.name}, to deprovision it.",
            )
        refusal = resources.refusal_to_deprovision(ctx, session, resource)
        if refusal:
            raise Conflict(refusal)
        if resource.origin == Origin.PROVISIONED:
            _drop_provisioned(ctx, resource, details, final_backup, test_restore, progress, cancel)
        if resource.secret_ref:
            keyring_secrets.delete(resource.secret_ref)
            resource.secret_ref = None
            details.append("secrets deleted from the keyring")
        stamp = ctx.clock()
        resource.state = ResourceState.DEPROVISIONED.value
        resource.deprovisioned_at = stamp
        resource.keep_until = None
        resource.updated_at = stamp
        session.commit()
        return resource_info(resource)


def _database_and_user(resource: Resource) -> tuple[str, str | None]:
    url = make_url(resource.handle)
    if engines.of(resource.kind).file_based:
        return Path(url.database or "").stem, None
    return url.database or "", url.username


def _drop_provisioned(
    ctx: Context,
    resource: Resource,
    details: list[str],
    final_backup: bool,
    test_restore: bool,
    progress: Progress,
    cancel: threading.Event | None,
) -> None:
    """Drop a provider-made database and its user: refused while others are connected (naming them); a
    final backup first unless the admin declined it, test-restored unless the admin declined that."""
    server = resource.server
    if server is None:
        raise Conflict(f"'{resource.name}' was provisioned on a server that is no longer registered.")
    provider = provider_for(server)
    database, user = _database_and_user(resource)
    others = provider.open_connections(database)
    if others:
        listed = "; ".join(str(c) for c in others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise Conflict(
            f"'{resource.name}' still has {len(others)} open connection(s) other than Changeover's: {listed}. "
            "Stop them (is a deploy still using it outside Changeover?) and try again.",
        )
    if final_backup:
        from .transfer.backup import BackupParams, backup  # the transfer engine loads only when it works

        url = ctx.resolve_handle(resource).sqlalchemy_url()
        result = backup(BackupParams(url, resource=resource.name), progress, cancel)
        details.append(f"final backup in {result.folder} (sha256 {result.manifest.sha256})")
        if test_restore:
            from .backups import test_restore_backup

            on = server.name if server.kind == resource.kind and not engines.of(server.kind).file_based else None
            try:
                proven = test_restore_backup(ctx, result.folder, server=on, progress=progress, cancel=cancel)
            except Cancelled:
                raise
            except ChangeoverError as exc:
                exc.message = (
                    f"{exc.message} '{resource.name}' was not dropped: find out why, or deprovision it with "
                    "--no-test-restore to drop it anyway."
                )
                raise
            details.append(f"final backup proven in {proven.proven_where}")
        else:
            details.append("final backup not test-restored (declined by the admin)")
    else:
        details.append("no final backup (declined by the admin)")
    provider.deprovision(database, user)
    details.append(f"dropped database {database}" + (f" and user {user}" if user else "") + f" on {server.name}")


# -- rotation ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RotationResult:
    resource: ResourceInfo
    deploys: tuple[str, ...]  # deploys whose config now holds the new password and restarted
    failed: tuple[str, ...] = ()  # deploys whose restart failed after their config was rewritten


def rotate(ctx: Context, resource_name: str) -> RotationResult:
    """Give a provider-made database user a new password, everywhere at once.

    The new password is set on the server, stored in the keyring, written into the config of every deploy
    the database is attached to, and each of those deploys is restarted: one action in the audit trail.
    Everything that could refuse (keyring, config files) is checked before the server is touched; if the
    keyring then refuses the new password, the server gets the old one back, so nothing changed.
    A restart that fails afterwards is reported (the deploy's config already holds the new password, the
    only one that works now), and the other deploys are still rewritten and restarted.
    """

    with ctx.audited("rotate password", "resource", resource_name) as details, ctx.session() as session:
        resource = ctx.resource(session, resource_name)
        ctx.refuse_if_held(session, "rotate its password", resource=resource)
        if resource.origin != Origin.PROVISIONED or resource.server is None:
            raise Conflict(
                f"'{resource.name}' was registered by hand, so Changeover cannot change its password on the "
                "server: change it there, then replace it here (`changeover resource secret`).",
            )
        if resource.state == ResourceState.DEPROVISIONED:
            raise Conflict(f"'{resource.name}' is deprovisioned.")
        provider = provider_for(resource.server)
        _, user = _database_and_user(resource)
        if not user:
            raise Conflict(f"'{resource.name}' has no database user: there is nothing to rotate.")
        old = ctx.resolve_handle(resource)
        active = [a for a in resource.attachments if a.detached_at is None]
        stores = [(a, ctx.store(a.deploy)) for a in active]
        for _, store in stores:
            store.check_writable()
        password = _random.token_urlsafe(PASSWORD_BYTES)
        provider.set_password(user, password)
        new = old.with_secrets({**old.secrets, "password": password})
        try:
            keyring_secrets.store(resource.secret_ref or "", new.secrets)
        except BaseException:
            provider.set_password(user, old.secrets["password"])
            raise
        details.append(f"new password for {user} on {resource.server.name}, stored in the keyring")
        resource.updated_at = resource.secret_rotated_at = ctx.clock()
        resource.secret_set_at = resource.secret_set_at or resource.updated_at
        session.commit()
        rewritten: list[str] = []
        failed: list[str] = []
        for attachment, store in stores:
            store.apply({attachment.env_var: new.full()})
            try:
                ctx.run_hook(attachment.deploy, "restart", details, (password, old.secrets["password"]))
            except ChangeoverError as exc:
                failed.append(attachment.deploy.name)
                details.append(f"{attachment.deploy.name}: config rewritten, but {exc.message}")
                continue
            rewritten.append(attachment.deploy.name)
            details.append(f"{attachment.deploy.name}: {attachment.env_var} rewritten and restarted")
        result = RotationResult(resource_info(resource), tuple(rewritten), tuple(failed))
        if failed:
            raise HookError(
                f"The password of '{resource.name}' was rotated and every config rewritten, but the restart of "
                f"{', '.join(failed)} failed: restart {'it' if len(failed) == 1 else 'them'} by hand.",
            )
        return result
