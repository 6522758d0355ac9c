"""Discovery on import: every kind recognised by scheme and by conventional names; a dry run saves nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from changeover.cli import main
from changeover.core.errors import Conflict
from changeover.core.workspace import Workspace
from tests.memory_keyring import InMemoryKeyring

SECRETS = ("pg-s3cret", "aws/secret+key", "sentry-key", "nr-licence-0123", "sk_live_abc", "ghp_tok", "mg-pw", "mc-pw")
ENV = """# shop
DATABASE_URL=postgresql://shop:pg-s3cret@db.internal:5432/shop
REDIS_URL=redis://cache.internal:6379/0
MEMCACHIER_SERVERS=mc1.internal:11211, mc2.internal:11211
MEMCACHIER_USERNAME=shop
MEMCACHIER_PASSWORD=mc-pw
S3_BUCKET=shop-assets
AWS_REGION=eu-west-1
AWS_ACCESS_KEY_ID=AKIASHOP
AWS_SECRET_ACCESS_KEY=aws/secret+key
SENTRY_DSN=https://sentry-key@o1.ingest.sentry.io/42
NEW_RELIC_LICENSE_KEY=nr-licence-0123
STRIPE_API_KEY=sk_live_abc
GITHUB_TOKEN=ghp_tok
MAILGUN_SMTP_SERVER=smtp.mailgun.org
MAILGUN_SMTP_PORT=587
MAILGUN_SMTP_LOGIN=postmaster@mg.example.com
MAILGUN_SMTP_PASSWORD=mg-pw
SITE_URL=https://shop.example.com
SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T0/B0/XYZ
QUEUE_URL=amqp://guest@mq.internal:notaport/
DEBUG=1
"""
#: (variable, kind, resource, attached, why) as the dry run and the import both report them
EXPECTED = [
    ("DATABASE_URL", "postgresql", "shop-database-url", True, "scheme postgresql://"),
    ("REDIS_URL", "redis", "shop-redis-url", True, "scheme redis://"),
    ("MEMCACHIER_SERVERS", "memcached", "shop-memcachier-servers-1", False,
     "conventional names MEMCACHIER_SERVERS, MEMCACHIER_USERNAME, MEMCACHIER_PASSWORD (server 1 of 2)"),
    ("MEMCACHIER_SERVERS", "memcached", "shop-memcachier-servers-2", False,
     "conventional names MEMCACHIER_SERVERS, MEMCACHIER_USERNAME, MEMCACHIER_PASSWORD (server 2 of 2)"),
    ("S3_BUCKET", "s3", "shop-s3-bucket", False,
     "conventional names S3_BUCKET, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"),
    ("SENTRY_DSN", "http", "shop-sentry-dsn", True, "conventional name SENTRY_DSN"),
    ("NEW_RELIC_LICENSE_KEY", "apikey", "shop-new-relic-license-key", True,
     "conventional name NEW_RELIC_LICENSE_KEY (a bare key)"),
    ("STRIPE_API_KEY", "apikey", "shop-stripe-api-key", True, "conventional name STRIPE_API_KEY (a bare key)"),
    ("GITHUB_TOKEN", "apikey", "shop-github-token", True, "conventional name GITHUB_TOKEN (a bare key)"),
    ("MAILGUN_SMTP_SERVER", "smtp", "shop-mailgun-smtp-server", False,
     "conventional names MAILGUN_SMTP_SERVER, MAILGUN_SMTP_PORT, MAILGUN_SMTP_LOGIN, MAILGUN_SMTP_PASSWORD"),
]  # fmt: skip


@pytest.fixture
def env(tmp_path: Path) -> Path:
    path = tmp_path / "shop" / ".env"
    path.parent.mkdir()
    path.write_text(ENV)
    return path


def everything(ws: Workspace) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every inventory table."""
    with ws.inventory.engine.connect() as conn:
        return {
            table: [tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))]
            for table in sa.inspect(conn).get_table_names()
        }


def summary(result: object) -> list[tuple[object, ...]]:
    return [(r.variable, r.kind, r.resource, r.attach, r.why) for r in result.recognised]  # type: ignore[attr-defined]


