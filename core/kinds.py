"""The kind registry: what Changeover knows about each kind of attached resource.

For each kind: the URL schemes that name it, the environment variables a twelve-factor app
conventionally reads it from, the port a handle without one means, how its secret travels in the
handle, and the health check that speaks its protocol (:mod:`changeover.core.checks`).

This module imports no driver: a kind names its check by module and the module is imported only when a
check runs, so discovery and the faces can ask the registry without loading redis-py, pika or boto3.

The kind names are :mod:`changeover.core.handles`'s (``postgresql``, ``mysql``, ``redis``... ``apikey``).
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .checks.base import CheckResult
    from .handles import Handle

__all__ = ["Carriage", "Kind", "KINDS", "get", "by_scheme", "for_env_var", "names"]


class Carriage(StrEnum):
    """How a kind's secret travels in its handle (the slots of :class:`~changeover.core.handles.Handle`)."""

    USERINFO_PASSWORD = "userinfo password"  # scheme://user:SECRET@host
    TOKEN = "token"  # scheme://SECRET@host (a token in the userinfo, no password)
    QUERY = "query parameter"  # ?api_key=SECRET
    HEADER = "header"  # sent as an HTTP header by the check (Authorization: Bearer SECRET)
    BARE_KEY = "bare key"  # the whole value is the secret (STRIPE_API_KEY=sk_live_...)


class Check(Protocol):
    def __call__(self, handle: Handle, timeout: float) -> CheckResult: ...


@dataclass(frozen=True)
class Kind:
    """One kind of attached resource.

    ``env_names`` are exact names or shell-style patterns (``*_API_KEY``); ``ports`` maps each scheme to
    the port a handle of that scheme means when it names none (an empty mapping: the kind has no port).
    ``check_module`` is the module of :mod:`changeover.core.checks` whose ``check(handle, timeout)``
    speaks the kind's protocol. ``health_path`` is the path an HTTP check asks (CouchDB's ``/_up``);
    ``None`` means the path the handle names.
    """

    name: str
    title: str
    schemes: tuple[str, ...]
    env_names: tuple[str, ...]
    ports: Mapping[str, int]
    carriage: tuple[Carriage, ...]
    check_module: str
    health_path: str | None = None
    is_database: bool = False
    example: str = field(default="", compare=False)

    @property
    def default_env_var(self) -> str:
        """The variable a resource of this kind is attached under unless the admin names another."""
        return next((n for n in self.env_names if not _is_pattern(n)), "")

    @property
    def default_port(self) -> int | None:
        """The port of the kind's first scheme (``None``: the kind has no port, e.g. SQLite or an API key)."""
        return self.ports.get(self.schemes[0]) if self.schemes else None

    def port_for(self, scheme: str) -> int | None:
        """The port a handle of ``scheme`` (``+driver`` ignored) means when it names none."""
        return self.ports.get(scheme.lower().partition("+")[0], self.default_port)

    def matches_env_var(self, var: str, *, patterns: bool = True) -> bool:
        upper = var.upper()
        return any(
            fnmatch.fnmatchcase(upper, n) if _is_pattern(n) else upper == n
            for n in self.env_names
            if patterns or not _is_pattern(n)
        )

    def check(self, handle: Handle, timeout: float) -> CheckResult:
        """Run the kind's health check on a full handle (secrets in); never raises for a sick resource."""
        module = importlib.import_module(f"{__package__}.checks.{self.check_module}")
        run: Check = module.check
        return run(handle, timeout)


def _is_pattern(name: str) -> bool:
    return any(c in name for c in "*?[")


