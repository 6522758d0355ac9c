"""Database servers Changeover may provision on, and the databases it makes there.

Use cases over a :class:`~changeover.core.workspace.Workspace`: register a server (PostgreSQL or
MariaDB/MySQL by an admin handle whose password goes to the keyring, or a folder for SQLite files),
list servers, provision a database with its own user and generated password, back one up, load a
backup into one, and drop a provider-made database when :meth:`Workspace.deprovision` is asked to
(refused while others are connected; a final backup first unless the admin declines).
"""

from __future__ import annotations

import contextvars
import secrets as _random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from . import handles, paths
from . import secrets as keyring_secrets
from .errors import ChangeoverError, Conflict, HookError, InvalidInput, NotFound
from .inventory.models import Origin, Resource, ResourceState, Server
from .jobs import Progress, no_progress
from .providers.base import DatabaseInfo, Provider, describe
from .transfer.backup import BackupParams, BackupResult, backup, is_partial
from .transfer.load import LoadParams, LoadResult, load
from .transfer.manifest import BackupInvalid, Manifest, read
from .workspace import ResourceInfo, Workspace, _resource_info, validate_name

SERVER_KINDS = ("postgresql", "mysql", "sqlite")
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


@dataclass(frozen=True)
class DeprovisionOptions:
    final_backup: bool = True
    progress: Progress = no_progress
    cancel: threading.Event | None = None


_options: contextvars.ContextVar[DeprovisionOptions | None] = contextvars.ContextVar(
    "changeover_deprovision_options", default=None
)


# -- servers ----------------------------------------------------------------------------------------


def _server_handle(server: Server) -> handles.Handle:
    """The server's public handle with placeholder secrets (for masking)."""
    parsed = handles.parse(server.handle, kind=server.kind)
    return handles.Handle(parsed.kind, parsed.scheme, parsed.public, dict.fromkeys(_slots(server), ""))


def _slots(server: Server) -> list[str]:
    return server.secret_slots.split(",") if server.secret_slots else []


def _make_provider(kind: str, handle: handles.Handle | Path) -> Provider:
    if isinstance(handle, Path):
        from .providers.sqlite import SQLiteFolderProvider

        return SQLiteFolderProvider(handle)
    if kind == "postgresql":
        from .providers.postgres import PostgresProvider

        return PostgresProvider(handle)
    from .providers.mysql import MySQLProvider

    return MySQLProvider(handle)


def provider_for(server: Server) -> Provider:
    """The provider of a registered server, its admin secret fetched from the keyring."""
    if server.kind == "sqlite":
        return _make_provider("sqlite", Path(server.handle))
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
    return _make_provider(server.kind, full)


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
    shown = server.handle if server.kind == "sqlite" else _server_handle(server).masked()
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


def _parse_server(text: str) -> tuple[str, handles.Handle | Path]:
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
    if handle.kind not in ("postgresql", "mysql"):
        raise InvalidInput(
            f"A {handle.kind} handle is not a database server: give a postgresql:// or mysql:// admin handle, "
            "or an absolute folder for SQLite files.",
        )
    return handle.kind, handle


def register_server(ws: Workspace, name: str, handle_text: str) -> ServerInfo:
    """Register a server from an admin handle (its password to the keyring) or a SQLite folder.

    The server is reached first: a handle that does not connect is refused and nothing is stored.
    """
    with ws._audited("register", "server", name) as details:
        validate_name(name, "server")
        kind, parsed = _parse_server(handle_text)
        with ws._session() as session:
            if session.scalar(select(Server).where(Server.name == name)) is not None:
                raise Conflict(f"A server named '{name}' already exists: choose another name.")
        provider = _make_provider(kind, parsed)
        version = provider.server_version()
        secret_ref = None
        if isinstance(parsed, handles.Handle) and parsed.secrets:
            secret_ref = f"server:{name}:{_random.token_hex(4)}"
            keyring_secrets.store(secret_ref, parsed.secrets)
        public = str(parsed) if isinstance(parsed, Path) else parsed.public
        try:
            with ws._session() as session:
                server = Server(
                    name=name,
                    kind=kind,
                    handle=public,
                    secret_ref=secret_ref,
                    secret_slots=",".join(parsed.secrets) if isinstance(parsed, handles.Handle) else "",
                    options={"version": version, "has_plans": provider.has_plans},
                    created_at=ws.clock(),
                )
                session.add(server)
                session.commit()
                details.append(f"{kind} {version} at {public if isinstance(parsed, Path) else parsed.masked()}")
                return _server_info(session, server)
        except BaseException:
            if secret_ref:
                keyring_secrets.delete(secret_ref)
            raise


