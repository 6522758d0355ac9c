"""Resource handles: the URLs through which a deploy reaches its attached resources.

A handle is split into its public part (kept in the inventory) and its secrets (kept in the OS keyring).
Database URLs are parsed by SQLAlchemy's :func:`~sqlalchemy.engine.make_url`, every other kind by
:mod:`urllib.parse`. A malformed handle raises :class:`HandleError` naming the part that is wrong; the
message never repeats the handle itself, which may hold a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .errors import HandleError

__all__ = ["Handle", "HandleError", "parse", "validate_env_var", "MASK", "APIKEY", "DEFAULT_ENV_VAR"]

MASK = "•••"

#: scheme (before any ``+driver``) -> resource kind
KIND_BY_SCHEME: dict[str, str] = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "redis": "redis",
    "rediss": "redis",
    "memcached": "memcached",
    "memcache": "memcached",
    "amqp": "amqp",
    "amqps": "amqp",
    "beanstalk": "beanstalk",
    "beanstalkd": "beanstalk",
    "smtp": "smtp",
    "smtps": "smtp",
    "s3": "s3",
    "couchdb": "couchdb",
    "couchdbs": "couchdb",
    "http": "http",
    "https": "http",
}

DATABASE_KINDS = frozenset({"postgresql", "mysql", "sqlite"})
#: a bare credential (``STRIPE_API_KEY=sk_live_...``): the whole value is the secret
APIKEY = "apikey"
KINDS = frozenset(KIND_BY_SCHEME.values()) | {APIKEY}

#: the env var a kind is attached under unless the admin names another
DEFAULT_ENV_VAR: dict[str, str] = {
    "postgresql": "DATABASE_URL",
    "mysql": "DATABASE_URL",
    "sqlite": "DATABASE_URL",
    "redis": "REDIS_URL",
    "memcached": "MEMCACHED_URL",
    "amqp": "AMQP_URL",
    "beanstalk": "BEANSTALK_URL",
    "smtp": "SMTP_URL",
    "s3": "S3_URL",
    "couchdb": "COUCHDB_URL",
    "http": "API_URL",
    APIKEY: "API_KEY",
}

_SECRET_PARAM = re.compile(r"(^|_)(key|apikey|api_key|token|secret|password|passwd|pass|signature|sig)$", re.I)
#: a whole environment variable name (``\\Z``: no trailing newline slips through, even with ``.match``)
ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def validate_env_var(name: str) -> str:
    """Return ``name`` if it is a valid environment variable name, else raise :class:`HandleError`."""
    if not name:
        raise HandleError(
            "The variable name is empty: give one such as DATABASE_URL (or leave the option out to use the "
            "kind's default).",
            title="Invalid variable name",
        )
    if not ENV_VAR_NAME.fullmatch(name):
        raise HandleError(
            f"{name!r} is not a valid environment variable name: use letters, digits and underscores, "
            "not starting with a digit (for example DATABASE_URL).",
            title="Invalid variable name",
        )
    return name


@dataclass(frozen=True)
class Handle:
    """A parsed handle. ``public`` holds no secret; ``secrets`` maps each slot to its secret value.

    Slots: ``password`` (userinfo password), ``username`` (a token in the userinfo, http only),
    ``query:NAME`` (a key in a query parameter), ``value`` (a bare API key).
    """

    kind: str
    scheme: str
    public: str
    secrets: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_secret(self) -> bool:
        return bool(self.secrets)

    @property
    def is_database(self) -> bool:
        return self.kind in DATABASE_KINDS

    @property
    def default_env_var(self) -> str:
        return DEFAULT_ENV_VAR[self.kind]

    def with_secrets(self, secrets: dict[str, str]) -> Handle:
        return Handle(self.kind, self.scheme, self.public, dict(secrets))

    def full(self) -> str:
        """The complete handle, secrets included: what goes into a deploy's config, nowhere else."""
        return _render(self, {slot: value for slot, value in self.secrets.items()})

    def masked(self) -> str:
        """The handle for display: every secret shown as ``•••``."""
        return _render(self, {slot: MASK for slot in self.secrets}, masking=True)

    def sqlalchemy_url(self) -> URL:
        """The full handle as a SQLAlchemy URL with a driver Changeover ships (databases only)."""
        if not self.is_database:
            raise HandleError(f"A {self.kind} handle is not a database URL.")
        url = make_url(self.full())
        driver = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "sqlite": "sqlite"}[self.kind]
        return url.set(drivername=driver)


def parse(text: str, *, kind: str | None = None) -> Handle:
    """Parse ``text`` into a :class:`Handle`; ``kind`` (optional) must agree with the scheme."""
    text = text.strip()
    if not text:
        raise HandleError("The handle is empty: give a URL such as postgresql://user@host/dbname.")
    if kind == APIKEY:
        return Handle(APIKEY, "", "", {"value": text})
    if kind is not None and kind not in KINDS:
        raise HandleError(f"Unknown kind '{kind}': use one of {', '.join(sorted(KINDS))}.")
    if "://" not in text and not text.startswith("sqlite:"):
        raise HandleError(
            "The handle has no scheme: it must start with one such as postgresql://, mysql://, "
            "redis://, amqp://, smtp:// or https://."
        )
    scheme = text.split(":", 1)[0].lower()
    base, _, driver = scheme.partition("+")
    found = KIND_BY_SCHEME.get(base)
    if found is None:
        raise HandleError(f"Unknown scheme '{base}://': Changeover knows {', '.join(sorted(KIND_BY_SCHEME))}.")
    if driver and found not in DATABASE_KINDS:
        raise HandleError(f"The scheme '{scheme}' has a driver suffix '+{driver}', which only databases take.")
    if kind is not None and kind != found:
        raise HandleError(f"The scheme '{base}://' is a {found} handle, not {kind}.")
    if found in DATABASE_KINDS:
        return _parse_database(text, found, scheme)
    return _parse_generic(text, found, scheme)


