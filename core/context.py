"""The kernel every use case stands on: sessions, the audit trail, lookups, secrets, config changes and hooks.

A :class:`Context` is one inventory and the admin acting on it. Use-case modules (:mod:`.deploys`,
:mod:`.resources`, :mod:`.attachments`, :mod:`.servers`, :mod:`.backups`, :mod:`.audit`) take it as their
first argument; :class:`~changeover.core.workspace.Workspace` gathers them for the faces.

Order of work in every change: validate everything (names, states, keyring, config file), announce the
change, write the deploy's config, run its hook, then commit the inventory; a failure undoes what was
done before it, so bad input changes nothing. Every action, failed or not, leaves a row in the audit trail.
"""

from __future__ import annotations

import getpass
import logging
import math
import os
import re
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Self

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from . import handles, hooks, paths, redaction
from .errors import ChangeoverError, Conflict, HookError, InvalidInput, InventoryError, NotFound
from .inventory.models import (
    RUN_TERMINAL_STATES,
    ConfigIntent,
    Deploy,
    Event,
    IntentState,
    Resource,
    Setting,
    UpgradeRun,
)
from .records import DeployInfo, stored_handle

if TYPE_CHECKING:  # the keyring, the config stores (boto3) and Alembic load when first used, not with the kernel
    from .configstores import ConfigStore
    from .inventory.db import Inventory

logger = logging.getLogger(__name__)


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
DEFAULT_RETENTION_DAYS = 7
DEFAULT_ENV_BACKUPS = 5
DEFAULT_SECRET_WARN_DAYS = 90
SETTINGS: dict[str, str] = {
    "retention_days": str(DEFAULT_RETENTION_DAYS),
    "env_backups": str(DEFAULT_ENV_BACKUPS),
    "secret_warn_days": str(DEFAULT_SECRET_WARN_DAYS),  # a secret unchanged for longer is marked old
    "backup_keep": "5",  # prune keeps at least this many backups per resource
    "backup_keep_days": "14",  # and every backup younger than this
    "health_interval_minutes": "5",  # how often the window re-checks the attached resources
    "secret_store": "keyring",  # or aws:REGION/PREFIX (AWS Secrets Manager): see `changeover secret-store`
    "backup_bucket": "none",  # or an S3 resource every backup is copied to: see `changeover offsite`
}
#: settings that are not numbers, changed by their own command (which checks and does more than store them)
OWN_COMMAND = {
    "secret_store": "changeover secret-store use keyring|aws:REGION[/PREFIX]` (it moves the secrets too)",
    "backup_bucket": "changeover offsite use RESOURCE|none` (it checks the bucket first)",
}

#: the ranges every number a user gives must fall in (checked at the edge, before anything changes)
DAYS = (1, 36_500)
HOOK_SECONDS = (1, 86_400)
QUIET_SECONDS = (0.0, 86_400.0)
EVENT_LIMIT = (1, 100_000)
ENV_BACKUPS = (0, 100)
SETTING_RANGES: dict[str, tuple[int, int]] = {
    "retention_days": DAYS,
    "env_backups": ENV_BACKUPS,
    "secret_warn_days": DAYS,
    "backup_keep": (1, 1000),
    "backup_keep_days": (0, 36_500),
    "health_interval_minutes": (1, 1440),
}
_SECRETISH_VAR = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIALS?)$", re.I)


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
    return paths.pid_alive(pid)


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


def change(field: str, old: object, new: object, *, secret: bool = False) -> str:
    """One edit in words for the audit trail: ``field: 'old' → 'new'``; a secret shows only that it changed,
    and any secret in a value (a password in a URL, one this process handled) is masked."""
    if secret:
        return f"{field}: {redaction.MASK} → {redaction.MASK} (changed)"

    def shown(value: object) -> str:
        return "(none)" if value is None or value == "" else repr(redaction.redact(str(value)))

    return f"{field}: {shown(old)} → {shown(new)}"


