"""Servers Changeover may provision on, and the databases (or buckets) it makes and drops there.

Register a server (PostgreSQL or MariaDB/MySQL by an admin handle whose password goes to the keyring, a
folder for SQLite files, an AWS account and region for RDS instances, or an AWS region for S3 buckets),
list and remove servers, provision a database with its own user and generated password (or a bucket),
and deprovision a resource (dropping a provider-made one after a final backup or snapshot, refused while
others are connected; a bucket holding objects only when asked twice). Rotation is its own concept:
:mod:`changeover.core.rotation`.
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

from . import engines, handles, providers, redaction, resources
from . import secrets as keyring_secrets
from .context import Context, validate_name
from .errors import Cancelled, ChangeoverError, Conflict, InvalidInput, NotFound
from .inventory.models import Origin, Resource, ResourceState, Server
from .jobs import Progress, no_progress
from .providers import rds, s3
from .providers.base import InstanceOptions, InstanceProvider, Provider, SecondLogins
from .records import ResourceInfo, resource_info

SERVER_KINDS = (*engines.NAMES, rds.KIND)
#: server kinds that are a cloud account and region, by kind: (in words, an example location)
CLOUD_KINDS: dict[str, tuple[str, str]] = {rds.KIND: ("Amazon RDS", rds.EXAMPLE), s3.KIND: (s3.LABEL, s3.EXAMPLE)}


def kind_text(kind: str) -> str:
    """A server kind in words: "PostgreSQL", "MariaDB/MySQL", "SQLite folder", "Amazon RDS", "Amazon S3 (buckets)"."""
    if kind in CLOUD_KINDS:
        return CLOUD_KINDS[kind][0]
    engine = engines.of(kind)
    return f"{engine.label} folder" if engine.file_based else engine.label


#: what the faces offer when a server is registered: (kind, in words, an example admin handle or "")
KIND_CHOICES: tuple[tuple[str, str, str], ...] = tuple(
    (e.name, kind_text(e.name), e.admin_example) for e in engines.ALL
) + tuple((kind, text, example) for kind, (text, example) in CLOUD_KINDS.items())


def is_folder(kind: str) -> bool:
    """A server of this kind is a folder of database files (SQLite), with no admin handle or users."""
    return kind not in CLOUD_KINDS and engines.of(kind).file_based


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
    plans: tuple[rds.Plan, ...] = ()  # the sizes it offers by name (RDS instance classes), if any


def _server_handle(server: Server) -> handles.Handle:
    """The server's public handle with placeholder secrets (for masking)."""
    if server.kind in CLOUD_KINDS:
        return handles.Handle(server.kind, server.kind, server.handle)
    parsed = handles.parse(server.handle, kind=server.kind)
    return handles.Handle(parsed.kind, parsed.scheme, parsed.public, dict.fromkeys(_slots(server), ""))


def _slots(server: Server) -> list[str]:
    return server.secret_slots.split(",") if server.secret_slots else []


def provider_for(server: Server) -> Provider:
    """The provider of a registered server, its admin secret fetched from the keyring."""
    if is_folder(server.kind):
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
    shown = server.handle if is_folder(server.kind) else _server_handle(server).masked()
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
        plans=rds.PLANS if server.kind == rds.KIND else (),
    )