def _parse_database(text: str, kind: str, scheme: str) -> Handle:
    _check_port(text, kind)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise HandleError(f"The {kind} handle is malformed: expected {_example(kind)}.") from None
    if kind == "sqlite":
        if not url.database or url.database == ":memory:":
            raise HandleError("The sqlite handle names no file: use sqlite:////absolute/path/app.db.")
    else:
        if not url.host and "host" not in url.query and "unix_socket" not in url.query:
            raise HandleError(f"The {kind} handle names no host: expected {_example(kind)}.")
        if not url.database:
            raise HandleError(f"The {kind} handle names no database: add /DBNAME at the end ({_example(kind)}).")
    secrets: dict[str, str] = {}
    if url.password:
        secrets["password"] = str(url.password)
    query = dict(url.query)
    for name in list(query):
        if _SECRET_PARAM.search(name):
            value = query.pop(name)
            secrets[f"query:{name}"] = value if isinstance(value, str) else value[-1]
    # URL.set() treats None as "unchanged": build the public URL afresh so the password is really gone.
    public = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, query)
    return Handle(kind, scheme, public.render_as_string(hide_password=False), secrets)


def _parse_generic(text: str, kind: str, scheme: str) -> Handle:
    _check_port(text, kind)
    parts = urlsplit(text)
    if not parts.hostname:
        raise HandleError(f"The {kind} handle names no host: expected {_example(kind)}.")
    secrets: dict[str, str] = {}
    netloc = parts.netloc
    userinfo, _, hostport = netloc.rpartition("@")
    user = parts.username
    if parts.password:
        secrets["password"] = parts.password
    elif user and kind == "http":
        secrets["username"] = user
        user = None
    if userinfo:
        netloc = f"{user}@{hostport}" if user else hostport
    query = parse_qsl(parts.query, keep_blank_values=True)
    public_query = []
    for name, value in query:
        if _SECRET_PARAM.search(name) and value:
            secrets[f"query:{name}"] = value
        else:
            public_query.append((name, value))
    new_query = urlencode(public_query) if len(public_query) != len(query) else parts.query
    public = urlunsplit((parts.scheme, netloc, parts.path, new_query, parts.fragment))
    return Handle(kind, scheme, public, secrets)


def _check_port(text: str, kind: str) -> None:
    try:
        urlsplit(text).port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise HandleError(f"The {kind} handle's port is not a number between 0 and 65535.") from None


def _render(handle: Handle, secrets: dict[str, str], *, masking: bool = False) -> str:
    if handle.kind == APIKEY:
        return secrets.get("value", "")
    if handle.is_database:
        url = make_url(handle.public)
        placeholder = "CHANGEOVERMASK0" if masking else None
        password = secrets.get("password")
        if password is not None:
            url = url.set(password=placeholder or password)
        query = dict(url.query)
        query.update({slot[6:]: (placeholder or value) for slot, value in secrets.items() if slot.startswith("query:")})
        url = url.set(query=query)
        text = url.render_as_string(hide_password=False)
        return text.replace("CHANGEOVERMASK0", MASK) if placeholder else text
    parts = urlsplit(handle.public)
    netloc = parts.netloc
    if "password" in secrets or "username" in secrets:
        user = secrets.get("username", parts.username or "")
        hostport = netloc.rpartition("@")[2]
        userinfo = f"{user}:{secrets['password']}" if "password" in secrets else user
        netloc = f"{userinfo}@{hostport}"
    params = [(slot[6:], value) for slot, value in secrets.items() if slot.startswith("query:")]
    query_text = parts.query
    if params:
        extra = "&".join(f"{name}={value}" for name, value in params) if masking else urlencode(params)
        query_text = f"{query_text}&{extra}" if query_text else extra
    return urlunsplit((parts.scheme, netloc, parts.path, query_text, parts.fragment))


def _example(kind: str) -> str:
    return {
        "postgresql": "postgresql://user:password@host:5432/dbname",
        "mysql": "mysql://user:password@host:3306/dbname",
        "redis": "redis://:password@host:6379/0",
        "memcached": "memcached://host:11211",
        "amqp": "amqp://user:password@host:5672/vhost",
        "beanstalk": "beanstalk://host:11300",
        "smtp": "smtp://user:password@host:587",
        "s3": "s3://access-key:secret-key@bucket-name",
        "couchdb": "couchdb://user:password@host:5984/dbname",
        "http": "https://api-key@api.example.com or https://api.example.com/?api_key=KEY",
    }.get(kind, "scheme://host")
