"""Rotation: a new credential for a resource, made by Changeover where the service issues it, given to every deploy.

Two phases where the service allows it, the way managed platforms rotate without downtime:

1. **open** a new credential beside the old one (a second password on the same user, or the other user of
   an alternating pair), and check the service accepts it;
2. **propagate** it to every attached deploy, in name order, one config change and one restart each
   (:func:`changeover.core.swaps.propagate`, the swap's machinery); then the keyring and the inventory;
3. **revoke** the old one.

A failure before the revoke puts the deploys already rewritten back on the old credential, removes the
new one, and leaves the old one working: nothing changed. One strategy per kind and provider:

- PostgreSQL and MariaDB/MySQL users, provisioned or registered by hand (through a registered server's admin
  handle on the same host and port): **alternating users** (the original user and ``<user>_alt``), see
  :class:`~changeover.core.providers.base.SecondLogins`. A provider that can only set a password (the AWS
  RDS master password) gets **one phase**: the new password is set, and set back if a deploy fails.
- Redis ACL users: **a second password** (``ACL SETUSER user >new``, then ``<old``).
- RabbitMQ users: **alternating users** through ``rabbitmqctl`` on the broker's machine.
- Every other kind says why it cannot be rotated here and offers Replace (:func:`refusal_for_kind`).

May touch: the inventory (through the kernel), the keyring, the deploys' configs and restart hooks, the
users on the resource's server (through its provider, redis-py or rabbitmqctl). Never writes a secret
anywhere but the keyring and the deploys' configs; a password reaches rabbitmqctl on its stdin only.
"""

from __future__ import annotations

import json
import logging
import secrets as _random
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from . import handles, kinds, redaction, resources, servers, swaps
from . import secrets as keyring_secrets
from .checks import CheckStatus, check
from .context import Context
from .errors import ChangeoverError, Conflict
from .inventory.models import Resource, ResourceState, Server
from .providers import rds
from .providers.base import Provider, SecondLogins
from .records import ResourceInfo, resource_info

logger = logging.getLogger(__name__)

#: the suffix of the second user of an alternating pair (``app`` and ``app_alt``)
ALT_SUFFIX = "_alt"
#: the longest user name every server takes (MySQL's 32), the suffix included
MAX_USER = 32


class RotationFailed(ChangeoverError):
    """A rotation stopped before the revoke: the deploys are back on the old credential, which still works."""

    title = "Rotation stopped and undone"


class RevokeFailed(ChangeoverError):
    """Every deploy holds the new credential, but the old one could not be revoked (it still works)."""

    title = "Rotated, but the old credential still works"


@dataclass(frozen=True)
class RotationResult:
    resource: ResourceInfo
    deploys: tuple[str, ...]  # deploys whose config now holds the new credential, restarted
    failed: tuple[str, ...] = ()  # kept for the faces: a failed restart now undoes the rotation instead
    how: str = ""  # the strategy, in words ("a second user, app_alt, beside app")
    revoked: str = ""  # what was revoked, in words
    note: str = ""  # what the admin should still know (Redis without an ACL file forgets on restart)


# -- what each kind can do ---------------------------------------------------------------------------

_HOW: dict[str, str] = {
    "postgresql": "a second user beside the old one (alternating users), then the old one can no longer log in",
    "mysql": "a second user with the same grants beside the old one (alternating users), then the old one locked",
    "redis": "a second password on the same ACL user, then the old password removed",
    "amqp": "a second user with the same tags and permissions (rabbitmqctl), then the old one deleted",
}