def parse_server_location(text: str) -> tuple[str, handles.Handle | Path]:
    """What a server is, from what the admin typed: (kind, admin handle) or ("sqlite", folder); checked."""
    from . import aws

    text = text.strip()
    if text.lower().startswith(f"{rds.SCHEME}://"):
        location = aws.parse_location(text, rds.SCHEME)
        return rds.KIND, handles.Handle(rds.KIND, rds.SCHEME, str(location))
    if text.startswith(("/", "~")) or text.startswith("sqlite:"):
        where = (make_url(text).database or "") if text.startswith("sqlite:") else text
        folder = Path(where).expanduser()
        if not folder.is_absolute():
            raise InvalidInput("Give the SQLite folder as an absolute path, for example /srv/sqlite.")
        if not folder.is_dir():
            raise InvalidInput(f"The folder {folder} does not exist: create it first.")
        return "sqlite", folder
    handle = handles.parse(text)
    if handle.kind == s3.KIND:
        s3.S3Provider.at(handle)  # s3://REGION, not a bucket
        return handle.kind, handle
    if handle.kind not in providers.SERVER_ENGINES:
        raise InvalidInput(
            f"A {handle.kind} handle is not a database server: give a postgresql:// or mysql:// admin handle, "
            f"an absolute folder for SQLite files, or an AWS region for RDS ({rds.EXAMPLE}).",
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


def provision(
    ctx: Context,
    server_name: str,
    name: str,
    *,
    plan: str | None = None,
    instance: InstanceOptions | None = None,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> ResourceInfo:
    """Create a database and its dedicated user on a server; return the new resource (origin provisioned).

    The user's generated password goes to the keyring; the inventory gets the handle without it. On a
    server whose databases are whole instances (RDS), ``instance`` gives the engine, version, storage and
    exposure; the wait for the instance reports through ``progress`` and stops (deleting the unfinished
    instance) when ``cancel`` is set.
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
            if instance is not None and not isinstance(provider, InstanceProvider):
                raise InvalidInput(
                    f"The server '{server.name}' ({server.kind}) runs one engine: provision without --engine, "
                    "--version, --storage or --public (they apply to Amazon RDS).",
                )
            if getattr(provider, "keeps_secrets", True):
                keyring_secrets.check()
            database = database_name(name)
            password = _random.token_urlsafe(PASSWORD_BYTES)
            redaction.remember(password)  # masked in every log line and message from now on, before it is sent
            details.append(f"on {server.name} as {database}")
            if isinstance(provider, InstanceProvider):
                if instance is None:
                    raise InvalidInput(
                        f"'{server.name}' is {kind_text(server.kind)}: choose the engine with --engine postgres, "
                        "mysql or mariadb.",
                    )
                details.append(f"{instance.engine} {instance.version or ''} {rds.plan_text(plan or '')}".strip())
                handle = provider.provision_instance(
                    database, password, plan=plan, options=instance, resource=name, progress=progress, cancel=cancel
                )
            else:
                handle = provider.provision(database, database, password, plan=plan)
            try:
                resource = resources.add_row(ctx, session, name, handle, origin=Origin.PROVISIONED, server=server)
                resource.size_bytes = 0
                session.commit()
            except BaseException:
                session.rollback()
                provider.deprovision(database, None if is_folder(server.kind) else database)
                raise
            return resource_info(resource)


# -- deprovision ------------------------------------------------------------------------------------


def deprovision(
    ctx: Context,
    resource_name: str,
    confirm: str,
    *,
    final_backup: bool = True,
    delete_contents: bool = False,
    test_restore: bool = True,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
) -> ResourceInfo:
    """Forget a resource (and, for provider-made ones, drop it, after a final backup unless declined).

    The final backup is test-restored (into a scratch database on the same server, or a private SQLite
    file) before the database is dropped, unless ``test_restore`` is False; a failed backup or proof
    stops the deprovision with the database untouched.

    Refused while it is attached anywhere, while an unfinished upgrade needs it, and without its name
    typed again as ``confirm``. A provider-made S3 bucket that holds objects is removed only with
    ``delete_contents`` too (asked twice: the flag and the name).
    """
    with ctx.audited("deprovision", "resource", resource_name) as details, ctx.session() as session:
        resource = ctx.resource(session, resource_name)
        if confirm != resource.name:
            protected = (
                " It is an Amazon RDS instance with deletion protection on: the typed name lifts the protection "
                "and deletes the instance (after a final snapshot unless you decline it)."
                if resource.origin == Origin.PROVISIONED and resource.server and resource.server.kind == rds.KIND
                else ""
            )
            raise InvalidInput(
                f"The confirmation does not match: type the resource's name, {resource.name}, to deprovision it."
                + protected,
            )
        refusal = resources.refusal_to_deprovision(ctx, session, resource)
        if refusal:
            raise Conflict(refusal)
        if resource.origin == Origin.PROVISIONED and resource.kind == s3.KIND:
            _drop_bucket(resource, details, delete_contents)
        elif resource.origin == Origin.PROVISIONED:
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


def _drop_bucket(resource: Resource, details: list[str], delete_contents: bool) -> None:
    """Remove a provider-made bucket: refused while it holds objects unless ``delete_contents``."""
    if resource.server is None:
        raise Conflict(f"'{resource.name}' was provisioned on a server that is no longer registered.")
    provider = provider_for(resource.server)
    if not isinstance(provider, s3.S3Provider):
        raise Conflict(f"'{resource.name}' is an S3 bucket on a server that is not an S3 region.")
    bucket = s3.bucket_of(resource.handle)
    count = provider.object_count(bucket)
    if count and not delete_contents:
        many = f"{count}+" if count >= 1000 else str(count)
        raise Conflict(
            f"The bucket {bucket} of '{resource.name}' still holds {many} object version(s): deprovisioning "
            "deletes them for good. If you mean it, add --delete-contents (and the name, as now).",
        )
    deleted = provider.drop_bucket(bucket, delete_contents=delete_contents)
    details.append(f"deleted bucket {bucket}" + (f" and {deleted} object version(s) in it" if deleted else ""))


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
    if isinstance(provider, InstanceProvider):
        snapshot = rds.instance_id(f"{resource.name}-{ctx.clock().strftime('%Y%m%d')}") if final_backup else None
        taken, done = provider.drop_instance(
            database, final_snapshot=snapshot, progress=progress, resource=resource.name
        )
        details += done
        declined = " (declined)" if snapshot is None else ""
        kept = f"Final snapshot {taken} on {server.name}" if taken else f"No final snapshot{declined}"
        resource.note = "; ".join([kept, *(d for d in done if "already gone" in d)])
        return
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
    dropped = [user] if user else []
    for other in resource.rotation_users.split(","):  # the other user of a rotation's alternating pair
        if other and other != user and isinstance(provider, SecondLogins):
            provider.drop_login(other)
            dropped.append(other)
    users = f" and user{'s' if len(dropped) > 1 else ''} {', '.join(dropped)}" if dropped else ""
    details.append(f"dropped database {database}{users} on {server.name}")
