"""Resource handles: every kind parses, secrets split off, malformed ones named precisely."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from changeover.core import handles
from changeover.core.errors import HandleError


@pytest.mark.parametrize(
    ("text", "kind", "public", "masked"),
    [
        (
            "postgres://app:pw@db.internal:5432/app",
            "postgresql",
            "postgres://app@db.internal:5432/app",
            "postgres://app:•••@db.internal:5432/app",
        ),
        (
            "postgresql+psycopg://app:pw@db/app?sslmode=require",
            "postgresql",
            "postgresql+psycopg://app@db/app?sslmode=require",
            "postgresql+psycopg://app:•••@db/app?sslmode=require",
        ),
        ("mysql://u:pw@h:3306/shop", "mysql", "mysql://u@h:3306/shop", "mysql://u:•••@h:3306/shop"),
        ("mariadb+pymysql://u:pw@h/shop", "mysql", "mariadb+pymysql://u@h/shop", "mariadb+pymysql://u:•••@h/shop"),
        ("sqlite:////var/lib/app/app.db", "sqlite", "sqlite:////var/lib/app/app.db", "sqlite:////var/lib/app/app.db"),
        ("redis://:pw@cache:6379/0", "redis", "redis://cache:6379/0", "redis://:•••@cache:6379/0"),
        ("rediss://default:pw@cache:6380", "redis", "rediss://default@cache:6380", "rediss://default:•••@cache:6380"),
        ("memcached://cache:11211", "memcached", "memcached://cache:11211", "memcached://cache:11211"),
        ("amqp://guest:pw@mq:5672/%2f", "amqp", "amqp://guest@mq:5672/%2f", "amqp://guest:•••@mq:5672/%2f"),
        ("amqps://u:pw@mq/vhost", "amqp", "amqps://u@mq/vhost", "amqps://u:•••@mq/vhost"),
        ("beanstalk://queue:11300", "beanstalk", "beanstalk://queue:11300", "beanstalk://queue:11300"),
        (
            "smtp://mailer:pw@smtp.example.com:587",
            "smtp",
            "smtp://mailer@smtp.example.com:587",
            "smtp://mailer:•••@smtp.example.com:587",
        ),
        (
            "smtps://mailer:pw@smtp.example.com",
            "smtp",
            "smtps://mailer@smtp.example.com",
            "smtps://mailer:•••@smtp.example.com",
        ),
        ("s3://AKIAEXAMPLE:pw@my-bucket", "s3", "s3://AKIAEXAMPLE@my-bucket", "s3://AKIAEXAMPLE:•••@my-bucket"),
        (
            "couchdb://admin:pw@couch:5984/db",
            "couchdb",
            "couchdb://admin@couch:5984/db",
            "couchdb://admin:•••@couch:5984/db",
        ),
        (
            "https://pw@metrics.example.com/v1",
            "http",
            "https://metrics.example.com/v1",
            "https://•••@metrics.example.com/v1",
        ),
        (
            "https://api.example.com/v2?region=eu&api_key=pw",
            "http",
            "https://api.example.com/v2?region=eu&api_key=",
            "https://api.example.com/v2?region=eu&api_key=•••",
        ),
    ],
)
def test_every_kind_parses_and_masks(text: str, kind: str, public: str, masked: str) -> None:
    handle = handles.parse(text)
    assert handle.kind == kind
    assert handle.public == public
    assert handle.masked() == masked
    assert "pw" not in handle.public.replace("pymysql", "")
    if "pw" in text:
        assert list(handle.secrets.values()) == ["pw"]
    assert handles.parse(handle.full()).public == public
    assert handle.full() == text
    if handle.is_database:
        assert make_url(handle.full()) == make_url(text)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", "empty"),
        ("db.internal/app", "no scheme"),
        ("oracle://u:p@h/db", "Unknown scheme 'oracle://'"),
        ("redis+hiredis://h", "driver suffix '+hiredis'"),
        ("postgresql://u:p@h:notaport/db", "port"),
        ("redis://h:99999", "port"),
        ("postgresql://u:p@h", "no database"),
        ("mysql:///shop", "no host"),
        ("amqp:///vhost", "no host"),
        ("sqlite://", "no file"),
    ],
)
def test_malformed_handles_name_the_wrong_part(text: str, names: str) -> None:
    with pytest.raises(HandleError, match=re.escape(names)) as caught:
        handles.parse(text)
    assert "p@h" not in caught.value.message


def test_kind_must_agree_with_the_scheme() -> None:
    with pytest.raises(HandleError, match="is a redis handle, not postgresql"):
        handles.parse("redis://h", kind="postgresql")


def test_bare_api_key() -> None:
    handle = handles.parse("sk_live_123", kind="apikey")
    assert handle.public == "" and handle.masked() == "•••" and handle.full() == "sk_live_123"


@pytest.mark.parametrize("name", ["DATABASE_URL", "_X", "a1"])
def test_valid_env_var_names(name: str) -> None:
    assert handles.validate_env_var(name) == name


@pytest.mark.parametrize("name", ["1X", "BAD-NAME", "A B", "É", "MY_DB\n", "MY_DB\r\n", "\nMY_DB", "A\0"])
def test_invalid_env_var_names(name: str) -> None:
    with pytest.raises(HandleError, match="not a valid environment variable name"):
        handles.validate_env_var(name)
    assert not handles.ENV_VAR_NAME.match(name)  # the GUI's check agrees


def test_an_empty_env_var_name_is_refused_as_empty() -> None:
    with pytest.raises(HandleError, match="The variable name is empty"):
        handles.validate_env_var("")


password = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30)


@given(password)
def test_property_database_passwords_survive_the_keyring_split(secret: str) -> None:
    from urllib.parse import quote

    text = f"postgresql://app:{quote(secret, safe='')}@db:5432/app"
    handle = handles.parse(text)
    assert handle.secrets == {"password": secret}
    rebuilt = handles.parse(handle.public).with_secrets(handle.secrets)
    assert make_url(rebuilt.full()).password == secret
    assert handle.public == "postgresql://app@db:5432/app"


# -- the admin's bytes are kept ---------------------------------------------------------------------------


def _from_inventory(handle: handles.Handle) -> handles.Handle:
    """The handle as the workspace rebuilds it: public part and slots, then the keyring's entries."""
    stored = handles.Handle(handle.kind, handle.scheme, handle.public, dict.fromkeys(handle.secrets, ""))
    return stored.with_secrets(handle.keyring_entries)


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://app:p'\"x@db/app",
        "postgresql://app:p\\'\"x@db/app",
        "postgresql://app:p%27%22x@db/app",
        "postgresql://app:p%41%2f@db:5432/app?sslmode=require&application_name=a+b",
        "postgresql://app:pw@db/app?token=s%2Bx&sslmode=require",
        "mysql://u:%70w@h/shop",
        "redis://:p%40ss@cache:6379/0",
        "https://api.example.com/v2?api_key=k%2By&region=eu#top",
        "https://tok%3Aen@api.example.com/",
        "amqp://guest:gu%65st@mq/%2f",
    ],
)
def test_full_gives_back_exactly_the_text_that_was_parsed(text: str) -> None:
    handle = handles.parse(text)
    assert handle.full() == text
    assert _from_inventory(handle).full() == text
    for secret in handle.secrets.values():
        assert secret not in handle.public
    assert handles.parse(handle.masked().replace(handles.MASK, "x")).public == handle.public


