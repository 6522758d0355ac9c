"""Resource handles: the URLs through which a deploy reaches its attached resources.

A handle is split into its public part (kept in the inventory) and its secrets (kept in the OS keyring).
Database URLs are parsed by SQLAlchemy's :func:`~sqlalchemy.engine.make_url`, every other kind by
:mod:`urllib.parse`. A malformed handle raises :class:`HandleError` naming the part that is wrong; the
message never repeats the handle itself, which may hold a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from . import engines, kinds
from .errors import HandleError

__all__ = [
    "Handle",
    "HandleError",
    "parse",
    "validate_env_var",
    "MASK",
    "APIKEY",
    "DEFAULT_ENV_VAR",
    "WRITTEN_SUFFIX",
    "same_public",
]

MASK = "•••"

#: scheme (before any ``+driver``) -> resource kind: the kind registry's, in one place
KIND_BY_SCHEME: dict[str, str] = {scheme: kind.name for kind in kinds.KINDS for scheme in kind.schemes}

DATABASE_KINDS = frozenset(engines.NAMES)
#: a bare credential (``STRIPE_API_KEY=sk_live_...``): the whole value is the secret
APIKEY = "apikey"
KINDS = frozenset(kinds.names())

#: the env var a kind is attached under unless the admin names another
DEFAULT_ENV_VAR: dict[str, str] = {kind.name: kind.default_env_var for kind in kinds.KINDS}

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


#: a keyring entry that keeps the text of a secret exactly as the admin wrote it (``password|as-written``)
WRITTEN_SUFFIX = "|as-written"

# The parts of a database URL exactly as SQLAlchemy's make_url finds them (its own pattern), for their spans.
_SQLA_URL = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X | re.S,
)
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})(.{0,2})", re.S)
#: what breaks a raw (as-written) secret inside a URL: percent-encoded when Changeover writes a new one
_BREAKS_URL = re.compile(r"%(?![0-9A-Fa-f]{2})|[@/?#\[\]\s\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Handle:
    """A parsed handle. ``public`` holds no secret; ``secrets`` maps each slot to its secret value.

    Slots: ``password`` (userinfo password), ``username`` (a token in the userinfo, http only),
    ``query:NAME`` (a key in a query parameter), ``value`` (a bare API key).

    ``public`` is the admin's own text with the secrets cut out (a secret query parameter keeps its
    name: ``?api_key=``), so :meth:`full` with the same secrets gives back exactly the text that was
    parsed. ``written`` keeps how each secret was spelled in it (its percent-encoding); a secret that
    Changeover changes (a rotation) is encoded afresh. Database passwords and every query value are held
    decoded; the userinfo secrets of other kinds are held as written, as they always were.
    """

    kind: str
    scheme: str
    public: str
    secrets: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    written: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

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
        """This handle with ``secrets``: slot values, and ``SLOT|as-written`` entries from :attr:`keyring_entries`."""
        plain = {k: v for k, v in secrets.items() if not k.endswith(WRITTEN_SUFFIX)}
        spelled = {k[: -len(WRITTEN_SUFFIX)]: v for k, v in secrets.items() if k.endswith(WRITTEN_SUFFIX)}
        return Handle(self.kind, self.scheme, self.public, plain, {**self.written, **spelled})

    @property
    def keyring_entries(self) -> dict[str, str]:
        """What to keep in the keyring: the secrets, and the admin's spelling of any that Changeover
        would encode differently (``with_secrets`` takes this mapping back)."""
        entries = dict(self.secrets)
        for slot, value in self.secrets.items():
            spelled = self._spelling(slot, value)
            if spelled is not None and spelled != _encode(self, slot, value):
                entries[slot + WRITTEN_SUFFIX] = spelled
        return entries

    def _spelling(self, slot: str, value: str) -> str | None:
        """The admin's text for ``slot`` if it still spells ``value`` (a rotated secret has none)."""
        spelled = self.written.get(slot)
        if spelled is None or _decode(self, slot, spelled) != value:
            return None
        return spelled

    def full(self) -> str:
        """The complete handle, secrets included: what goes into a deploy's config, nowhere else."""
        if self.kind == APIKEY:
            return self.secrets.get("value", "")
        texts = {}
        for slot, value in self.secrets.items():
            spelled = self._spelling(slot, value)
            texts[slot] = spelled if spelled is not None else _encode(self, slot, value)
        return _render(self.public, texts)

    def masked(self) -> str:
        """The handle for display, in the admin's own words (scheme included): every secret as ``•••``."""
        if self.kind == APIKEY:
            return MASK
        return _render(self.public, dict.fromkeys(self.secrets, MASK))

    def sqlalchemy_url(self) -> URL:
        """The full handle as a SQLAlchemy URL with a driver Changeover ships (databases only)."""
        if not self.is_database:
            raise HandleError(f"A {self.kind} handle is not a database URL.")
        url = make_url(self.full())
        return url.set(drivername=engines.of(self.kind).driver)


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
        _check_database(text, found)
    else:
        _check_generic(text, found)
    return _split_secrets(text, found, scheme)


