"""Every use case of Changeover, as one method each on :class:`Workspace`.

The CLI and the GUI are thin faces over these methods. Inputs are plain values, results are frozen
dataclasses (never ORM objects, so any thread may keep them), failures are
:class:`~changeover.core.errors.ChangeoverError` subclasses with a message a person can act on.

Order of work in every change: validate everything (names, states, keyring, config file), then write
the deploy's config, then run its hook, then commit the inventory; a failure undoes what was done
before it, so bad input changes nothing. Every action, failed or not, leaves a row in the audit trail.
"""

from __future__ import annotations

import getpass
import logging
import math
import os
import re
import secrets as _random
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from . import handles, hooks, redaction
from . import secrets as keyring_secrets
from .configstores import ConfigStore, EnvFileStore, open_store
from .errors import ChangeoverError, Conflict, HookError, InvalidInput, InventoryError, NotFound
from .inventory.db import Inventory
from .inventory.models import (
    RUN_TERMINAL_STATES,
    Attachment,
    ConfigIntent,
    Deploy,
    Event,
    IntentState,
    Origin,
    Resource,
    ResourceState,
    Server,
    Setting,
    UpgradeRun,
)

logger = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
DEFAULT_RETENTION_DAYS = 7
DEFAULT_ENV_BACKUPS = 5
SETTINGS: dict[str, str] = {"retention_days": str(DEFAULT_RETENTION_DAYS), "env_backups": str(DEFAULT_ENV_BACKUPS)}

#: the ranges every number a user gives must fall in (checked at the edge, before anything changes)
DAYS = (1, 36_500)
HOOK_SECONDS = (1, 86_400)
QUIET_SECONDS = (0.0, 86_400.0)
EVENT_LIMIT = (1, 100_000)
ENV_BACKUPS = (0, 100)
SETTING_RANGES: dict[str, tuple[int, int]] = {"retention_days": DAYS, "env_backups": ENV_BACKUPS}
_SECRETISH_VAR = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIALS?)$", re.I)

T = TypeVar("T")


def now() -> datetime:
    return datetime.now(UTC)


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def check_range(value: float, bounds: tuple[float, float], what: str) -> None:
    """Raise :class:`InvalidInput` unless ``value`` is a finite number within ``bounds`` (inclusive)."""
    low, high = bounds
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidInput(f"{what} must be between {low:g} and {high:g}; {value:g} is out of range.")


def parse_whole(text: str, bounds: tuple[int, int], what: str) -> int:
    """A whole number typed by a user, checked against ``bounds``."""
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidInput(f"{what} must be a whole number between {bounds[0]} and {bounds[1]}.") from None
    check_range(value, bounds, what)
    return value


def owner_id(actor: str) -> str:
    """Who is doing something that others must not take over while it lives: the admin, process and machine."""
    return f"{actor} pid {os.getpid()} on {socket.gethostname()}"


#: how long work announced by a process on another machine is presumed alive
FOREIGN_OWNER_PATIENCE = timedelta(hours=1)