KINDS: tuple[Kind, ...] = (
    Kind(
        "postgresql",
        "PostgreSQL",
        ("postgresql", "postgres"),
        ("DATABASE_URL", "POSTGRES_URL", "POSTGRESQL_URL", "PG_URL", "HEROKU_POSTGRESQL_*_URL"),
        {"postgresql": 5432, "postgres": 5432},
        (Carriage.USERINFO_PASSWORD,),
        "sql",
        is_database=True,
        example="postgresql://user:password@host:5432/dbname",
    ),
    Kind(
        "mysql",
        "MariaDB/MySQL",
        ("mysql", "mariadb"),
        ("DATABASE_URL", "MYSQL_URL", "MARIADB_URL", "JAWSDB_URL", "CLEARDB_DATABASE_URL"),
        {"mysql": 3306, "mariadb": 3306},
        (Carriage.USERINFO_PASSWORD,),
        "sql",
        is_database=True,
        example="mysql://user:password@host:3306/dbname",
    ),
    Kind(
        "sqlite",
        "SQLite",
        ("sqlite",),
        ("DATABASE_URL", "SQLITE_URL"),
        {},
        (),
        "sql",
        is_database=True,
        example="sqlite:////absolute/path/app.db",
    ),
    Kind(
        "redis",
        "Redis",
        ("redis", "rediss"),
        ("REDIS_URL", "REDISCLOUD_URL", "REDISTOGO_URL", "REDIS_TLS_URL", "OPENREDIS_URL", "*_REDIS_URL"),
        {"redis": 6379, "rediss": 6379},
        (Carriage.USERINFO_PASSWORD,),
        "redis",
        example="redis://:password@host:6379/0",
    ),
    Kind(
        "memcached",
        "Memcached",
        ("memcached", "memcache"),
        ("MEMCACHED_URL", "MEMCACHED_SERVERS", "MEMCACHIER_SERVERS", "MEMCACHE_SERVERS"),
        {"memcached": 11211, "memcache": 11211},
        (Carriage.USERINFO_PASSWORD,),
        "memcached",
        example="memcached://user:password@host:11211",
    ),
    Kind(
        "amqp",
        "AMQP (RabbitMQ)",
        ("amqp", "amqps"),
        ("AMQP_URL", "CLOUDAMQP_URL", "RABBITMQ_URL", "RABBITMQ_BIGWIG_URL", "BROKER_URL"),
        {"amqp": 5672, "amqps": 5671},
        (Carriage.USERINFO_PASSWORD,),
        "amqp",
        example="amqp://user:password@host:5672/vhost",
    ),
    Kind(
        "beanstalk",
        "Beanstalkd",
        ("beanstalk", "beanstalkd"),
        ("BEANSTALK_URL", "BEANSTALKD_URL"),
        {"beanstalk": 11300, "beanstalkd": 11300},
        (),
        "beanstalk",
        example="beanstalk://host:11300",
    ),
    Kind(
        "smtp",
        "SMTP relay",
        ("smtp", "smtps"),
        ("SMTP_URL", "MAILGUN_SMTP_*", "POSTMARK_SMTP_*", "SENDGRID_SMTP_*", "POSTMARK_*"),
        {"smtp": 25, "smtps": 465},
        (Carriage.USERINFO_PASSWORD,),
        "smtp",
        example="smtp://user:password@host:587",
    ),
    Kind(
        "s3",
        "S3 bucket",
        ("s3",),
        ("S3_URL", "S3_BUCKET", "S3_BUCKET_NAME", "AWS_S3_BUCKET", "BUCKETEER_BUCKET_NAME"),
        {"s3": 443},
        (Carriage.USERINFO_PASSWORD,),
        "s3",
        example="s3://access-key:secret-key@bucket-name?region=eu-west-1",
    ),
    Kind(
        "couchdb",
        "CouchDB",
        ("couchdb", "couchdbs"),
        ("COUCHDB_URL", "CLOUDANT_URL"),
        {"couchdb": 5984, "couchdbs": 6984},
        (Carriage.USERINFO_PASSWORD,),
        "http",
        health_path="/_up",
        example="couchdb://user:password@host:5984/dbname",
    ),
    Kind(
        "http",
        "HTTP API",
        ("http", "https"),
        ("API_URL", "SENTRY_DSN", "*_API_URL", "*_DSN", "*_WEBHOOK_URL"),
        {"https": 443, "http": 80},
        (Carriage.TOKEN, Carriage.USERINFO_PASSWORD, Carriage.QUERY, Carriage.HEADER),
        "http",
        example="https://api-key@api.example.com or https://api.example.com/?api_key=KEY",
    ),
    Kind(
        "apikey",
        "API key",
        (),
        ("API_KEY", "NEW_RELIC_LICENSE_KEY", "*_LICENSE_KEY", "*_API_KEY", "*_API_TOKEN", "*_TOKEN", "*_SECRET_KEY"),
        {},
        (Carriage.BARE_KEY,),
        "apikey",
        example="sk_live_... (the whole value is the key)",
    ),
)

_BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
_BY_SCHEME: dict[str, Kind] = {s: k for k in KINDS for s in k.schemes}


def names() -> tuple[str, ...]:
    return tuple(_BY_NAME)


def get(name: str) -> Kind:
    """The kind called ``name``; :class:`~changeover.core.errors.InvalidInput` names the known ones."""
    found = _BY_NAME.get(name)
    if found is None:
        from .errors import InvalidInput

        raise InvalidInput(f"Unknown kind '{name}': use one of {', '.join(sorted(_BY_NAME))}.")
    return found


def by_scheme(scheme: str) -> Kind | None:
    """The kind a URL scheme names (``postgresql+psycopg`` -> postgresql), or ``None``."""
    return _BY_SCHEME.get(scheme.lower().partition("+")[0])


def for_env_var(name: str) -> Kind | None:
    """The kind an app conventionally reads from variable ``name``, or ``None``.

    Exact names win over patterns, and patterns are tried in registry order (so ``POSTMARK_API_TOKEN``
    is SMTP, ``STRIPE_API_KEY`` a bare key). ``DATABASE_URL`` belongs to every SQL kind: the first
    (PostgreSQL) is returned, and the value's scheme decides (:func:`by_scheme`).
    """
    for patterns in (False, True):
        for kind in KINDS:
            if kind.matches_env_var(name, patterns=patterns):
                return kind
    return None
