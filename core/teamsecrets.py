"""The team secret store: AWS Secrets Manager instead of the OS keyring, named once per inventory.

A team that shares one inventory (on a PostgreSQL server) names the store with
``changeover secret-store use aws:REGION[/PREFIX]``; the inventory's ``secret_store`` setting then says
``aws:eu-west-1/changeover``, and every admin's Changeover over that inventory keeps and reads the
secrets there, under its own AWS identity (profile, SSO, instance role: the standard chain), so a second
admin never types them again. Each secret is one Secrets Manager secret named ``PREFIX/<key>`` (the key's
``:`` become ``/``: ``changeover/resource/orders-db/1a2b3c4d``), tagged ``changeover``. A deleted secret
is scheduled for deletion with AWS's 7-day recovery window.

Changing the store moves the inventory's secrets by default: each is copied, read back and compared,
then the setting changes, then the copies left behind are deleted (``keep_old`` keeps them). A failed
copy undoes the copies already made and changes nothing. When AWS cannot be reached or denies access,
every action that needs a secret fails with the reason; nothing falls back to the keyring or to memory.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import keyring.errors
from sqlalchemy import select

from . import secrets as keyring_secrets
from .context import Context
from .errors import ChangeoverError, Conflict, InvalidInput, KeyringUnavailable
from .inventory.models import Resource, Server

logger = logging.getLogger(__name__)

SETTING = "secret_store"
KEYRING = "keyring"
DEFAULT_PREFIX = "changeover"
RECOVERY_DAYS = 7
_PREFIX = re.compile(r"[A-Za-z0-9_+=.@-]+(/[A-Za-z0-9_+=.@-]+)*")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
_PERMISSION = "secretsmanager:{}"


@dataclass(frozen=True)
class Where:
    """A Secrets Manager store: region and the prefix of every secret's name."""

    region: str
    prefix: str = DEFAULT_PREFIX

    def __str__(self) -> str:
        return f"aws:{self.region}/{self.prefix}"


def parse(text: str) -> Where | None:
    """``aws:REGION[/PREFIX]`` as a :class:`Where`, ``keyring`` as None; anything else is refused in words."""
    text = text.strip()
    if text == KEYRING:
        return None
    if not text.startswith("aws:"):
        raise InvalidInput(
            f"'{text}' is not a secret store: give keyring, or aws:REGION[/PREFIX] (aws:eu-west-1/team)."
        )
    region, _, prefix = text[4:].partition("/")
    if not _REGION.fullmatch(region):
        raise InvalidInput(f"'{region}' is not an AWS region: give one such as eu-west-1 (aws:eu-west-1/team).")
    prefix = prefix or DEFAULT_PREFIX
    if not _PREFIX.fullmatch(prefix) or len(prefix) > 200:
        raise InvalidInput(
            f"The prefix '{prefix}' may hold letters, digits and _+=.@- between single slashes (aws:eu-west-1/team).",
        )
    return Where(region, prefix)