def test_the_public_part_stays_secret_free_and_keeps_the_admins_scheme() -> None:
    handle = handles.parse("postgresql://app:p'\"x@db.internal/app")
    assert handle.public == "postgresql://app@db.internal/app"
    assert handle.masked() == "postgresql://app:•••@db.internal/app"
    assert handle.sqlalchemy_url().drivername == "postgresql+psycopg"  # the driver is for connecting only
    assert handle.sqlalchemy_url().password == "p'\"x"


def test_the_admins_spelling_is_kept_in_the_keyring_only_when_it_differs() -> None:
    over = handles.parse("postgresql://app:p%41@db/app")
    assert over.secrets == {"password": "pA"}
    assert over.keyring_entries == {"password": "pA", "password" + handles.WRITTEN_SUFFIX: "p%41"}
    plain = handles.parse("postgresql://app:pA@db/app")
    assert plain.keyring_entries == {"password": "pA"}


def test_a_new_secret_is_encoded_properly() -> None:
    handle = handles.parse("postgresql://app:old@db/app")
    rotated = handle.with_secrets({"password": "n@w/p%ss w'd"})
    assert rotated.full() == "postgresql://app:n%40w%2Fp%25ss w%27d@db/app"  # as SQLAlchemy quotes it
    assert make_url(rotated.full()).password == "n@w/p%ss w'd"
    redis = handles.parse("redis://:old@cache/0").with_secrets({"password": "a@b%zz"})
    assert redis.full() == "redis://:a%40b%25zz@cache/0"
    api = handles.parse("https://h/?api_key=old").with_secrets({"query:api_key": "a&b=c+d"})
    assert handles.parse(api.full()).secrets == {"query:api_key": "a&b=c+d"}