def list_servers(ws: Workspace) -> list[ServerInfo]:
    with ws._session() as session:
        return [_server_info(session, s) for s in session.scalars(select(Server).order_by(Server.name))]


def show_server(ws: Workspace, name: str) -> ServerInfo:
    with ws._session() as session:
        return _server_info(session, _server(session, name))


def remove_server(ws: Workspace, name: str) -> None:
    """Forget a server (its admin secret too); refused while it carries live provisioned resources."""
    with ws._audited("remove", "server", name), ws._session() as session:
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


# -- provision --------------------------------------------------------------------------------------


def database_name(resource_name: str) -> str:
    """The database (and user) name for a resource: lower case, ``[a-z0-9_]``, at most 48 characters."""
    base = "".join(c if c.isalnum() else "_" for c in resource_name.lower())[:48]
    return base if base[:1].isalpha() else f"db_{base}"[:48]


def provision(ws: Workspace, server_name: str, name: str, *, plan: str | None = None) -> ResourceInfo:
    """Create a database and its dedicated user on a server; return the new resource (origin provisioned).

    The user's generated password goes to the keyring; the inventory gets the handle without it.
    """
    with ws._audited("provision", "resource", name) as details:
        validate_name(name, "resource")
        with ws._session() as session:
            server = _server(session, server_name)
            ws._check_free_name(session, name)
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
                resource = ws._new_resource(session, name, handle, origin=Origin.PROVISIONED, server=server)
                resource.size_bytes = 0
                session.commit()
            except BaseException:
                session.rollback()
                provider.deprovision(database, database if server.kind != "sqlite" else None)
                raise
            return _resource_info(resource)


# -- deprovision ------------------------------------------------------------------------------------


@contextmanager
def _deprovision_options(options: DeprovisionOptions) -> Iterator[None]:
    token = _options.set(options)
    try:
        yield
    finally:
        _options.reset(token)


