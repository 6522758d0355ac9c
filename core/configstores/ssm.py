"""A deploy's config in AWS Systems Manager Parameter Store: one parameter per variable under a path.

The deploy's variables are the parameters directly under its path (``/app/prod/DATABASE_URL`` is
``DATABASE_URL``; deeper parameters are not read). A value is written as a ``SecureString`` (encrypted with
the account's ``aws/ssm`` key) when it holds a secret: a handle with a password or key in it, or a variable
whose name looks secret (``*_KEY``, ``*_TOKEN``, ``*_PASSWORD``...); a parameter that is a ``SecureString``
stays one. Overwriting a value makes a new version of the parameter, so the previous value stays in the
parameter's history (``aws ssm get-parameter-history``). Clearing a variable deletes its parameter
(Parameter Store keeps no history of a deleted parameter).

A change of several variables is written one parameter after the other; if one write fails, those already
written are put back, so the change is all or nothing as far as AWS allows. Changes from Changeovers on this
machine never overlap (a lock file per path in the user's cache folder, as for ``.env`` files); the
inventory's record of each change finishes or drops one interrupted anywhere.

The location kept in the inventory is ``ssm:///app/prod?region=eu-west-1`` (``&profile=NAME`` when a named
AWS profile is used); credentials are never kept: the standard AWS chain supplies them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .. import handles, paths
from ..errors import ConfigStoreError, InvalidInput
from ..handles import validate_env_var
from .envfile import DEFAULT_LOCK_TIMEOUT, _FolderLock

logger = logging.getLogger(__name__)

SCHEME = "ssm"
SECURE, PLAIN = "SecureString", "String"
#: the largest value of a standard-tier parameter (advanced parameters cost money: Changeover never makes one)
MAX_VALUE = 4096
_SEGMENT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_RESERVED = ("aws", "ssm")


def check_path(path: str) -> str:
    """``path`` if it can hold a deploy's parameters (``/app/prod``), else :class:`InvalidInput` naming the fix."""
    example = "for example /shop/production"
    if not path.startswith("/") or path == "/" or path.endswith("/"):
        raise InvalidInput(f"The SSM path '{path}' must start with '/' and not end with one, {example}.")
    segments = path[1:].split("/")
    if len(segments) > 14:
        raise InvalidInput(f"The SSM path '{path}' is deeper than Parameter Store allows (15 levels with the name).")
    for segment in segments:
        if not segment or not set(segment) <= _SEGMENT:
            raise InvalidInput(
                f"The SSM path '{path}' may hold only letters, digits, '_', '.' and '-' between single slashes, "
                f"{example}.",
            )
    if segments[0].lower().startswith(_RESERVED):
        raise InvalidInput(f"SSM paths starting with /aws or /ssm are reserved by AWS: choose another, {example}.")
    return path


def location(path: str, region: str, profile: str | None = None) -> str:
    """What the inventory keeps for a deploy whose config is under ``path`` in ``region``."""
    query = {"region": region, **({"profile": profile} if profile else {})}
    return f"{SCHEME}://{check_path(path)}?{urlencode(query)}"


@dataclass(frozen=True)
class _Parameter:
    value: str
    type: str


@dataclass
class _Written:
    """A change that was written; :meth:`revert` puts every parameter it touched back as it was."""

    store: SsmStore
    previous: list[tuple[str, _Parameter | None]] = field(default_factory=list)

    def revert(self) -> None:
        with self.store.locked():
            self.store._put_back(self.previous)