_CANNOT: dict[str, str] = {
    "sqlite": "SQLite databases have no users or passwords: there is nothing to rotate",
    "beanstalk": "Beanstalkd has no credentials: there is nothing to rotate",
    "memcached": "Memcached's SASL users live in a password file on its own machine, which Changeover does not reach",
    "smtp": "an SMTP relay's password is issued by the relay (your mail server, Mailgun, Postmark...)",
    "s3": "S3 access keys are issued by the cloud's identity service (IAM), which Changeover does not manage",
    "couchdb": "Changeover does not manage CouchDB users",
    "http": "an API's key is issued by the service that takes it (its dashboard or its own API)",
    "apikey": "an API key is issued by the service that takes it (its dashboard or its own API)",
}


def how_for_kind(kind: str) -> str | None:
    """How a resource of ``kind`` is rotated, in words; None when Changeover cannot rotate that kind."""
    return _HOW.get(kind)


def phases(server_kind: str | None) -> int:
    """How many phases rotating a database user on a server of ``server_kind`` takes: one on a managed
    instance whose provider can only set its master password (Amazon RDS), else two."""
    return 1 if server_kind == rds.KIND else 2


def cannot_rotate(kind: str) -> str | None:
    """Why Changeover cannot rotate a resource of ``kind`` (a phrase), or None when it can."""
    if kind in _HOW:
        return None
    return _CANNOT.get(kind, f"Changeover cannot make a new {kind} credential")


#: kinds with no secret at all: Replace has nothing to offer them either
NOTHING_TO_ROTATE = frozenset({"sqlite", "beanstalk"})


def refusal_for_kind(kind: str, name: str = "NAME") -> str | None:
    """Why a resource of ``kind`` cannot be rotated by Changeover, with what to do instead; None if it can."""
    why = cannot_rotate(kind)
    if why is None:
        return None
    if kind in NOTHING_TO_ROTATE:
        return f"'{name}' cannot be rotated: {why}."
    return (
        f"'{name}' cannot be rotated by Changeover: {why}. Get a new secret where it is issued, then replace it "
        f"everywhere: `changeover resource secret {name} -`."
    )


# -- strategies --------------------------------------------------------------------------------------


class Strategy(Protocol):
    """One way to rotate: open a new credential, abandon it, or revoke the old one."""

    how: str  # in words, for the audit trail and the faces
    two_phase: bool  # False: the old credential stops working when the new one is opened
    users: str  # the alternating pair to record ("app,app_alt"), or "" for none

    def open(self) -> handles.Handle:
        """Make the new credential (the old one still works when two-phase); return the new full handle."""
        ...

    def abandon(self) -> None:
        """Undo :meth:`open` (a deploy failed): the old credential is the one that works again."""
        ...

    def revoke(self) -> str:
        """Revoke the old credential; return what was done, in words."""
        ...


def new_password() -> str:
    return _random.token_urlsafe(servers.PASSWORD_BYTES)


def with_login(old: handles.Handle, user: str, password: str) -> handles.Handle:
    """``old`` with another user name and password, for the same place (host, port, database, options)."""
    if old.is_database:
        text = make_url(old.full()).set(username=user, password=password).render_as_string(hide_password=False)
        return handles.parse(text, kind=old.kind)
    parts = urlsplit(old.full())
    where = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{where}"
    return handles.parse(urlunsplit(parts._replace(netloc=netloc)), kind=old.kind)


def _user_of(old: handles.Handle) -> str:
    if old.is_database:
        return make_url(old.full()).username or ""
    return unquote(urlsplit(old.full()).username or "")


def _where(handle: handles.Handle) -> tuple[str, int | None]:
    """The host (lower case) and port a handle reaches, the kind's default port filled in."""
    if handle.is_database:
        url = make_url(handle.full())
        host, port = url.host or "", url.port
    else:
        parts = urlsplit(handle.full())
        host, port = parts.hostname or "", parts.port
    return host.lower(), port or kinds.get(handle.kind).port_for(handle.scheme)


def _pair(resource: Resource, current: str) -> tuple[str, str, bool]:
    """(owner, alternate, recorded) of the resource's alternating pair; a new pair starts from ``current``."""
    recorded = [u for u in resource.rotation_users.split(",") if u]
    if len(recorded) == 2 and current in recorded:
        return recorded[0], recorded[1], True
    return current, current[: MAX_USER - len(ALT_SUFFIX)] + ALT_SUFFIX, False