def owner_alive(owner: str, *, since: datetime | None = None, now: datetime | None = None) -> bool:
    """False when the owner ran on this machine and its process is gone, or ran elsewhere and ``since``
    is more than :data:`FOREIGN_OWNER_PATIENCE` before ``now``."""
    try:
        _, rest = owner.rsplit(" pid ", 1)
        pid_text, host = rest.split(" on ", 1)
        pid = int(pid_text)
    except ValueError:
        return True
    if host != socket.gethostname():
        return since is None or now is None or now - since < FOREIGN_OWNER_PATIENCE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def validate_name(name: str, what: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidInput(
            f"'{name}' is not a valid {what} name: use 1 to 100 letters, digits, dots, dashes or underscores, "
            "starting with a letter or digit.",
        )
    return name


def is_secretish(var: str) -> bool:
    """True for variables whose value should never be shown (``*_KEY``, ``*_TOKEN``, ``*_PASSWORD``...)."""
    return bool(_SECRETISH_VAR.search(var))


@dataclass(frozen=True)
class AttachmentInfo:
    deploy: str
    resource: str
    env_var: str
    kind: str
    handle: str  # masked
    attached_at: datetime
    detached_at: datetime | None


@dataclass(frozen=True)
class DeployInfo:
    name: str
    app: str
    environment: str
    config_kind: str
    config_location: str
    restart_cmd: str | None
    maintenance_on_cmd: str | None
    maintenance_off_cmd: str | None
    maintenance_var: str | None
    hook_timeout: int
    created_at: datetime
    attachments: tuple[AttachmentInfo, ...] = ()


@dataclass(frozen=True)
class ResourceInfo:
    name: str
    kind: str
    handle: str  # masked
    origin: str
    state: str
    has_secret: bool
    server: str | None
    size_bytes: int | None
    created_at: datetime
    detached_at: datetime | None
    keep_until: datetime | None
    deprovisioned_at: datetime | None
    attachments: tuple[AttachmentInfo, ...] = ()
    history: tuple[AttachmentInfo, ...] = ()

    @property
    def overdue(self) -> bool:
        """Detached and past its keep-until date: time to decide whether to deprovision."""
        return self.state == ResourceState.DETACHED and self.keep_until is not None and self.keep_until < now()


@dataclass(frozen=True)
class EventInfo:
    at: datetime
    actor: str
    action: str
    object_type: str
    object_name: str
    result: str
    detail: str


@dataclass(frozen=True)
class ConfigVar:
    name: str
    value: str  # masked where secret
    resource: str | None


@dataclass(frozen=True)
class ImportResult:
    deploy: DeployInfo
    attached: tuple[tuple[str, str], ...]  # (env var, resource name)
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (env var, reason)


def _attachment_info(a: Attachment) -> AttachmentInfo:
    return AttachmentInfo(
        deploy=a.deploy.name,
        resource=a.resource.name,
        env_var=a.env_var,
        kind=a.resource.kind,
        handle=_stored_handle(a.resource).masked(),
        attached_at=a.attached_at,
        detached_at=a.detached_at,
    )


def _stored_handle(resource: Resource) -> handles.Handle:
    """The resource's handle as kept in the inventory, its secrets as placeholders for masking."""
    return handles.Handle(resource.kind, resource.scheme, resource.handle, _slots(resource))


def _slots(resource: Resource | Server) -> dict[str, str]:
    """Placeholder secrets (slot -> '') recorded for masking; the values live in the keyring."""
    return dict.fromkeys(resource.secret_slots.split(","), "") if resource.secret_slots else {}


def _deploy_info(d: Deploy) -> DeployInfo:
    return DeployInfo(
        name=d.name,
        app=d.app,
        environment=d.environment,
        config_kind=d.config_kind,
        config_location=d.config_location,
        restart_cmd=d.restart_cmd,
        maintenance_on_cmd=d.maintenance_on_cmd,
        maintenance_off_cmd=d.maintenance_off_cmd,
        maintenance_var=d.maintenance_var,
        hook_timeout=d.hook_timeout,
        created_at=d.created_at,
        attachments=tuple(_attachment_info(a) for a in d.attachments if a.detached_at is None),
    )


def _resource_info(r: Resource) -> ResourceInfo:
    ordered = sorted(r.attachments, key=lambda a: a.attached_at)
    return ResourceInfo(
        name=r.name,
        kind=r.kind,
        handle=_stored_handle(r).masked(),
        origin=r.origin,
        state=r.state,
        has_secret=bool(r.secret_ref),
        server=r.server.name if r.server else None,
        size_bytes=r.size_bytes,
        created_at=r.created_at,
        detached_at=r.detached_at,
        keep_until=r.keep_until,
        deprovisioned_at=r.deprovisioned_at,
        attachments=tuple(_attachment_info(a) for a in ordered if a.detached_at is None),
        history=tuple(_attachment_info(a) for a in ordered),
    )


def _event_info(e: Event) -> EventInfo:
    return EventInfo(e.at, e.actor, e.action, e.object_type, e.object_name, e.result, e.detail)


class Workspace:
    """The use cases over one inventory. Thread-safe: every call opens and closes its own session."""

    def __init__(self, inventory: Inventory, *, actor: str | None = None, clock: Callable[[], datetime] = now) -> None:
        self.inventory = inventory
        self.actor = actor or _actor()
        self.clock = clock

    @classmethod
    def open(cls, url: str | None = None) -> Workspace:
        return cls(Inventory(url))

    def close(self) -> None:
        self.inventory.close()

    # -- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A session of its own; a lost inventory server becomes :class:`InventoryError`, not a traceback."""
        session = self.inventory.session()
        try:
            yield session
        except (OperationalError, InterfaceError) as exc:
            with suppress(SQLAlchemyError):
                session.rollback()
            text = redaction.redact(str(exc.orig or exc))
            logger.warning("inventory unreachable: %s", text)
            if "locked" in text:
                raise InventoryError(
                    "The inventory is busy: another Changeover holds it locked for too long. Try again in a moment.",
                ) from None
            raise InventoryError(
                "The inventory database stopped answering: make sure it is running, then try again. A config "
                "change that was under way is finished or undone the next time Changeover starts.",
            ) from None
        except BaseException:
            with suppress(SQLAlchemyError):
                session.rollback()
            raise
        finally:
            with suppress(SQLAlchemyError):
                session.close()

    def audit(self, action: str, object_type: str, object_name: str, result: str, detail: str = "") -> None:
        """Append one row to the audit trail, in its own transaction."""
        with self._session() as session:
            session.add(
                Event(
                    at=self.clock(),
                    actor=self.actor,
                    action=action,
                    object_type=object_type,
                    object_name=object_name,
                    result=result,
                    detail=detail[:4000],
                )
            )
            session.commit()

    @contextmanager
    def _audited(self, action: str, object_type: str, object_name: str) -> Iterator[list[str]]:
        """Record the action's outcome: ``ok`` with the details the body appends, or ``failed`` with why."""
        details: list[str] = []
        try:
            yield details
        except ChangeoverError as exc:
            if not isinstance(exc, InventoryError):  # with the inventory gone there is nowhere to write it
                self.audit(action, object_type, object_name, "failed", "; ".join([*details, exc.message]))
            raise
        self.audit(action, object_type, object_name, "ok", "; ".join(details))

    def _deploy(self, session: Session, name: str) -> Deploy:
        deploy = session.scalar(select(Deploy).where(Deploy.name == name))
        if deploy is None:
            raise NotFound(f"No deploy named '{name}': see `changeover deploy list`.")
        return deploy

    def _resource(self, session: Session, name: str) -> Resource:
        resource = session.scalar(select(Resource).where(Resource.name == name))
        if resource is None:
            raise NotFound(f"No resource named '{name}': see `changeover resource list`.")
        return resource

    def refuse_if_held(
        self, session: Session, doing: str, *, resource: Resource | None = None, deploy: Deploy | None = None
    ) -> None:
        """Raise :class:`Conflict` when an unfinished upgrade run still needs ``resource`` or ``deploy``.

        A run needs its source, its target and the deploys it moves until it is done or rolled back: a
        deprovision, detach or edit in between would leave it switching to something that is gone.
        """
        unfinished = session.scalars(select(UpgradeRun).where(UpgradeRun.state.not_in(RUN_TERMINAL_STATES)))
        for run in unfinished:
            holds = (resource is not None and (resource.id in (run.source_id, run.target_id))) or (
                deploy is not None and any(d.get("deploy") == deploy.name for d in run.deploys)
            )
            if holds:
                what = f"'{resource.name}'" if resource is not None else f"deploy '{deploy.name if deploy else ''}'"
                raise Conflict(
                    f"Cannot {doing}: {what} is part of unfinished upgrade run {run.id}. Finish it with "
                    f"`changeover upgrade --resume {run.id}` or roll it back with `changeover upgrade --rollback "
                    f"{run.id}` first.",
                )

    def _full_handle(self, resource: Resource) -> handles.Handle:
        """The resource's complete handle, its secrets fetched from the keyring."""
        handle = _stored_handle(resource)
        if not resource.secret_ref:
            return handle
        stored = keyring_secrets.load(resource.secret_ref)
        missing = set(handle.secrets) - set(stored)
        if missing:
            raise Conflict(
                f"The keyring holds no secret for '{resource.name}' (was it deleted outside Changeover?): "
                f"set it again with `changeover resource secret {resource.name} -`.",
            )
        return handle.with_secrets(stored)

    def full_handle(self, resource_name: str) -> str:
        """The complete handle of a resource, secret included, for the faces that must use it."""
        with self._session() as session:
            return self._full_handle(self._resource(session, resource_name)).full()

    def _store(self, deploy: Deploy | DeployInfo) -> ConfigStore:
        """The deploy's config store, keeping as many earlier versions as the ``env_backups`` setting says."""
        return open_store(
            deploy.config_kind,
            deploy.config_location,
            keep_backups=int(self.setting("env_backups")),
            # the lock is held across a restart hook: wait for a few of them before calling it stuck
            lock_timeout=max(120.0, 3.0 * deploy.hook_timeout + 60.0),
        )

    def _config_secrets(self, store: ConfigStore) -> list[str]:
        """Every secret visible in a deploy's config, so hook output can be redacted."""
        found: list[str] = []
        try:
            values = store.read()
        except ChangeoverError:
            return found
        for var, value in values.items():
            if is_secretish(var):
                found.append(value)
                continue
            try:
                found.extend(handles.parse(value).secrets.values())
            except handles.HandleError:
                continue
        return found

    def _run_hook(self, deploy: Deploy, which: str, details: list[str], extra: tuple[str, ...] = ()) -> None:
        command = {
            "restart": deploy.restart_cmd,
            "maintenance on": deploy.maintenance_on_cmd,
            "maintenance off": deploy.maintenance_off_cmd,
        }[which]
        if not command:
            return
        store = self._store(deploy)
        parent = str(getattr(store, "path", None).parent) if getattr(store, "path", None) else None  # type: ignore[union-attr]
        result = hooks.run_hook(
            which,
            command,
            timeout=deploy.hook_timeout,
            cwd=parent,
            secrets=[*self._config_secrets(store), *extra],
        )
        details.append(result.summary())

    def _deploy_store(self, deploy_name: str) -> ConfigStore:
        """The config store of a deploy, looked up in a short session of its own (to lock it first)."""
        with self._session() as session:
            return self._store(self._deploy(session, deploy_name))

    def _replaced_secrets(self, store: ConfigStore, variables: Iterable[str]) -> list[str]:
        """The secrets of the values a change is about to overwrite or clear (redacted from hook output)."""
        try:
            values = store.read()
        except ChangeoverError:
            return []
        found: list[str] = []
        for var in variables:
            value = values.get(var)
            if not value:
                continue
            try:
                found.extend(handles.parse(value).secrets.values())
            except handles.HandleError:
                if is_secretish(var):
                    found.append(value)
        return found

    def _change_config(
        self,
        deploy: Deploy,
        changes: dict[str, str | None],
        details: list[str],
        secrets: tuple[str, ...] = (),
        *,
        effect: dict[str, object] | None = None,
    ) -> int | None:
        """Write ``changes`` to the deploy's config, then restart it; undo the write if the restart fails.

        With ``effect`` (what the inventory will record), an intent is committed before the write and its
        id returned: the caller closes it in the transaction that records the change, and a crash in
        between is finished or dropped by :meth:`recover`. Hook output is redacted of the new secrets and
        of the ones the change removes.
        """
        store = self._store(deploy)
        removed = tuple(self._replaced_secrets(store, changes))
        redaction.remember(*secrets, *removed)
        intent = self._announce(deploy, effect) if effect is not None else None
        try:
            change = store.apply(changes)
        except BaseException:
            self._close_intent(None, intent, IntentState.ABANDONED)
            raise
        details.append(
            "config: " + ", ".join(f"{'set' if v is not None else 'cleared'} {k}" for k, v in changes.items())
        )
        try:
            self._run_hook(deploy, "restart", details, (*secrets, *removed))
        except HookError as exc:
            change.revert()
            self._close_intent(None, intent, IntentState.UNDONE)
            raise HookError(
                f"{exc.message} The config change was undone; {deploy.name}'s config is as before."
            ) from None
        return intent

    def setting(self, key: str) -> str:
        if key not in SETTINGS:
            raise InvalidInput(f"Unknown setting '{key}': Changeover has {', '.join(sorted(SETTINGS))}.")
        with self._session() as session:
            row = session.scalar(select(Setting).where(Setting.key == key))
            return row.value if row else SETTINGS[key]

    def set_setting(self, key: str, value: str) -> None:
        self.setting(key)
        value = str(parse_whole(value, SETTING_RANGES[key], key))
        with self._audited("set setting", "setting", key) as details, self._session() as session:
            row = session.scalar(select(Setting).where(Setting.key == key))
            if row is None:
                session.add(Setting(key=key, value=value))
            else:
                row.value = value
            session.commit()
            details.append(f"{key}={value}")

    # -- deploys ----------------------------------------------------------------------------------

    def add_deploy(
        self,
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
        with self._audited("add deploy", "deploy", name) as details:
            validate_name(name, "deploy")
            if maintenance_var:
                handles.validate_env_var(maintenance_var)
            check_range(hook_timeout, HOOK_SECONDS, "The hook timeout (seconds)")
            store = EnvFileStore(env_file)
            with self._session() as session:
                if session.scalar(select(Deploy.id).where(Deploy.name == name)) is not None:
                    raise Conflict(f"A deploy named '{name}' already exists: choose another name.")
                if create_env_file and not store.exists():
                    store.create()
                    details.append("created an empty env file")
                store.read()
                stamp = self.clock()
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
                return _deploy_info(deploy)

    def edit_deploy(self, name: str, **changes: Any) -> DeployInfo:
        allowed = {
            "app",
            "environment",
            "env_file",
            "restart_cmd",
            "maintenance_on_cmd",
            "maintenance_off_cmd",
            "maintenance_var",
            "hook_timeout",
            "new_name",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInput(f"Cannot edit {', '.join(sorted(unknown))} of a deploy.")
        with self._audited("edit deploy", "deploy", name) as details, self._session() as session:
            deploy = self._deploy(session, name)
            self.refuse_if_held(session, "edit this deploy", deploy=deploy)
            if changes.get("new_name"):
                validate_name(changes["new_name"], "deploy")
                if session.scalar(select(Deploy.id).where(Deploy.name == changes["new_name"])) is not None:
                    raise Conflict(f"A deploy named '{changes['new_name']}' already exists: choose another name.")
                deploy.name = changes["new_name"]
            if "env_file" in changes and changes["env_file"]:
                if any(a.detached_at is None for a in deploy.attachments):
                    raise Conflict(
                        f"'{name}' has attached resources; detach them before pointing it at another config file.",
                    )
                store = open_store("envfile", changes["env_file"])
                store.read()
                deploy.config_location = store.location
            if changes.get("maintenance_var"):
                handles.validate_env_var(changes["maintenance_var"])
            if "hook_timeout" in changes and changes["hook_timeout"] is not None:
                check_range(int(changes["hook_timeout"]), HOOK_SECONDS, "The hook timeout (seconds)")
                deploy.hook_timeout = int(changes["hook_timeout"])
            for key in ("app", "environment"):
                if changes.get(key) is not None:
                    setattr(deploy, key, changes[key])
            for key in ("restart_cmd", "maintenance_on_cmd", "maintenance_off_cmd", "maintenance_var"):
                if key in changes and changes[key] is not None:
                    setattr(deploy, key, changes[key] or None)
            deploy.updated_at = self.clock()
            session.commit()
            details.append("changed " + ", ".join(sorted(changes)))
            return _deploy_info(deploy)

    def remove_deploy(self, name: str) -> None:
        with self._audited("remove deploy", "deploy", name), self._session() as session:
            deploy = self._deploy(session, name)
            self.refuse_if_held(session, "remove this deploy", deploy=deploy)
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

    def list_deploys(self) -> list[DeployInfo]:
        with self._session() as session:
            rows = session.scalars(select(Deploy).order_by(Deploy.app, Deploy.environment, Deploy.name))
            return [_deploy_info(d) for d in rows]

    def show_deploy(self, name: str) -> DeployInfo:
        with self._session() as session:
            return _deploy_info(self._deploy(session, name))

    def deploy_config(self, name: str) -> list[ConfigVar]:
        """The deploy's config variables for display: handles and secret-looking values masked."""
        with self._session() as session:
            deploy = self._deploy(session, name)
            by_var = {a.env_var: a.resource.name for a in deploy.attachments if a.detached_at is None}
            store = self._store(deploy)
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

    def restart(self, name: str) -> None:
        with self._audited("restart", "deploy", name) as details, self._session() as session:
            self._run_hook(self._deploy(session, name), "restart", details)

    def set_maintenance(self, name: str, on: bool) -> None:
        """Maintenance on or off: the deploy's command, or its flag variable followed by a restart."""
        which = "maintenance on" if on else "maintenance off"
        with self._audited(which, "deploy", name) as details, self._session() as session:
            deploy = self._deploy(session, name)
            if deploy.maintenance_on_cmd if on else deploy.maintenance_off_cmd:
                self._run_hook(deploy, which, details)
            elif deploy.maintenance_var:
                self._change_config(deploy, {deploy.maintenance_var: "1" if on else None}, details)
            else:
                raise Conflict(
                    f"'{name}' has no maintenance hook: set --maintenance-on-cmd/--maintenance-off-cmd or "
                    "--maintenance-var with `changeover deploy edit`.",
                )

    # -- resources --------------------------------------------------------------------------------

    def register_resource(self, name: str, handle_text: str, *, kind: str | None = None) -> ResourceInfo:
        """Register a resource from its handle; its secret goes to the keyring, the rest to the inventory."""
        with self._audited("register", "resource", name) as details:
            validate_name(name, "resource")
            handle = handles.parse(handle_text, kind=kind)
            with self._session() as session:
                self._check_free_name(session, name)
                resource = self._new_resource(session, name, handle)
                session.commit()
                details.append(f"{handle.kind} {handle.masked()}")
                return _resource_info(resource)

    def _check_free_name(self, session: Session, name: str) -> None:
        existing = session.scalar(select(Resource).where(Resource.name == name))
        if existing is not None:
            extra = " (kept for history after it was deprovisioned)" if existing.state == "deprovisioned" else ""
            raise Conflict(f"A resource named '{name}' already exists{extra}: choose another name.")

    def _new_resource(
        self,
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
        stamp = self.clock()
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

    def set_resource_secret(self, name: str, handle_text: str) -> ResourceInfo:
        """Replace a resource's handle secret (same kind); attached deploys are not rewritten by this."""
        with self._audited("replace secret", "resource", name) as details, self._session() as session:
            resource = self._resource(session, name)
            self.refuse_if_held(session, "replace its secret", resource=resource)
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
            resource.updated_at = self.clock()
            session.commit()
            details.append("secret replaced in the keyring")
            return _resource_info(resource)

    def list_resources(self, state: str | None = None) -> list[ResourceInfo]:
        """Resources in ``state``; by default every one that is not deprovisioned; ``all`` for every one."""
        with self._session() as session:
            query = select(Resource).order_by(Resource.name)
            if state in (None, ""):
                query = query.where(Resource.state != ResourceState.DEPROVISIONED.value)
            elif state != "all":
                if state not in {s.value for s in ResourceState}:
                    raise InvalidInput(
                        f"Unknown state '{state}': use all, {', '.join(s.value for s in ResourceState)}.",
                    )
                query = query.where(Resource.state == state)
            return [_resource_info(r) for r in session.scalars(query)]

    def show_resource(self, name: str) -> ResourceInfo:
        with self._session() as session:
            return _resource_info(self._resource(session, name))

    # -- attach, detach, deprovision --------------------------------------------------------------

    def attach(
        self, resource_name: str, deploy_name: str, env_var: str | None = None, *, replace: bool = False
    ) -> AttachmentInfo:
        """Write the resource's full handle into the deploy's config under ``env_var``, then restart it.

        The deploy's config stays locked from the first check to the inventory commit, so concurrent
        changes to one deploy happen one after the other and every one of them lands.
        """
        with self._audited("attach", "resource", resource_name) as details:
            store = self._deploy_store(deploy_name)
            with store.locked(), self._session() as session:
                resource = self._resource(session, resource_name)
                deploy = self._deploy(session, deploy_name)
                default_var = handles.DEFAULT_ENV_VAR[resource.kind]
                var = handles.validate_env_var(default_var if env_var is None else env_var)
                details.append(f"to {deploy.name} as {var}")
                if resource.state in (ResourceState.DEPROVISIONED, ResourceState.FAILED):
                    raise Conflict(f"'{resource.name}' is {resource.state} and cannot be attached.")
                self.refuse_if_held(session, "attach it", resource=resource)
                active = [a for a in deploy.attachments if a.detached_at is None]
                if any(a.resource_id == resource.id and a.env_var == var for a in active):
                    raise Conflict(f"'{resource.name}' is already attached to {deploy.name} as {var}.")
                displaced = [a for a in active if a.env_var == var]
                for old in displaced:
                    self.refuse_if_held(session, f"replace {var}", resource=old.resource)
                in_config = var in store.read()
                if (displaced or in_config) and not replace:
                    holder = f"by '{displaced[0].resource.name}'" if displaced else "in its config"
                    raise Conflict(
                        f"{var} is already in use on {deploy.name} ({holder}): choose another variable with "
                        "--as, or replace it with --replace.",
                    )
                handle = self._full_handle(resource)
                store.check_writable()
                intent = self._change_config(
                    deploy,
                    {var: handle.full()},
                    details,
                    tuple(handle.secrets.values()),
                    effect={"op": "attach", "resource": resource.name, "var": var},
                )
                attachment = self._record_attach(session, deploy, resource, var, details)
                self._close_intent(session, intent, IntentState.DONE)
                session.commit()
                return _attachment_info(attachment)

    def _record_attach(
        self, session: Session, deploy: Deploy, resource: Resource, var: str, details: list[str]
    ) -> Attachment:
        """The inventory side of an attach whose config write is done: the same for attach and recovery."""
        stamp = self.clock()
        for old in [a for a in deploy.attachments if a.detached_at is None and a.env_var == var]:
            old.detached_at = stamp
            self._mark_detached_if_free(old.resource, stamp, exclude=old)
            details.append(f"replaced {old.resource.name}")
        attachment = Attachment(deploy=deploy, resource=resource, env_var=var, attached_at=stamp)
        session.add(attachment)
        resource.state = ResourceState.ATTACHED.value
        resource.keep_until = None
        resource.detached_at = None
        resource.updated_at = stamp
        return attachment

    def _retention(self) -> timedelta:
        return timedelta(days=int(self.setting("retention_days")))

    def _mark_detached_if_free(
        self, resource: Resource, stamp: datetime, *, exclude: Attachment | None = None, keep_days: int | None = None
    ) -> None:
        still = [a for a in resource.attachments if a.detached_at is None and a is not exclude]
        if still:
            return
        resource.state = ResourceState.DETACHED.value
        resource.detached_at = stamp
        resource.keep_until = stamp + (timedelta(days=keep_days) if keep_days else self._retention())
        resource.updated_at = stamp

    def detach(self, resource_name: str, deploy_name: str, *, keep_days: int | None = None) -> ResourceInfo:
        """Clear the variable from the deploy's config and restart it; the resource is kept, detached."""
        if keep_days is not None:
            check_range(keep_days, DAYS, "The days to keep a detached resource")
        with self._audited("detach", "resource", resource_name) as details:
            store = self._deploy_store(deploy_name)
            with store.locked(), self._session() as session:
                resource = self._resource(session, resource_name)
                deploy = self._deploy(session, deploy_name)
                current = [a for a in resource.attachments if a.detached_at is None and a.deploy_id == deploy.id]
                if not current:
                    raise Conflict(f"'{resource.name}' is not attached to {deploy.name}.")
                self.refuse_if_held(session, "detach it", resource=resource)
                variables = sorted({a.env_var for a in current})
                intent = self._change_config(
                    deploy,
                    dict.fromkeys(variables),
                    details,
                    effect={"op": "detach", "resource": resource.name, "vars": variables, "keep_days": keep_days},
                )
                self._record_detach(session, deploy, resource, keep_days, details)
                self._close_intent(session, intent, IntentState.DONE)
                session.commit()
                return _resource_info(resource)

    def _record_detach(
        self, session: Session, deploy: Deploy, resource: Resource, keep_days: int | None, details: list[str]
    ) -> None:
        """The inventory side of a detach whose config write is done: the same for detach and recovery."""
        stamp = self.clock()
        for attachment in resource.attachments:
            if attachment.detached_at is None and attachment.deploy_id == deploy.id:
                attachment.detached_at = stamp
                details.append(f"from {deploy.name} ({attachment.env_var})")
        self._mark_detached_if_free(resource, stamp, keep_days=keep_days)

    # -- config changes a crash interrupted ---------------------------------------------------------

    def _announce(self, deploy: Deploy, effect: dict[str, object]) -> int:
        """Record, in its own committed transaction, the config change about to be written."""
        with self._session() as session:
            intent = ConfigIntent(
                deploy_id=deploy.id,
                effect=effect,
                state=IntentState.PENDING.value,
                owner=owner_id(self.actor),
                created_at=self.clock(),
            )
            session.add(intent)
            session.commit()
            return intent.id

    def _close_intent(self, session: Session | None, intent_id: int | None, state: IntentState) -> None:
        """Mark an intent finished: in ``session`` (committed with the inventory change) or on its own."""
        if intent_id is None:
            return
        if session is None:
            with suppress(ChangeoverError, SQLAlchemyError), self._session() as own:
                self._close_intent(own, intent_id, state)
                own.commit()
            return
        intent = session.get(ConfigIntent, intent_id)
        if intent is not None:
            intent.state = state.value
            intent.finished_at = self.clock()

    def recover(self) -> list[str]:
        """Finish or drop every config change a stopped Changeover announced but did not record.

        A change whose file write happened is finished (the inventory records it, the deploy is restarted);
        one that never reached the file is dropped. Changes still being made by a live process are left
        alone. Returns one line per change dealt with; each also goes to the audit trail. Leftovers of a
        killed Changeover (credential files of its tools, partial backup folders) are removed first.
        """
        from . import paths
        from .transfer.backup import clean_partials

        for leftover in [*paths.clean_private_runtime(), *clean_partials()]:
            logger.info("removed %s, left by a Changeover that was stopped", leftover)
        with self._session() as session:
            pending = [
                (i.id, i.owner, i.created_at)
                for i in session.scalars(
                    select(ConfigIntent)
                    .where(ConfigIntent.state == IntentState.PENDING.value)
                    .order_by(ConfigIntent.id)
                )
            ]
        outcomes: list[str] = []
        for intent_id, owner, created_at in pending:
            if owner_alive(owner, since=created_at, now=self.clock()):
                continue
            try:
                outcomes.append(self._recover_intent(intent_id))
            except ChangeoverError as exc:
                logger.warning("config change %s could not be recovered yet: %s", intent_id, exc.message)
        return outcomes

    def _recover_intent(self, intent_id: int) -> str:
        with self._session() as session:
            intent = session.get(ConfigIntent, intent_id)
            if intent is None:
                return ""
            deploy_name = intent.deploy.name
        store = self._deploy_store(deploy_name)
        details: list[str] = [f"interrupted config change {intent_id}"]
        with store.locked(), self._session() as session:
            intent = session.get(ConfigIntent, intent_id)
            if intent is None or intent.state != IntentState.PENDING:
                return ""
            deploy = intent.deploy
            effect = dict(intent.effect)
            op = str(effect.get("op"))
            resource = self._resource(session, str(effect.get("resource")))
            values = store.read()
            if op == "attach":
                var = str(effect["var"])
                written = values.get(var) == self._full_handle(resource).full()
            else:
                variables = [str(v) for v in effect.get("vars", []) or []]  # type: ignore[attr-defined]
                written = not any(v in values for v in variables)
            if written:
                if op == "attach":
                    self._record_attach(session, deploy, resource, str(effect["var"]), details)
                else:
                    keep = effect.get("keep_days")
                    self._record_detach(session, deploy, resource, int(str(keep)) if keep else None, details)
                intent.state = IntentState.DONE.value
                outcome = f"finished {op} of {resource.name} on {deploy_name}: the config already held the change"
            else:
                intent.state = IntentState.ABANDONED.value
                outcome = f"dropped {op} of {resource.name} on {deploy_name}: the config never received the change"
            intent.finished_at = self.clock()
            session.commit()
            if written:
                try:
                    self._run_hook(deploy, "restart", details)
                except HookError as exc:
                    details.append(f"the restart after recovery failed: {exc.message}")
        self.audit(f"recover {op}", "resource", resource.name, "ok", "; ".join([outcome, *details]))
        return outcome

    def set_keep_until(self, resource_name: str, keep_until: datetime) -> ResourceInfo:
        with self._audited("keep until", "resource", resource_name) as details, self._session() as session:
            resource = self._resource(session, resource_name)
            if resource.state != ResourceState.DETACHED:
                raise Conflict(
                    f"'{resource.name}' is {resource.state}; only detached resources have a keep-until date."
                )
            resource.keep_until = keep_until
            session.commit()
            details.append(keep_until.isoformat())
            return _resource_info(resource)

    def deprovision(self, resource_name: str, confirm: str) -> ResourceInfo:
        """Forget a resource (and, for provider-made ones, drop it). Refused while attached anywhere."""
        with self._audited("deprovision", "resource", resource_name) as details, self._session() as session:
            resource = self._resource(session, resource_name)
            if confirm != resource.name:
                raise InvalidInput(
                    f"The confirmation does not match: type the resource's name, {resource.name}, to deprovision it.",
                )
            active = [a for a in resource.attachments if a.detached_at is None]
            if active:
                where = ", ".join(f"{a.deploy.name} as {a.env_var}" for a in active)
                raise Conflict(
                    f"'{resource.name}' is attached to {where}: detach it first "
                    f"(changeover detach {resource.name} {active[0].deploy.name}).",
                )
            if resource.state == ResourceState.DEPROVISIONED:
                raise Conflict(f"'{resource.name}' is already deprovisioned.")
            self.refuse_if_held(session, "deprovision it", resource=resource)
            if resource.origin == Origin.PROVISIONED:
                self._drop_provisioned(resource, details)
            if resource.secret_ref:
                keyring_secrets.delete(resource.secret_ref)
                resource.secret_ref = None
                details.append("secrets deleted from the keyring")
            stamp = self.clock()
            resource.state = ResourceState.DEPROVISIONED.value
            resource.deprovisioned_at = stamp
            resource.keep_until = None
            resource.updated_at = stamp
            session.commit()
            return _resource_info(resource)

    def _drop_provisioned(self, resource: Resource, details: list[str]) -> None:
        from .provisioning import drop_provisioned  # lazy: providers and transfer load only when needed

        drop_provisioned(self, resource, details)

    # -- import -----------------------------------------------------------------------------------

    def import_deploy(
        self,
        name: str,
        env_file: str,
        **deploy_options: Any,
    ) -> ImportResult:
        """Add a deploy from an existing ``.env`` and register and attach the resources it already uses.

        A variable becomes a resource when its value is a handle of a known non-web scheme, an http(s)
        URL that carries a key under a ``*_URL`` name, or a bare key under a ``*_API_KEY`` name. The
        config file is not rewritten: the variables already hold their handles.
        """
        with self._audited("import deploy", "deploy", name) as details:
            validate_name(name, "deploy")
            store = open_store("envfile", env_file)
            found: list[tuple[str, handles.Handle]] = []
            skipped: list[tuple[str, str]] = []
            for var, value in store.read().items():
                handle = _recognise(var, value)
                if handle is not None:
                    found.append((var, handle))
            deploy_info = self.add_deploy(name, env_file, **deploy_options)
            stored_refs: list[str] = []
            attached: list[tuple[str, str]] = []
            try:
                with self._session() as session:
                    deploy = self._deploy(session, name)
                    stamp = self.clock()
                    for var, handle in found:
                        resource = self._find_same(session, handle)
                        if resource is None:
                            resource_name = self._free_name(session, f"{name}-{var.lower().replace('_', '-')}")
                            resource = self._new_resource(session, resource_name, handle)
                            if resource.secret_ref:
                                stored_refs.append(resource.secret_ref)
                        session.add(Attachment(deploy=deploy, resource=resource, env_var=var, attached_at=stamp))
                        resource.state = ResourceState.ATTACHED.value
                        resource.keep_until = None
                        attached.append((var, resource.name))
                    session.commit()
                    deploy_info = _deploy_info(deploy)
            except BaseException:
                for ref in stored_refs:
                    keyring_secrets.delete(ref)
                with self._session() as session:
                    session.delete(self._deploy(session, name))
                    session.commit()
                raise
            details.extend(f"{var} -> {res}" for var, res in attached)
            return ImportResult(deploy_info, tuple(attached), tuple(skipped))

    def _find_same(self, session: Session, handle: handles.Handle) -> Resource | None:
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
            if stored is not None and _stored_handle(candidate).with_secrets(stored).secrets == handle.secrets:
                return candidate
        return None

    def _free_name(self, session: Session, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9._-]", "-", base)[:90]
        name, n = base, 2
        while session.scalar(select(Resource.id).where(Resource.name == name)) is not None:
            name, n = f"{base}-{n}", n + 1
        return name

    # -- audit ------------------------------------------------------------------------------------

    def events(self, object_name: str | None = None, limit: int = 200) -> list[EventInfo]:
        check_range(limit, EVENT_LIMIT, "The number of events")
        with self._session() as session:
            query = select(Event).order_by(Event.at.desc(), Event.id.desc()).limit(limit)
            if object_name:
                query = query.where(Event.object_name == object_name)
            return [_event_info(e) for e in session.scalars(query)]

    # -- overview (added for the GUI's main window) -----------------------------------------------

    def overview(self) -> tuple[list[DeployInfo], list[ResourceInfo]]:
        """Every deploy and every resource (deprovisioned ones too), read with eager loading.

        The same results as :meth:`list_deploys` and ``list_resources("all")``, without one query per
        attachment: about three times faster on a large inventory (2,000 deploys, 10,000 resources).
        """
        from sqlalchemy.orm import selectinload

        with self._session() as session:
            deploys = session.scalars(
                select(Deploy)
                .order_by(Deploy.app, Deploy.environment, Deploy.name)
                .options(selectinload(Deploy.attachments).selectinload(Attachment.resource))
            )
            deploy_infos = [_deploy_info(d) for d in deploys]
            resources = session.scalars(
                select(Resource)
                .order_by(Resource.name)
                .options(
                    selectinload(Resource.attachments).selectinload(Attachment.deploy),
                    selectinload(Resource.server),
                )
            )
            return deploy_infos, [_resource_info(r) for r in resources]


def _recognise(var: str, value: str) -> handles.Handle | None:
    """The handle in one config variable, if it holds one (see :meth:`Workspace.import_deploy`)."""
    if not value:
        return None
    upper = var.upper()
    if upper.endswith("API_KEY") and "://" not in value:
        return handles.parse(value, kind=handles.APIKEY)
    try:
        handle = handles.parse(value)
    except handles.HandleError:
        return None
    if handle.kind == "http":
        return handle if upper.endswith("_URL") and handle.secrets else None
    return handle