class Context:
    """The kernel over one inventory. Thread-safe: every call opens and closes its own session."""

    def __init__(self, inventory: Inventory, *, actor: str | None = None, clock: Callable[[], datetime] = now) -> None:
        self.inventory = inventory
        self.actor = actor or _actor()
        self.clock = clock
        self._secret_store: object = None
        self.bind_secret_store()

    @classmethod
    def open(cls, url: str | None = None) -> Self:
        from .inventory.db import Inventory

        return cls(Inventory(url))

    def close(self) -> None:
        from . import secrets as keyring_secrets

        if self._secret_store is not None:
            previous = keyring_secrets.bind_inventory_store(None)
            if previous is not self._secret_store:  # another inventory opened since: its store stays
                keyring_secrets.bind_inventory_store(previous)
        self.inventory.close()

    def bind_secret_store(self) -> None:
        """Keep secrets where this inventory's ``secret_store`` setting says (the OS keyring by default)."""
        from . import secrets as keyring_secrets
        from .teamsecrets import store_for  # the team store builds on this kernel

        store = store_for(self.setting("secret_store"))
        self._secret_store = store
        keyring_secrets.bind_inventory_store(store)

    @contextmanager
    def session(self) -> Iterator[Session]:
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
        with self.session() as session:
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
    def audited(self, action: str, object_type: str, object_name: str) -> Iterator[list[str]]:
        """Record the action's outcome: ``ok`` with the details the body appends, or ``failed`` with why."""
        details: list[str] = []
        try:
            yield details
        except ChangeoverError as exc:
            if not isinstance(exc, InventoryError):  # with the inventory gone there is nowhere to write it
                self.audit(action, object_type, object_name, "failed", "; ".join([*details, exc.message]))
            raise
        self.audit(action, object_type, object_name, "ok", "; ".join(details))

    def deploy(self, session: Session, name: str) -> Deploy:
        deploy = session.scalar(select(Deploy).where(Deploy.name == name))
        if deploy is None:
            raise NotFound(f"No deploy named '{name}': see `changeover deploy list`.")
        return deploy

    def resource(self, session: Session, name: str) -> Resource:
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

    def resolve_handle(self, resource: Resource) -> handles.Handle:
        """The resource's complete handle, its secrets fetched from the keyring."""
        from . import secrets as keyring_secrets

        handle = stored_handle(resource)
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
        with self.session() as session:
            return self.resolve_handle(self.resource(session, resource_name)).full()

    def store(self, deploy: Deploy | DeployInfo) -> ConfigStore:
        """The deploy's config store, keeping as many earlier versions as the ``env_backups`` setting says."""
        from .configstores import open_store

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

    def run_hook(self, deploy: Deploy, which: str, details: list[str], extra: tuple[str, ...] = ()) -> None:
        command = {
            "restart": deploy.restart_cmd,
            "maintenance on": deploy.maintenance_on_cmd,
            "maintenance off": deploy.maintenance_off_cmd,
        }[which]
        if not command:
            return
        store = self.store(deploy)
        parent = str(getattr(store, "path", None).parent) if getattr(store, "path", None) else None  # type: ignore[union-attr]
        # Under the config's lock (re-entrant: a change that holds it keeps it): two hooks of one deploy,
        # a restart after an attach and an upgrade's maintenance on, say, never run at the same time.
        with store.locked():
            result = hooks.run_hook(
                which,
                command,
                timeout=deploy.hook_timeout,
                cwd=parent,
                secrets=[*self._config_secrets(store), *extra],
            )
        details.append(result.summary())

    def deploy_store(self, deploy_name: str) -> ConfigStore:
        """The config store of a deploy, looked up in a short session of its own (to lock it first)."""
        with self.session() as session:
            return self.store(self.deploy(session, deploy_name))

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

    def change_config(
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
        store = self.store(deploy)
        removed = tuple(self._replaced_secrets(store, changes))
        redaction.remember(*secrets, *removed)
        intent = self.announce(deploy, effect) if effect is not None else None
        try:
            change = store.apply(changes)
        except BaseException:
            self.close_intent(None, intent, IntentState.ABANDONED)
            raise
        details.append(
            "config: " + ", ".join(f"{'set' if v is not None else 'cleared'} {k}" for k, v in changes.items())
        )
        try:
            self.run_hook(deploy, "restart", details, (*secrets, *removed))
        except HookError as exc:
            change.revert()
            self.close_intent(None, intent, IntentState.UNDONE)
            raise HookError(
                f"{exc.message} The config change was undone; {deploy.name}'s config is as before."
            ) from None
        return intent

    def announce(self, deploy: Deploy, effect: dict[str, object]) -> int:
        """Record, in its own committed transaction, the config change about to be written."""
        with self.session() as session:
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

    def close_intent(self, session: Session | None, intent_id: int | None, state: IntentState) -> None:
        """Mark an intent finished: in ``session`` (committed with the inventory change) or on its own."""
        if intent_id is None:
            return
        if session is None:
            with suppress(ChangeoverError, SQLAlchemyError), self.session() as own:
                self.close_intent(own, intent_id, state)
                own.commit()
            return
        intent = session.get(ConfigIntent, intent_id)
        if intent is not None:
            intent.state = state.value
            intent.finished_at = self.clock()

    def setting(self, key: str) -> str:
        if key not in SETTINGS:
            raise InvalidInput(f"Unknown setting '{key}': Changeover has {', '.join(sorted(SETTINGS))}.")
        with self.session() as session:
            row = session.scalar(select(Setting).where(Setting.key == key))
            return row.value if row else SETTINGS[key]

    def set_setting(self, key: str, value: str) -> None:
        self.setting(key)
        if key in OWN_COMMAND:
            raise InvalidInput(f"The setting {key} is changed with `{OWN_COMMAND[key]}.")
        value = str(parse_whole(value, SETTING_RANGES[key], key))
        with self.audited("set setting", "setting", key) as details:
            old = self.setting(key)
            self.write_setting(key, value)
            details.append(f"{key}={value}")
            details.append(change(key, old, value))

    def write_setting(self, key: str, value: str) -> None:
        """Keep ``value`` for ``key`` (already checked by the caller), in a transaction of its own."""
        with self.session() as session:
            row = session.scalar(select(Setting).where(Setting.key == key))
            if row is None:
                session.add(Setting(key=key, value=value))
            else:
                row.value = value
            session.commit()

    def retention(self) -> timedelta:
        return timedelta(days=int(self.setting("retention_days")))