class AlternatingLogins:
    """PostgreSQL and MariaDB/MySQL: the other user of the pair gets a new password and the privileges of
    the one in use; after the propagation the one in use can no longer log in (it is never dropped)."""

    two_phase = True

    def __init__(self, provider: SecondLogins, resource: Resource, old: handles.Handle, server: str) -> None:
        self.provider = provider
        self.old = old
        self.current = _user_of(old)
        owner, alternate, self.recorded = _pair(resource, self.current)
        self.owner = owner
        self.next = alternate if self.current == owner else owner
        self.users = f"{owner},{alternate}"
        self.created = False
        self.how = f"alternating users on {server}: {self.next} beside {self.current}"

    def open(self) -> handles.Handle:
        if not self.recorded and self.next != self.owner:
            self._refuse_foreign()
        password = new_password()
        redaction.remember(password)
        self.created = self.provider.open_login(self.next, password, owner=self.owner, like=self.current)
        return with_login(self.old, self.next, password)

    def _refuse_foreign(self) -> None:
        """A first rotation must not take over a user of that name made by someone else."""
        if self.provider.login_exists(self.next):
            raise Conflict(
                f"The server already has a user named '{self.next}' that Changeover did not make, so it cannot "
                f"be the second user of '{self.current}': rename or drop it, then rotate again.",
            )

    def abandon(self) -> None:
        if self.created:
            self.provider.drop_login(self.next)
        else:
            self.provider.close_login(self.next)

    def revoke(self) -> str:
        self.provider.close_login(self.current)
        return f"{self.current} can no longer log in (kept, with its objects and grants)"


class OnePhasePassword:
    """A provider that can only give its user a new password (the AWS RDS master password): one phase.

    The old password stops working when the new one is set; a failed deploy sets it back.
    """

    two_phase = False
    users = ""

    def __init__(self, provider: Provider, old: handles.Handle, server: str) -> None:
        self.provider = provider
        self.old = old
        self.user = _user_of(old)
        self.how = f"a new password for {self.user} on {server} (one phase: the old one stops working at once)"

    def open(self) -> handles.Handle:
        password = new_password()
        redaction.remember(password)
        self.provider.set_password(self.user, password)
        return with_login(self.old, self.user, password)

    def abandon(self) -> None:
        self.provider.set_password(self.user, self.old.secrets["password"])

    def revoke(self) -> str:
        return "the old password stopped working when the new one was set"


class RedisAclPassword:
    """A Redis ACL user keeps several passwords: the new one is added, then the old one removed."""

    two_phase = True
    users = ""

    def __init__(self, old: handles.Handle, admin: handles.Handle, admin_name: str) -> None:
        self.old = old
        self.admin = admin
        self.user = _user_of(old) or "default"
        self.new_secret = ""
        self.how = f"a second password for the Redis ACL user {self.user} (through {admin_name}'s handle)"
        self.note = ""

    @contextmanager
    def _client(self, doing: str) -> Iterator[_RedisClient]:
        import redis as redis_py

        client = _redis(self.admin)
        try:
            yield client
        except redis_py.RedisError as exc:
            raise ChangeoverError(f"Redis refused to {doing}: {redaction.redact(str(exc))}") from None
        finally:
            client.close()

    def open(self) -> handles.Handle:
        self.new_secret = new_password()
        redaction.remember(self.new_secret)
        with self._client(f"add a password to the ACL user {self.user}") as client:
            client.execute_command("ACL", "SETUSER", self.user, f">{self.new_secret}")
        return with_login(self.old, _user_of(self.old), self.new_secret)

    def abandon(self) -> None:
        with self._client(f"remove the new password of {self.user}") as client:
            client.execute_command("ACL", "SETUSER", self.user, f"<{self.new_secret}")

    def revoke(self) -> str:
        with self._client(f"remove the old password of {self.user}") as client:
            client.execute_command("ACL", "SETUSER", self.user, f"<{self.old.secrets['password']}")
            aclfile = client.execute_command("CONFIG", "GET", "aclfile")
            if _config_value(aclfile):
                client.execute_command("ACL", "SAVE")
                return f"the old password of {self.user} removed and the ACL file saved"
        self.note = (
            "This Redis keeps its users in memory only (no aclfile): put the new password in its configuration "
            "(requirepass or its user line) before Redis restarts, or the old one comes back."
        )
        return f"the old password of {self.user} removed"