def deprovision(
    ws: Workspace,
    resource_name: str,
    confirm: str,
    *,
    final_backup: bool = True,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> ResourceInfo:
    """:meth:`Workspace.deprovision` with the admin's choice about the final backup, and its progress."""
    with _deprovision_options(DeprovisionOptions(final_backup, progress, cancel)):
        return ws.deprovision(resource_name, confirm)


def _database_and_user(resource: Resource) -> tuple[str, str | None]:
    url = make_url(resource.handle)
    if resource.kind == "sqlite":
        return Path(url.database or "").stem, None
    return url.database or "", url.username


def drop_provisioned(ws: Workspace, resource: Resource, details: list[str]) -> None:
    """Drop a provider-made database and its user (called by :meth:`Workspace.deprovision`).

    Refused while others are connected (naming them); a final backup is taken first unless the admin
    declined it through :func:`deprovision`.
    """
    options = _options.get() or DeprovisionOptions()
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
    if options.final_backup:
        url = ws._full_handle(resource).sqlalchemy_url()
        result = backup(BackupParams(url, resource=resource.name), options.progress, options.cancel)
        details.append(f"final backup in {result.folder}")
    else:
        details.append("no final backup (declined by the admin)")
    provider.deprovision(database, user)
    details.append(f"dropped database {database}" + (f" and user {user}" if user else "") + f" on {server.name}")


# -- backup and load of resources -------------------------------------------------------------------


def _database_url(ws: Workspace, resource_name: str) -> tuple[str, URL]:
    with ws._session() as session:
        resource = ws._resource(session, resource_name)
        if resource.kind not in ("postgresql", "mysql", "sqlite"):
            raise InvalidInput(f"'{resource.name}' is a {resource.kind} resource, not a database.")
        if resource.state == ResourceState.DEPROVISIONED:
            raise Conflict(f"'{resource.name}' is deprovisioned.")
        return resource.name, ws._full_handle(resource).sqlalchemy_url()


def describe_resource(ws: Workspace, resource_name: str) -> DatabaseInfo:
    """Server version, size and tables with estimated rows of a database resource."""
    return describe(_database_url(ws, resource_name)[1])


def backup_params(ws: Workspace, resource_name: str, folder: Path | None = None) -> BackupParams:
    """The parameters of the backup job for a database resource (its secret fetched from the keyring)."""
    name, url = _database_url(ws, resource_name)
    return BackupParams(url, resource=name, folder=folder)


def backup_resource(
    ws: Workspace,
    resource_name: str,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> BackupResult:
    """Back up a database resource into the backups folder; audited."""
    with ws._audited("backup", "resource", resource_name) as details:
        params = backup_params(ws, resource_name)
        result = backup(params, progress, cancel)
        details.append(f"{result.manifest.format} in {result.folder}")
        return result


def load_params(ws: Workspace, backup_folder: Path, resource_name: str) -> LoadParams:
    name, url = _database_url(ws, resource_name)
    return LoadParams(backup_folder, url)


def load_into_resource(
    ws: Workspace,
    backup_folder: Path,
    resource_name: str,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> LoadResult:
    """Load a backup into an empty database resource of the same engine; audited."""
    with ws._audited("load", "resource", resource_name) as details:
        details.append(f"from {backup_folder}")
        result = load(load_params(ws, backup_folder, resource_name), progress, cancel)
        details.append(f"{result.tables} tables, {result.rows} rows" + (", verified" if result.verified else ""))
        return result


def list_backups(resource_name: str | None = None) -> list[tuple[Path, Manifest]]:
    """Backups in the backups folder (of one resource, or all), newest first."""
    root = paths.backups_dir()
    folders = [root / resource_name] if resource_name else sorted(p for p in root.glob("*") if p.is_dir())
    found: list[tuple[Path, Manifest]] = []
    for parent in folders:
        for folder in parent.glob("*/manifest.json"):
            if is_partial(folder.parent):  # still being written, or left by a killed run
                continue
            try:
                found.append((folder.parent, read(folder.parent)))
            except BackupInvalid:
                continue
    return sorted(found, key=lambda item: item[1].created_at, reverse=True)


# -- rotation ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RotationResult:
    resource: ResourceInfo
    deploys: tuple[str, ...]  # deploys whose config now holds the new password and restarted
    failed: tuple[str, ...] = ()  # deploys whose restart failed after their config was rewritten


def rotate(ws: Workspace, resource_name: str) -> RotationResult:
    """Give a provider-made database user a new password, everywhere at once.

    The new password is set on the server, stored in the keyring, written into the config of every deploy
    the database is attached to, and each of those deploys is restarted: one action in the audit trail.
    Everything that could refuse (keyring, config files) is checked before the server is touched; if the
    keyring then refuses the new password, the server gets the old one back, so nothing changed.
    A restart that fails afterwards is reported (the deploy's config already holds the new password, the
    only one that works now), and the other deploys are still rewritten and restarted.
    """

    with ws._audited("rotate password", "resource", resource_name) as details, ws._session() as session:
        resource = ws._resource(session, resource_name)
        ws.refuse_if_held(session, "rotate its password", resource=resource)
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
        old = ws._full_handle(resource)
        active = [a for a in resource.attachments if a.detached_at is None]
        stores = [(a, ws._store(a.deploy)) for a in active]
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
        resource.updated_at = ws.clock()
        session.commit()
        rewritten: list[str] = []
        failed: list[str] = []
        for attachment, store in stores:
            store.apply({attachment.env_var: new.full()})
            try:
                ws._run_hook(attachment.deploy, "restart", details, (password, old.secrets["password"]))
            except ChangeoverError as exc:
                failed.append(attachment.deploy.name)
                details.append(f"{attachment.deploy.name}: config rewritten, but {exc.message}")
                continue
            rewritten.append(attachment.deploy.name)
            details.append(f"{attachment.deploy.name}: {attachment.env_var} rewritten and restarted")
        result = RotationResult(_resource_info(resource), tuple(rewritten), tuple(failed))
        if failed:
            raise HookError(
                f"The password of '{resource.name}' was rotated and every config rewritten, but the restart of "
                f"{', '.join(failed)} failed: restart {'it' if len(failed) == 1 else 'them'} by hand.",
            )
        return result
