"""The kind registry agrees with the handle parser and finds kinds by scheme and by conventional names."""

from __future__ import annotations

import pytest

from changeover.core import handles, kinds
from changeover.core.checks import CheckStatus
from changeover.core.errors import InvalidInput


def test_every_handle_kind_and_scheme_is_in_the_registry() -> None:
    assert set(kinds.names()) == set(handles.KINDS)
    assert {s: k.name for k in kinds.KINDS for s in k.schemes} == handles.KIND_BY_SCHEME


def test_every_kind_has_the_default_variable_handles_uses_and_recognises_it() -> None:
    for kind in kinds.KINDS:
        assert kind.default_env_var == handles.DEFAULT_ENV_VAR[kind.name], kind.name
        assert kind.matches_env_var(kind.default_env_var)


@pytest.mark.parametrize(
    ("var", "kind"),
    [
        ("DATABASE_URL", "postgresql"),
        ("REDIS_URL", "redis"),
        ("REDISCLOUD_URL", "redis"),
        ("MEMCACHED_SERVERS", "memcached"),
        ("MEMCACHIER_SERVERS", "memcached"),
        ("CLOUDAMQP_URL", "amqp"),
        ("AMQP_URL", "amqp"),
        ("RABBITMQ_URL", "amqp"),
        ("BEANSTALK_URL", "beanstalk"),
        ("SMTP_URL", "smtp"),
        ("MAILGUN_SMTP_SERVER", "smtp"),
        ("POSTMARK_API_TOKEN", "smtp"),
        ("S3_BUCKET", "s3"),
        ("COUCHDB_URL", "couchdb"),
        ("SENTRY_DSN", "http"),
        ("NEW_RELIC_LICENSE_KEY", "apikey"),
        ("STRIPE_API_KEY", "apikey"),
        ("GITHUB_TOKEN", "apikey"),
        ("stripe_api_key", "apikey"),
    ],
)
def test_conventional_names_find_their_kind(var: str, kind: str) -> None:
    found = kinds.for_env_var(var)
    assert found is not None and found.name == kind


def test_unrelated_names_are_no_kind() -> None:
    assert kinds.for_env_var("HOME") is None
    assert kinds.for_env_var("WEB_CONCURRENCY") is None


def test_schemes_ports_and_lookup() -> None:
    pg = kinds.by_scheme("postgresql+psycopg")
    assert pg is not None and pg.name == "postgresql" and pg.default_port == 5432 and pg.is_database
    assert kinds.by_scheme("gopher") is None
    amqp = kinds.get("amqp")
    assert (amqp.port_for("amqp"), amqp.port_for("amqps")) == (5672, 5671)
    assert kinds.get("smtp").port_for("smtps") == 465
    assert kinds.get("sqlite").default_port is None
    assert kinds.get("couchdb").health_path == "/_up"
    assert kinds.Carriage.BARE_KEY in kinds.get("apikey").carriage
    with pytest.raises(InvalidInput, match="Unknown kind 'gopher'"):
        kinds.get("gopher")


def test_a_bare_api_key_is_not_checkable() -> None:
    result = kinds.get("apikey").check(handles.parse("sk_live_abc", kind="apikey"), 1.0)
    assert result.status is CheckStatus.NOT_CHECKABLE
    assert "sk_live_abc" not in result.reason
