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
            "https://api.example.com/v2?region=eu",
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
    if handle.is_database:
        assert make_url(handle.full()) == make_url(text)
    else:
        assert handle.full() == text


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