class AwsSecretsStore:
    """Secrets in AWS Secrets Manager: keyring's three calls (:class:`~changeover.core.secrets.SecretStore`).

    Its methods import :mod:`.aws` (and so boto3) when called: a command that never uses a team store, most
    of them, starts without it."""

    team = True  # a store the inventory names, not this machine's keyring

    def __init__(self, where: Where, *, profile: str | None = None) -> None:
        self.where = where
        self.profile = profile
        self.name = f"AWS Secrets Manager ({where.region}, {where.prefix}/)"
        self._client: Any = None

    def __repr__(self) -> str:
        return f"AwsSecretsStore({str(self.where)!r})"

    @property
    def client(self) -> Any:
        from . import aws

        if self._client is None:
            self._client = aws.client("secretsmanager", self.where.region, self.profile)
        return self._client

    def secret_id(self, service: str, username: str) -> str:
        key = username.replace(":", "/")
        return (
            f"{self.where.prefix}/{key}"
            if service == keyring_secrets.SERVICE
            else f"{self.where.prefix}/{service}/{key}"
        )

    def _doing(self, what: str) -> str:
        return f"{what} in {self.name}"

    def get_password(self, service: str, username: str) -> str | None:
        from . import aws

        name = self.secret_id(service, username)
        with aws.translated(self._doing(f"read the secret {name}"), _PERMISSION.format("GetSecretValue")):
            try:
                found = self.client.get_secret_value(SecretId=name)
            except Exception as exc:
                # not there, or scheduled for deletion: no secret, as the keyring says for a missing one
                if aws.error_code(exc) in {"ResourceNotFoundException", "InvalidRequestException"}:
                    return None
                raise
        value = found.get("SecretString")
        return str(value) if value is not None else None

    def set_password(self, service: str, username: str, password: str) -> None:
        from . import aws

        name = self.secret_id(service, username)
        with aws.translated(self._doing(f"look up the secret {name}"), _PERMISSION.format("DescribeSecret")):
            try:
                found = self.client.describe_secret(SecretId=name)
            except Exception as exc:
                if aws.error_code(exc) != "ResourceNotFoundException":
                    raise
                found = None
        if found is None:
            with aws.translated(self._doing(f"create the secret {name}"), _PERMISSION.format("CreateSecret")):
                self.client.create_secret(
                    Name=name,
                    SecretString=password,
                    Description="Kept by Changeover for a resource or server of a shared inventory",
                    Tags=[{"Key": "changeover", "Value": self.where.prefix}],
                )
            return
        if found.get("DeletedDate"):  # scheduled for deletion: bring it back before writing
            with aws.translated(self._doing(f"restore the secret {name}"), _PERMISSION.format("RestoreSecret")):
                self.client.restore_secret(SecretId=name)
        with aws.translated(self._doing(f"store the secret {name}"), _PERMISSION.format("PutSecretValue")):
            self.client.put_secret_value(SecretId=name, SecretString=password)

    def delete_password(self, service: str, username: str) -> None:
        from . import aws

        name = self.secret_id(service, username)
        with aws.translated(self._doing(f"delete the secret {name}"), _PERMISSION.format("DeleteSecret")):
            try:
                self.client.delete_secret(SecretId=name, RecoveryWindowInDays=RECOVERY_DAYS)
            except Exception as exc:
                if aws.error_code(exc) in {"ResourceNotFoundException", "InvalidRequestException"}:
                    raise keyring.errors.PasswordDeleteError(username) from None
                raise


def store_for(text: str) -> AwsSecretsStore | None:
    """The store a ``secret_store`` setting names (None for the OS keyring)."""
    where = parse(text)
    return AwsSecretsStore(where) if where is not None else None


# -- use cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretStoreInfo:
    """Where the inventory's secrets are kept, for the faces."""

    setting: str  # keyring | aws:REGION/PREFIX
    name: str  # in words: "GNOME Keyring / Secret Service", "AWS Secrets Manager (eu-west-1, team/)"
    usable: bool
    message: str
    secrets: int  # how many secrets the inventory refers to
    moved: int = 0  # by the change just made
    left_behind: int = 0  # copies kept in the previous store (keep_old)


def _refs(ctx: Context) -> list[str]:
    """Every keyring key the inventory refers to (resources and servers)."""
    with ctx.session() as session:
        found = [
            *session.scalars(select(Resource.secret_ref).where(Resource.secret_ref.is_not(None))),
            *session.scalars(select(Server.secret_ref).where(Server.secret_ref.is_not(None))),
        ]
    return sorted({str(ref) for ref in found if ref})


def secret_store_info(ctx: Context) -> SecretStoreInfo:
    status = keyring_secrets.status()
    return SecretStoreInfo(ctx.setting(SETTING), status.name, status.usable, status.message, len(_refs(ctx)))