@pytest.mark.parametrize(
    ("public", "secrets", "expected"),
    [
        # public parts as earlier versions stored them (rendered, the secret parameter dropped)
        ("postgresql://app@db:5432/app", {"password": "p'x"}, "postgresql://app:p%27x@db:5432/app"),
        ("postgresql://app@db/app", {"password": "p@x"}, "postgresql://app:p%40x@db/app"),
        ("redis://cache:6379/0", {"password": "pw"}, "redis://:pw@cache:6379/0"),
        ("https://h/v2?region=eu", {"query:api_key": "k"}, "https://h/v2?region=eu&api_key=k"),
        ("https://h/v2", {"query:api_key": "k"}, "https://h/v2?api_key=k"),
        ("https://metrics.example.com/v1", {"username": "tok"}, "https://tok@metrics.example.com/v1"),
        ("postgresql://app@db/app", {"query:password": "s"}, "postgresql://app@db/app?password=s"),
    ],
)
def test_inventories_written_by_earlier_versions_keep_working(
    public: str, secrets: dict[str, str], expected: str
) -> None:
    kind = handles.parse(public).kind
    handle = handles.Handle(kind, public.split(":", 1)[0], public, dict.fromkeys(secrets, "")).with_secrets(secrets)
    assert handle.full() == expected
    assert handles.parse(handle.full()).secrets == secrets


@pytest.mark.parametrize(
    ("text", "escape", "what"),
    [
        ("postgresql://app:secretp%ZZ@db/app", "%ZZ", "password"),
        ("redis://:secret%4@cache/0", "%4@", "password"),
        ("postgresql://us%er:secret@db/app", "%er", "user name"),
        ("https://h/?api_key=secret%G1", "%G1", "query parameter api_key"),
    ],
)
def test_an_invalid_percent_escape_is_refused_and_named(text: str, escape: str, what: str) -> None:
    with pytest.raises(HandleError, match=re.escape(f"{what} has an invalid percent-escape")) as caught:
        handles.parse(text)
    assert "secret" not in caught.value.message


def test_a_relative_sqlite_path_is_refused_and_absolute_ones_work() -> None:
    for relative in ("sqlite:///../../x.db", "sqlite:///app.db"):
        with pytest.raises(HandleError, match=re.escape("give an absolute path: sqlite:////absolute/path/app.db")):
            handles.parse(relative)
    handle = handles.parse("sqlite:////var/lib/app/app.db")
    assert handle.full() == "sqlite:////var/lib/app/app.db"
    assert handle.sqlalchemy_url().database == "/var/lib/app/app.db"


spelling = st.lists(
    st.tuples(st.characters(codec="utf-8", exclude_categories=["Cs"]), st.sampled_from(["raw", "lower", "upper"])),
    min_size=1,
    max_size=20,
)


@given(spelling)
def test_property_any_spelling_of_a_database_password_comes_back_exactly(chars: list[tuple[str, str]]) -> None:
    from urllib.parse import quote

    pieces = []
    for char, how in chars:
        if how == "raw" and char not in "@/%?#[]" and char.isprintable() and not char.isspace():
            pieces.append(char)
        else:
            encoded = quote(char, safe="")
            if encoded == char:
                encoded = "".join(f"%{b:02X}" for b in char.encode())
            pieces.append(encoded.lower() if how == "lower" else encoded)
    text = f"postgresql://app:{''.join(pieces)}@db:5432/app"
    handle = handles.parse(text)
    assert handle.full() == text
    assert _from_inventory(handle).full() == text
    assert make_url(handle.full()).password == handle.secrets["password"]
    assert handle.public == "postgresql://app@db:5432/app"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("postgresql://app@db:5432/app", "postgresql://app@db:5432/app"),
        ("postgresql://a%70p@db/app?b=2&a=1", "postgresql://app@db/app?a=1&b=2"),
        ("https://h/v2?region=eu&api_key=", "https://h/v2?region=eu"),
        ("redis://CACHE:6379/0", "redis://cache:6379/0"),
    ],
)
def test_same_public_sees_one_place_through_two_spellings(a: str, b: str) -> None:
    assert handles.same_public(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("postgresql://app@db:5432/app", "postgresql://app@db:5433/app"),
        ("postgresql://app@db/app", "postgresql://other@db/app"),
        ("https://h/v2?region=eu", "https://h/v2?region=us"),
        ("redis://cache:6379/0", "redis://cache:6379/1"),
    ],
)
def test_same_public_tells_two_places_apart(a: str, b: str) -> None:
    assert not handles.same_public(a, b)