def _check_database(text: str, kind: str) -> None:
    _check_port(text, kind)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise HandleError(f"The {kind} handle is malformed: expected {_example(kind)}.") from None
    if engines.of(kind).file_based:
        if not url.database or url.database == ":memory:":
            raise HandleError("The sqlite handle names no file: use sqlite:////absolute/path/app.db.")
        if not url.database.startswith("/"):
            raise HandleError(
                "The sqlite handle's path is relative, so it would depend on the folder each program runs "
                "in: give an absolute path: sqlite:////absolute/path/app.db (four slashes).",
            )
    else:
        if not url.host and "host" not in url.query and "unix_socket" not in url.query:
            raise HandleError(f"The {kind} handle names no host: expected {_example(kind)}.")
        if not url.database:
            raise HandleError(f"The {kind} handle names no database: add /DBNAME at the end ({_example(kind)}).")


def _check_generic(text: str, kind: str) -> None:
    _check_port(text, kind)
    if not urlsplit(text).hostname:
        raise HandleError(f"The {kind} handle names no host: expected {_example(kind)}.")


@dataclass(frozen=True)
class _Spans:
    """Where the parts of a handle's text are: (start, end) offsets, or None when a part is absent."""

    authority: tuple[int, int]
    username: tuple[int, int] | None
    password: tuple[int, int] | None
    query: tuple[int, int] | None


def _spans(text: str, *, database: bool) -> _Spans:
    start = text.find("://") + 3 if "://" in text else len(text.split(":", 1)[0]) + 1
    if database:
        m = _SQLA_URL.match(text)
        if m is not None:
            user = m.span("username") if m.group("username") is not None else None
            password = m.span("password") if m.group("password") is not None else None
            query = m.span("query") if m.group("query") is not None else None
            host_end = m.start("database") - 1 if m.group("database") is not None else len(text)
            if query is not None and m.group("database") is None:
                host_end = query[0] - 1
            return _Spans((start, host_end), user, password, query)
        return _Spans((start, len(text)), None, None, None)
    end = len(text)
    for mark in "/?#":
        found = text.find(mark, start)
        if found >= 0:
            end = min(end, found)
    authority = text[start:end]
    at = authority.rfind("@")
    user = password = None
    if at >= 0:
        colon = authority.find(":", 0, at)
        if colon >= 0:
            user, password = (start, start + colon), (start + colon + 1, start + at)
        else:
            user = (start, start + at)
    query = None
    q = text.find("?", end)
    if q >= 0:
        fragment = text.find("#", q)
        query = (q + 1, fragment if fragment >= 0 else len(text))
    return _Spans((start, end), user, password, query)


def _check_escapes(raw: str, what: str) -> None:
    bad = _BAD_ESCAPE.search(raw)
    if bad is not None:
        raise HandleError(
            f"The handle's {what} has an invalid percent-escape '{bad.group(0)}': write a literal % as %25 "
            "(an escape is % followed by two hexadecimal digits).",
        )


def _split_secrets(text: str, kind: str, scheme: str) -> Handle:
    """The admin's text with its secrets cut out, the secrets, and how each one was written."""
    database = kind in DATABASE_KINDS
    spans = _spans(text, database=database)
    secrets: dict[str, str] = {}
    written: dict[str, str] = {}
    cuts: list[tuple[int, int, str]] = []  # (start, end, replacement) in the original text
    user_raw = text[spans.username[0] : spans.username[1]] if spans.username else ""
    if spans.username:
        _check_escapes(user_raw, "user name")
    if spans.password is not None:
        raw = text[spans.password[0] : spans.password[1]]
        _check_escapes(raw, "password")
        if raw:
            secrets["password"] = unquote(raw) if database else raw
            written["password"] = raw
            if user_raw:
                cuts.append((spans.password[0] - 1, spans.password[1], ""))  # ":secret"
            else:
                cuts.append((spans.authority[0], spans.password[1] + 1, ""))  # ":secret@"
    elif kind == "http" and spans.username is not None and user_raw:
        secrets["username"] = user_raw
        written["username"] = user_raw
        cuts.append((spans.username[0], spans.username[1] + 1, ""))  # "token@"
    if spans.query is not None:
        offset = spans.query[0]
        for piece in text[spans.query[0] : spans.query[1]].split("&"):
            name_raw, eq, value_raw = piece.partition("=")
            name = unquote_plus(name_raw)
            if eq and value_raw and _SECRET_PARAM.search(name):
                _check_escapes(value_raw, f"query parameter {name}")
                slot = f"query:{name}"
                if slot not in secrets:
                    secrets[slot] = unquote_plus(value_raw)
                    written[slot] = value_raw
                    value_start = offset + len(name_raw) + 1
                    cuts.append((value_start, value_start + len(value_raw), ""))  # keeps "name="
            offset += len(piece) + 1
    public = text
    for start, end, replacement in sorted(cuts, reverse=True):
        public = public[:start] + replacement + public[end:]
    return Handle(kind, scheme, public, secrets, written)