def use_secret_store(ctx: Context, target: str, *, move: bool = True, keep_old: bool = False) -> SecretStoreInfo:
    """Keep this inventory's secrets in ``target`` (``keyring`` or ``aws:REGION[/PREFIX]``) from now on.

    With ``move`` every secret is copied to the new store and checked there before the setting changes,
    then deleted from the old one unless ``keep_old``; without it, the new store must already hold them
    all. Nothing changes when any step before the setting fails.
    """
    where = parse(target)
    text = str(where) if where is not None else KEYRING
    with ctx.audited("set secret store", "setting", SETTING) as details:
        current = ctx.setting(SETTING)
        if current == text:
            raise Conflict(f"The inventory's secrets are already kept in {text}.")
        old = keyring_secrets.backend()
        new: keyring_secrets.SecretStore = AwsSecretsStore(where) if where is not None else keyring_secrets.os_keyring()
        new.get_password(keyring_secrets.SERVICE, "changeover-check")  # reachable and allowed, or refused now
        refs = _refs(ctx)
        try:
            copied = _copy(old, new, refs) if move else []
        except ChangeoverError:
            raise
        except Exception as exc:  # the OS keyring fails in its own ways (locked, D-Bus gone)
            logger.warning("moving secrets failed: %s", type(exc).__name__)
            raise KeyringUnavailable(
                "The keyring could not give out or keep a secret while moving them: unlock it and try again; "
                "nothing was changed.",
            ) from None
        if not move:
            missing = [ref for ref in refs if new.get_password(keyring_secrets.SERVICE, ref) is None]
            if missing:
                raise Conflict(
                    f"{text} holds no secret for {len(missing)} of the inventory's {len(refs)} secrets "
                    f"({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}): move them (leave out "
                    "--no-move).",
                )
        try:
            ctx.write_setting(SETTING, text)
        except BaseException:
            _undo_copies(new, copied)
            raise
        ctx.bind_secret_store()
        details.append(f"{current} -> {text}")
        left = 0
        if move:
            details.append(f"moved {len(copied)} secret(s)")
            if keep_old:
                left = len(copied)
                details.append("copies kept in the previous store")
            else:
                left = _forget(old, [ref for ref, _ in copied])
                if left:
                    details.append(f"{left} cop(ies) could not be deleted from the previous store")
        info = secret_store_info(ctx)
        return SecretStoreInfo(**{**info.__dict__, "moved": len(copied), "left_behind": left})


def _copy(
    old: keyring_secrets.SecretStore, new: keyring_secrets.SecretStore, refs: list[str]
) -> list[tuple[str, str | None]]:
    """Copy every secret in ``refs`` from ``old`` to ``new`` and read it back: (key, what ``new`` held before)."""
    service = keyring_secrets.SERVICE
    copied: list[tuple[str, str | None]] = []
    try:
        for ref in refs:
            value = old.get_password(service, ref)
            if value is None:
                logger.warning("no secret under %s in the previous store: nothing to move", ref)
                continue
            before = new.get_password(service, ref)
            new.set_password(service, ref, value)
            copied.append((ref, before))
            if new.get_password(service, ref) != value:
                raise Conflict(f"The secret {ref} read back from the new store differs from what was written.")
    except BaseException:
        _undo_copies(new, copied)
        raise
    return copied


def _undo_copies(new: keyring_secrets.SecretStore, copied: list[tuple[str, str | None]]) -> None:
    for ref, before in reversed(copied):
        try:
            if before is None:
                new.delete_password(keyring_secrets.SERVICE, ref)
            else:
                new.set_password(keyring_secrets.SERVICE, ref, before)
        except Exception as exc:  # undoing as much as possible; the first failure is what the admin sees
            logger.warning("could not undo the copy of %s: %s", ref, type(exc).__name__)


def _forget(old: keyring_secrets.SecretStore, refs: list[str]) -> int:
    """Delete the moved secrets from the previous store; how many could not be deleted."""
    failed = 0
    for ref in refs:
        try:
            old.delete_password(keyring_secrets.SERVICE, ref)
        except keyring.errors.PasswordDeleteError:
            continue
        except Exception as exc:
            failed += 1
            logger.warning("could not delete %s from the previous store: %s", ref, type(exc).__name__)
    return failed