class SsmStore:
    """The parameters under one path of one region (and profile): a deploy's config."""

    kind = SCHEME

    def __init__(
        self,
        prefix: str,
        *,
        region: str,
        profile: str | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        if not region:
            raise InvalidInput("Give the AWS region of the SSM path with --region, for example eu-west-1.")
        self.prefix = check_path(prefix)
        self.region = region
        self.profile = profile or None
        self.location = location(self.prefix, region, self.profile)
        self.lock_timeout = lock_timeout
        self._client: Any = None

    @classmethod
    def at(cls, where: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> SsmStore:
        """The store a location made by :func:`location` names."""
        parts = urlsplit(where)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.scheme != SCHEME or parts.netloc:
            raise InvalidInput(f"'{where}' is not an SSM location such as ssm:///app/prod?region=eu-west-1.")
        return cls(parts.path, region=query.get("region", ""), profile=query.get("profile"), lock_timeout=lock_timeout)

    def __repr__(self) -> str:
        return f"SsmStore({self.location!r})"

    @property
    def ssm(self) -> Any:
        from .. import aws

        if self._client is None:
            self._client = aws.client("ssm", self.region, self.profile)
        return self._client

    def _name(self, var: str) -> str:
        return f"{self.prefix}/{var}"

    def _shown(self) -> str:
        return f"the SSM path {self.prefix} in {self.region}"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this path's lock (for every Changeover on this machine) across a longer change; re-entrant."""
        digest = hashlib.sha256(self.location.encode()).hexdigest()[:24]
        folder = paths.cache_dir() / "locks" / f"ssm-{digest}"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = _FolderLock.of(folder)
        lock.acquire(folder, self.lock_timeout, Path(self._shown()))
        try:
            yield
        finally:
            lock.release()

    def read(self) -> dict[str, str]:
        return {var: p.value for var, p in self._read_all().items()}

    def _read_all(self) -> dict[str, _Parameter]:
        from .. import aws

        found: dict[str, _Parameter] = {}
        with aws.translated(f"read {self._shown()}", "ssm:GetParametersByPath (and kms:Decrypt)"):
            pages = self.ssm.get_paginator("get_parameters_by_path").paginate(
                Path=self.prefix, Recursive=False, WithDecryption=True
            )
            for page in pages:
                for item in page.get("Parameters", []):
                    var = str(item["Name"])[len(self.prefix) + 1 :]
                    if var and "/" not in var:
                        found[var] = _Parameter(str(item.get("Value", "")), str(item.get("Type", PLAIN)))
        return dict(sorted(found.items()))

    def check_writable(self) -> None:
        """The path can be read (the permission to write is known only when a write is tried)."""
        self._read_all()

    def _type_for(self, var: str, value: str, previous: _Parameter | None) -> str:
        from ..context import is_secretish  # the kernel imports the stores: look it up when needed

        if previous is not None and previous.type == SECURE:
            return SECURE
        if is_secretish(var):
            return SECURE
        with suppress(handles.HandleError):
            if handles.parse(value).secrets:
                return SECURE
        return PLAIN

    def apply(self, changes: dict[str, str | None]) -> _Written:
        """Set (a value) or clear (``None``) variables, under the lock; a failed write puts back the others."""
        for key, value in changes.items():
            validate_env_var(key)
            if value is not None:
                _check_value(value)
        with self.locked():
            current = self._read_all()
            written = _Written(self)
            try:
                for var, value in changes.items():
                    previous = current.get(var)
                    if value is None:
                        if previous is None:
                            continue
                        self._delete(var)
                    elif previous is not None and previous.value == value:
                        continue
                    else:
                        self._put(var, value, self._type_for(var, value, previous))
                    written.previous.append((var, previous))
            except BaseException:
                self._put_back(written.previous)
                raise
            if written.previous:
                logger.info("wrote %s (%s)", self.location, ", ".join(var for var, _ in written.previous))
            return written

    def _put(self, var: str, value: str, kind: str) -> None:
        from .. import aws

        with aws.translated(f"write {self._name(var)} in {self.region}", "ssm:PutParameter (and kms:Encrypt)"):
            self.ssm.put_parameter(
                Name=self._name(var),
                Value=value,
                Type=kind,
                Overwrite=True,
                Description="Set by Changeover",
            )

    def _delete(self, var: str) -> None:
        from .. import aws

        with aws.translated(f"delete {self._name(var)} in {self.region}", "ssm:DeleteParameter"):
            try:
                self.ssm.delete_parameter(Name=self._name(var))
            except Exception as exc:
                if aws.error_code(exc) != "ParameterNotFound":
                    raise

    def _put_back(self, previous: list[tuple[str, _Parameter | None]]) -> None:
        """Undo writes (newest first): a parameter that was not there is deleted, others get their value back."""
        for var, before in reversed(previous):
            if before is None:
                self._delete(var)
            else:
                # never downgrade: a SecureString written meanwhile stays encrypted
                self._put(var, before.value, SECURE if self._is_secure(var) else before.type)

    def _is_secure(self, var: str) -> bool:
        from .. import aws

        with aws.translated(f"read {self._name(var)} in {self.region}", "ssm:GetParameter"):
            try:
                found = self.ssm.get_parameter(Name=self._name(var), WithDecryption=False)
            except Exception as exc:
                if aws.error_code(exc) == "ParameterNotFound":
                    return False
                raise
        return str(found["Parameter"].get("Type")) == SECURE


def _check_value(value: str) -> None:
    if value == "":
        raise ConfigStoreError(
            "Parameter Store cannot hold an empty value: clear the variable instead of setting it to nothing.",
        )
    if len(value.encode("utf-8")) > MAX_VALUE:
        raise ConfigStoreError(
            f"This value is longer than the {MAX_VALUE} bytes a standard SSM parameter holds: shorten it (Changeover "
            "does not create advanced parameters, which are charged).",
        )