class _RedisClient(Protocol):
    """What rotation asks of a redis-py client (typed here: redis-py's own call is untyped)."""

    def execute_command(self, *args: str) -> object: ...

    def close(self) -> None: ...


def _redis(handle: handles.Handle) -> _RedisClient:
    import redis as redis_py

    client: _RedisClient = redis_py.Redis.from_url(handle.full(), socket_timeout=10, socket_connect_timeout=10)
    return client


def _config_value(reply: object) -> str:
    """The value of a ``CONFIG GET`` reply (a flat list or a mapping, by protocol version)."""
    if isinstance(reply, dict):
        values = list(reply.values())
    elif isinstance(reply, list | tuple):
        values = list(reply[1::2])
    else:
        values = []
    value = values[0] if values else ""
    return value.decode() if isinstance(value, bytes) else str(value)


class RabbitUsers:
    """RabbitMQ keeps one password per user: the other user of the pair gets the tags, permissions and topic
    permissions of the one in use (``rabbitmqctl``, the password on its stdin); the old one is then deleted."""

    two_phase = True

    def __init__(self, ctl: str, resource: Resource, old: handles.Handle) -> None:
        self.ctl = ctl
        self.old = old
        self.current = _user_of(old)
        owner, alternate, self.recorded = _pair(resource, self.current)
        self.next = alternate if self.current == owner else owner
        self.users = f"{owner},{alternate}"
        self.created = False
        self.how = f"alternating RabbitMQ users: {self.next} beside {self.current} (rabbitmqctl)"

    def _run(self, *args: str, stdin: str | None = None) -> str:
        try:
            done = subprocess.run(
                [self.ctl, "-q", *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ChangeoverError(f"rabbitmqctl {args[0]} did not run: {exc}") from None
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["no message"]
            raise ChangeoverError(f"rabbitmqctl {args[0]} failed: {redaction.redact(lines[-1])}")
        return done.stdout

    def _json(self, *args: str) -> list[dict[str, object]]:
        return rabbitmq_answer(self._run(*args, "--formatter", "json"))

    def open(self) -> handles.Handle:
        users = {str(u["user"]): u.get("tags") or [] for u in self._json("list_users")}
        if self.current not in users:
            raise Conflict(f"The broker has no user named '{self.current}': replace the secret instead.")
        if self.next in users and not self.recorded:
            raise Conflict(
                f"The broker already has a user named '{self.next}' that Changeover did not make, so it cannot be "
                f"the second user of '{self.current}': rename or delete it, then rotate again.",
            )
        password = new_password()
        redaction.remember(password)
        self.created = self.next not in users
        self._run("add_user" if self.created else "change_password", self.next, stdin=password)
        try:
            self._copy_rights(users[self.current])
        except BaseException:
            self.abandon()
            raise
        return with_login(self.old, self.next, password)

    def _copy_rights(self, tags: object) -> None:
        """The tags, permissions and topic permissions of the user in use, given to the next one."""
        self._run("set_user_tags", self.next, *(str(t) for t in (tags if isinstance(tags, list) else [tags])))
        for p in self._json("list_user_permissions", self.current):
            vhost = str(p["vhost"])
            self._run("set_permissions", "-p", vhost, self.next, str(p["configure"]), str(p["write"]), str(p["read"]))
        for p in self._json("list_user_topic_permissions", self.current):
            vhost, exchange = str(p["vhost"]), str(p["exchange"])
            self._run("set_topic_permissions", "-p", vhost, self.next, exchange, str(p["write"]), str(p["read"]))

    def abandon(self) -> None:
        self._run("delete_user" if self.created else "clear_password", self.next)

    def revoke(self) -> str:
        self._run("delete_user", self.current)
        return f"the RabbitMQ user {self.current} deleted (its connections closed)"


def rabbitmq_answer(text: str) -> list[dict[str, object]]:
    """rabbitmqctl's JSON answer: the array it printed last (Erlang may print a report first, on a config
    folder it cannot read)."""
    start = 0 if text.startswith("[") else text.rfind("\n[") + 1
    if start == 0 and not text.startswith("["):
        raise ChangeoverError("rabbitmqctl gave no answer Changeover understands.")
    found = json.loads(text[start:])
    return [dict(item) for item in found] if isinstance(found, list) else []


#: where this machine's rabbitmqctl may be when it is not on the PATH (Debian puts it in /usr/sbin)
_RABBITMQCTL = ("/usr/sbin/rabbitmqctl", "/usr/lib/rabbitmq/bin/rabbitmqctl")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _strategy(ctx: Context, session: Session, resource: Resource, old: handles.Handle) -> Strategy:
    """The way ``resource`` is rotated, or :class:`Conflict` saying why it cannot be and what to do instead."""
    refusal = refusal_for_kind(resource.kind, resource.name)
    if refusal:
        raise Conflict(refusal)
    if "password" not in old.secrets:
        raise Conflict(f"'{resource.name}' has no password in its handle: there is nothing to rotate.")
    if resource.kind in handles.DATABASE_KINDS:
        return _sql_strategy(session, resource, old)
    if resource.kind == "redis":
        return _redis_strategy(ctx, session, resource, old)
    return _rabbit_strategy(resource, old)


def _sql_strategy(session: Session, resource: Resource, old: handles.Handle) -> Strategy:
    server = resource.server or _server_at(session, resource, old)
    provider = servers.provider_for(server)
    if isinstance(provider, SecondLogins):
        return AlternatingLogins(provider, resource, old, server.name)
    if resource.server is None:
        raise Conflict(
            f"The server '{server.name}' can only set the password of its own users: '{resource.name}' was "
            "registered by hand, so change its password there, then replace it: "
            f"`changeover resource secret {resource.name} -`.",
        )
    return OnePhasePassword(provider, old, server.name)


def _server_at(session: Session, resource: Resource, old: handles.Handle) -> Server:
    """The registered server of the resource's kind on the same host and port (whose admin makes the user)."""
    host, port = _where(old)
    for server in session.scalars(select(Server).where(Server.kind == resource.kind).order_by(Server.name)):
        if _where(handles.parse(server.handle, kind=server.kind)) == (host, port):
            return server
    label = kinds.get(resource.kind).title
    raise Conflict(
        f"'{resource.name}' was registered by hand and no {label} server is registered at {host}:{port}, so "
        "Changeover has no admin to make its second user: register the server's admin handle (a user that may "
        f"create users and grant) with `changeover server add NAME -`, then rotate again.",
    )


def _redis_strategy(ctx: Context, session: Session, resource: Resource, old: handles.Handle) -> Strategy:
    """The resource's own handle if its user may run ACL, else another registered Redis on the same host:port."""
    candidates = [(resource.name, old)]
    others = session.scalars(
        select(Resource)
        .where(Resource.kind == "redis", Resource.id != resource.id, Resource.state != ResourceState.DEPROVISIONED)
        .order_by(Resource.name)
    )
    for other in others:
        try:
            handle = ctx.resolve_handle(other)
        except ChangeoverError:  # its secret is gone from the keyring: it cannot be the admin
            continue
        if _where(handle) == _where(old):
            candidates.append((other.name, handle))
    user = _user_of(old) or "default"
    reasons = []
    for name, handle in candidates:
        reason = _may_run_acl(handle, user)
        if reason is None:
            return RedisAclPassword(old, handle, name)
        reasons.append(f"{name}: {reason}")
    host, port = _where(old)
    raise Conflict(
        f"No handle Changeover holds may change the Redis ACL user {user} at {host}:{port} ({'; '.join(reasons)}): "
        "register an admin handle of that Redis as a resource (a user allowed the ACL command, e.g. "
        "`changeover resource add redis-admin -`), then rotate again.",
    )


def _may_run_acl(handle: handles.Handle, user: str) -> str | None:
    """None when ``handle`` may read and change ``user`` with ACL, else why not (in words)."""
    import redis as redis_py

    client = _redis(handle)
    try:
        found = client.execute_command("ACL", "GETUSER", user)
    except redis_py.RedisError as exc:
        return redaction.redact(str(exc)).split("\n")[0]
    finally:
        client.close()
    if not found:
        return f"there is no ACL user {user}"
    return None


def _rabbit_strategy(resource: Resource, old: handles.Handle) -> Strategy:
    host, _port = _where(old)
    ctl = shutil.which("rabbitmqctl") or next((p for p in _RABBITMQCTL if Path(p).exists()), None)
    if host not in _LOCAL_HOSTS | {socket.gethostname().lower()} or ctl is None:
        local = host in _LOCAL_HOSTS | {socket.gethostname().lower()}
        where = f"the broker is at {host}, not this machine" if not local else "rabbitmqctl is not installed here"
        raise Conflict(
            f"Changeover rotates RabbitMQ users with rabbitmqctl on the broker's own machine, and {where}: run "
            f"Changeover there, or change the password on the broker and replace it: "
            f"`changeover resource secret {resource.name} -`.",
        )
    return RabbitUsers(ctl, resource, old)


# -- the use case ------------------------------------------------------------------------------------


def rotate(ctx: Context, resource_name: str) -> RotationResult:
    """Rotate the resource's credential in two phases where the service allows it (see the module).

    Everything that could refuse (the strategy, the keyring, every deploy's config) is checked before the
    service is touched. One audit row: the strategy, the deploys touched, what was revoked; never a value.
    """
    with ctx.audited("rotate password", "resource", resource_name) as details:
        with ctx.session() as session:
            resource = ctx.resource(session, resource_name)
            if resource.state == ResourceState.DEPROVISIONED:
                raise Conflict(f"'{resource.name}' is deprovisioned: there is nothing to rotate.")
            ctx.refuse_if_held(session, "rotate its secret", resource=resource)
            if not resource.secret_ref:
                raise Conflict(f"'{resource.name}' has no secret: there is nothing to rotate.")
            keyring_secrets.check()
            old = ctx.resolve_handle(resource)
            strategy = _strategy(ctx, session, resource, old)
            plan = resources.deploys_to_rewrite(ctx, session, resource, "rewrite its config")
            secret_ref = resource.secret_ref
        details.append(strategy.how)
        new = strategy.open()
        details.append(f"new credential opened ({'the old one still works' if strategy.two_phase else 'one phase'})")
        try:
            _record_pair(ctx, resource_name, strategy.users)  # so a crash from here on leaves a known pair
            details.append(f"checked with the new credential: {_check(resource_name, new)}")
            done = _propagate(ctx, resource_name, plan, new, details)
            _store(ctx, resource_name, secret_ref, new)
        except BaseException as exc:
            undone = _abandon(strategy, details)
            if isinstance(exc, swaps.PropagationStopped):
                raise RotationFailed(_failure(resource_name, exc, strategy, undone)) from None
            raise
        details.append(f"deploys rewritten and restarted: {', '.join(done) or 'none'}")
        try:
            revoked = strategy.revoke()
        except ChangeoverError as exc:
            raise RevokeFailed(
                f"'{resource_name}' was rotated and every deploy holds the new credential, but revoking the old one "
                f"failed: {exc.message} The old credential still works: revoke it on the service by hand.",
            ) from None
        details.append(f"revoked: {revoked}")
        with ctx.session() as session:
            info = resource_info(ctx.resource(session, resource_name))
        return RotationResult(info, tuple(done), (), strategy.how, revoked, getattr(strategy, "note", ""))


def _check(name: str, handle: handles.Handle) -> str:
    """The service accepts the new credential before any deploy is given it; :class:`Conflict` if not."""
    result = check(handle)
    if result.status is CheckStatus.NOT_CHECKABLE:
        return f"not checkable ({result.reason})"
    if not result.ok:
        raise Conflict(
            f"'{name}' did not accept its new credential ({result.reason}), so it was removed again and no deploy "
            "was changed: make the service reachable from this machine and rotate again.",
        )
    return result.reason


def _propagate(ctx: Context, name: str, plan: list[str], new: handles.Handle, details: list[str]) -> list[str]:
    """Every deploy rewritten and restarted in turn; on the first failure the ones done are put back."""
    before: dict[str, dict[str, str | None]] = {}

    def put_back(deploy_name: str, _variables: list[str]) -> None:
        resources.put_deploy_back(ctx, name, deploy_name, before[deploy_name], new, details)

    done = swaps.propagate(
        plan,
        lambda d: resources.rewrite_deploy(ctx, name, d, new, before, details),
        lambda done: swaps.undo_each(done, put_back, name, "its old credential"),
    )
    return [d for d, _ in done]


def _record_pair(ctx: Context, name: str, users: str) -> None:
    """Remember the alternating pair (names only) once its second user exists."""
    if users:
        with ctx.session() as session:
            ctx.resource(session, name).rotation_users = users
            session.commit()


def _store(ctx: Context, name: str, secret_ref: str, new: handles.Handle) -> None:
    """The new credential in the keyring and the inventory (its user may have changed), with the date."""
    previous = keyring_secrets.load(secret_ref)
    keyring_secrets.store(secret_ref, new.keyring_entries)
    try:
        with ctx.session() as session:
            resource = ctx.resource(session, name)
            stamp = ctx.clock()
            resource.handle = new.public
            resource.secret_slots = ",".join(new.secrets)
            resource.secret_set_at = resource.secret_set_at or stamp
            resource.secret_rotated_at = resource.updated_at = stamp
            session.commit()
    except BaseException:
        keyring_secrets.store(secret_ref, previous)
        raise


def _abandon(strategy: Strategy, details: list[str]) -> str:
    """Remove the new credential after a failure; '' when done, else why it could not be (in words)."""
    try:
        strategy.abandon()
    except ChangeoverError as exc:
        details.append(f"the new credential could not be removed: {exc.message}")
        return exc.message
    details.append("new credential removed" + ("; the old one works as before" if strategy.two_phase else ""))
    return ""


def _failure(name: str, stopped: swaps.PropagationStopped, strategy: Strategy, undone: str) -> str:
    text = f"Rotating the secret of '{name}' stopped at deploy '{stopped.deploy}': {stopped.error.message}"
    if stopped.done:
        names = ", ".join(d for d, _ in stopped.done)
        text += f" {names} {'was' if len(stopped.done) == 1 else 'were'} put back on the old credential and restarted."
    if stopped.problems:
        text += f" Putting the deploys back was not complete: {'; '.join(stopped.problems)}."
    if undone:
        return f"{text} The new credential could not be removed ({undone}): remove it on the service by hand."
    old = "the old one still works" if strategy.two_phase else "the old password was set back"
    return f"{text} The new credential was removed and {old}: nothing changed. Fix that deploy and rotate again."