def test_a_dry_run_lists_what_it_recognised_and_saves_nothing(
    workspace: Workspace, env: Path, memory_keyring: InMemoryKeyring
) -> None:
    before = everything(workspace)
    data = env.read_bytes()

    preview = workspace.import_deploy("shop", str(env), dry_run=True, restart_cmd="true")

    assert preview.dry_run
    assert summary(preview) == EXPECTED
    assert everything(workspace) == before  # no deploy, no resource, no audit row
    assert not memory_keyring.items  # nothing in the keyring
    assert env.read_bytes() == data
    shown = {r.variable + str(i): r.handle for i, r in enumerate(preview.recognised)}
    assert shown["DATABASE_URL0"] == "postgresql://shop:•••@db.internal:5432/shop"
    assert shown["S3_BUCKET4"] == "s3://AKIASHOP:•••@shop-assets?region=eu-west-1"
    assert shown["SENTRY_DSN5"] == "https://•••@o1.ingest.sentry.io/42"
    assert shown["MAILGUN_SMTP_SERVER9"] == "smtp://postmaster%40mg.example.com:•••@smtp.mailgun.org:587"
    assert [v for v, _ in preview.skipped] == ["SLACK_WEBHOOK_URL", "QUEUE_URL"]
    assert "secret is in its path" in preview.skipped[0][1] and "port" in preview.skipped[1][1]
    assert [a.env_var for a in preview.deploy.attachments] == [v for v, _, _, attach, _ in EXPECTED if attach]
    assert preview.deploy.restart_cmd == "true" and preview.deploy.config_location == str(env)
    assert not any(secret in repr(preview) for secret in SECRETS)


def test_the_import_saves_exactly_what_the_dry_run_showed(
    workspace: Workspace, env: Path, memory_keyring: InMemoryKeyring
) -> None:
    preview = workspace.import_deploy("shop", str(env), dry_run=True)
    data = env.read_bytes()

    result = workspace.import_deploy("shop", str(env))

    assert not result.dry_run
    assert summary(result) == summary(preview)
    assert result.attached == preview.attached and result.registered == preview.registered
    assert result.skipped == preview.skipped
    assert env.read_bytes() == data  # the config is not rewritten
    attached = {a.env_var: a.resource for a in workspace.show_deploy("shop").attachments}
    assert attached == dict(preview.attached)
    assert workspace.show_resource("shop-s3-bucket").state == "available"
    assert workspace.show_resource("shop-stripe-api-key").state == "attached"
    assert memory_keyring.items  # the secrets went to the keyring, never the inventory
    text = repr(everything(workspace))
    assert not any(secret in text for secret in SECRETS)
    event = workspace.events("shop", limit=1)[0]
    assert event.action == "import deploy" and "S3_BUCKET -> shop-s3-bucket (registered, not attached)" in event.detail
    # A second dry run: the same database is found registered, the deploy name taken.
    with pytest.raises(Conflict, match="already exists"):
        workspace.import_deploy("shop", str(env), dry_run=True)
    other = env.parent / "worker.env"
    other.write_text("DATABASE_URL=postgresql://shop:pg-s3cret@db.internal:5432/shop\n")
    again = workspace.import_deploy("worker", str(other), dry_run=True)
    assert [(r.resource, r.existing) for r in again.recognised] == [("shop-database-url", True)]


def test_the_cli_dry_run_shows_the_table_and_json_keys_are_only_added(
    workspace: Workspace, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))
    out, err = io.StringIO(), io.StringIO()
    assert main(["import", "shop", "--env-file", str(env), "--dry-run"], out, err) == 0, err.getvalue()
    text = out.getvalue()
    assert text.startswith("Dry run: nothing was saved.")
    assert "RECOGNISED BY" in text and "register only" in text and "skipped SLACK_WEBHOOK_URL:" in text
    assert not any(secret in text for secret in SECRETS)
    out = io.StringIO()
    assert main(["import", "shop", "--env-file", str(env), "--dry-run", "--json"], out, err) == 0
    shown = json.loads(out.getvalue())
    assert {"deploy", "attached", "skipped"} <= set(shown) and shown["dry_run"] is True
    assert [r["variable"] for r in shown["recognised"]] == [e[0] for e in EXPECTED]
    assert workspace.list_deploys() == [] and workspace.list_resources("all") == []
    out = io.StringIO()
    assert main(["import", "shop", "--env-file", str(env)], out, err) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "Imported deploy shop with 6 attached resource(s):"
    assert lines[1] == "  DATABASE_URL -> shop-database-url"
    assert "  S3_BUCKET -> shop-s3-bucket (registered, not attached: the app reads it in its own form)" in lines