def _decode(handle: Handle, slot: str, text: str) -> str:
    if slot.startswith("query:"):
        return unquote_plus(text)
    return unquote(text) if handle.is_database else text


def _encode(handle: Handle, slot: str, value: str) -> str:
    """``value`` as Changeover writes it into a handle (a new secret, or one whose spelling is unknown)."""
    # SQLAlchemy's own quoting (what earlier versions wrote, so their config files come back the same).
    if slot.startswith("query:"):
        return quote_plus(value)
    if handle.is_database:
        return quote(value, safe=" +")
    # Other kinds hold their userinfo secrets as written: only what would break the URL is encoded.
    return _BREAKS_URL.sub(lambda m: quote(m.group(0), safe=""), value)


def _render(public: str, texts: dict[str, str]) -> str:
    """``public`` with each secret's text put back in its place (``texts``: slot -> text to insert)."""
    if not texts:
        return public
    database = KIND_BY_SCHEME.get(public.split(":", 1)[0].lower().partition("+")[0]) in DATABASE_KINDS
    result = public
    query_texts = [(slot[6:], value) for slot, value in texts.items() if slot.startswith("query:")]
    if query_texts:
        result = _put_query(result, query_texts, database=database)
    spans = _spans(result, database=database)
    start = spans.authority[0]
    if "password" in texts:
        if spans.username is not None and result[spans.username[1] : spans.username[1] + 1] == "@":
            at = spans.username[1]
            result = f"{result[:at]}:{texts['password']}{result[at:]}"
        else:
            result = f"{result[:start]}:{texts['password']}@{result[start:]}"
    if "username" in texts:
        result = f"{result[:start]}{texts['username']}@{result[start:]}"
    return result


def _put_query(text: str, params: list[tuple[str, str]], *, database: bool) -> str:
    """Fill each ``name=`` left in the query by the split; append a parameter that has no place yet."""
    spans = _spans(text, database=database)
    if spans.query is None:
        fragment = text.find("#", spans.authority[1]) if not database else -1
        head, tail = (text[:fragment], text[fragment:]) if fragment >= 0 else (text, "")
        query_pieces: list[str] = []
        before, after = head + "?", tail
    else:
        query_pieces = text[spans.query[0] : spans.query[1]].split("&")
        before, after = text[: spans.query[0]], text[spans.query[1] :]
    for name, value in params:
        for i, piece in enumerate(query_pieces):
            name_raw, eq, value_raw = piece.partition("=")
            if eq and not value_raw and unquote_plus(name_raw) == name:
                query_pieces[i] = f"{name_raw}={value}"
                break
        else:
            query_pieces.append(f"{quote(name, safe='')}={value}")
    return before + "&".join(p for p in query_pieces if p or len(query_pieces) == 1) + after


def same_public(a: str, b: str) -> bool:
    """Whether two public parts name the same place, however each is spelled.

    One may be the admin's own text and the other as an earlier version stored it (re-rendered by
    SQLAlchemy, a secret query parameter dropped instead of left as ``name=``).
    """
    return _canonical(a) == _canonical(b)


def _canonical(public: str) -> tuple[object, ...]:
    try:
        handle = parse(public)
    except HandleError:
        return (public,)
    parts = urlsplit(handle.public)
    query = sorted(
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if value or not _SECRET_PARAM.search(name)
    )
    if handle.is_database:
        url = make_url(handle.public)
        return (url.drivername.lower(), url.username, url.host, url.port, url.database, tuple(query))
    return (
        parts.scheme.lower(),
        unquote(parts.username or ""),
        (parts.hostname or "").lower(),
        parts.port,
        unquote(parts.path),
        tuple(query),
        parts.fragment,
    )


def _check_port(text: str, kind: str) -> None:
    try:
        urlsplit(text).port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise HandleError(f"The {kind} handle's port is not a number between 0 and 65535.") from None


def _example(kind: str) -> str:
    known = {k.name: k for k in kinds.KINDS}.get(kind)
    return known.example if known is not None and known.example else "scheme://host"
