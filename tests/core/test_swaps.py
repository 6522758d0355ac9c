"""Swap a Redis on three deploys: real Redis servers, real .env files, real restart hooks that ping them."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from changeover.core.errors import Conflict
from changeover.core.swaps import SwapFailed
from changeover.core.workspace import Workspace
from tests.conftest import server_unavailable
from tests.core.redis_deploys import DEPLOYS, free_port, make_three_deploys, ping, private_redis, restarts

OLD_HANDLE = "redis://127.0.0.1:6379/0"
PASSWORD = "hosted-s3cret-pw"
#: a restart hook that does what an app does on start: read REDIS_URL from its .env and talk to it
HOOK = """url=$(sed -n 's/^REDIS_URL=//p' .env)
port=${url##*:}; port=${port%%/*}
echo "$port $(redis-cli -u "$url" ping 2>/dev/null)" >> "$1"
"""


@pytest.fixture(scope="module")
def machine_redis() -> str:
    if not ping("-h", "127.0.0.1", "-p", "6379"):
        server_unavailable("Redis on 127.0.0.1:6379", ConnectionError("no PONG"))
    return OLD_HANDLE


@pytest.fixture
def hosted_redis(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A Redis of its own, with a password, on a free port: the "hosted" one a swap moves to."""
    with private_redis(tmp_path, PASSWORD) as port:
        yield f"redis://default:{PASSWORD}@127.0.0.1:{port}/0", port  # redis-cli 7.0 needs the user name


@pytest.fixture
def three_deploys(workspace: Workspace, tmp_path: Path, machine_redis: str) -> dict[str, Path]:
    """Three deploys on the machine's Redis (registered as ``cache``), each with a hook that pings it."""
    return make_three_deploys(workspace, tmp_path, machine_redis, HOOK)


def test_swap_on_three_deploys_moves_each_one_and_keeps_the_old_detached(
    workspace: Workspace, three_deploys: dict[str, Path], hosted_redis: tuple[str, int]
) -> None:
    handle, port = hosted_redis
    workspace.register_resource("hosted-cache", handle)

    result = workspace.swap("cache", "hosted-cache", keep_days=3)

    assert result.switched == tuple((name, "REDIS_URL") for name in DEPLOYS)
    for name, env in three_deploys.items():
        assert env.read_text() == f"# {name}\nexport DEBUG=0\nSECRET_KEY='k3y {name}'\nREDIS_URL={handle}\n"
        # the restart after the swap reached the hosted Redis with its password
        assert restarts(env) == ["6379 PONG", f"{port} PONG"]
    assert result.old.state == "detached" and not result.old.attachments
    assert result.old.keep_until is not None and result.old.detached_at is not None
    assert (result.old.keep_until - result.old.detached_at).days == 3
    assert result.new.state == "attached"
    assert sorted(a.deploy for a in result.new.attachments) == list(DEPLOYS)
    assert result.new.handle == f"redis://default:•••@127.0.0.1:{port}/0"
    assert f"at 127.0.0.1:{port} answered PING" in result.check
    event = workspace.events("cache", limit=1)[0]
    assert (event.action, event.result) == ("swap", "ok")
    assert PASSWORD not in event.detail and "a-shop: REDIS_URL switched" in event.detail


def test_a_failing_restart_on_the_second_deploy_puts_the_first_back(
    workspace: Workspace, three_deploys: dict[str, Path], hosted_redis: tuple[str, int]
) -> None:
    handle, port = hosted_redis
    workspace.register_resource("hosted-cache", handle)
    workspace.edit_deploy("b-shop", restart_cmd="echo cannot start >&2; exit 3")
    before = {name: env.read_bytes() for name, env in three_deploys.items()}

    with pytest.raises(SwapFailed) as failed:
        workspace.swap("cache", "hosted-cache")

    message = failed.value.message
    assert "stopped at deploy 'b-shop'" in message and "(exit 3): cannot start" in message
    assert "a-shop was put back on 'cache' and restarted" in message
    assert PASSWORD not in message
    for name, env in three_deploys.items():
        assert env.read_bytes() == before[name], name  # byte-identical, the failed one too
    # a-shop reached the hosted Redis, then was restarted on the old one; c-shop was never touched
    assert restarts(three_deploys["a-shop"]) == ["6379 PONG", f"{port} PONG", "6379 PONG"]
    assert restarts(three_deploys["c-shop"]) == ["6379 PONG"]
    old = workspace.show_resource("cache")
    assert old.state == "attached" and old.keep_until is None
    assert sorted((a.deploy, a.env_var) for a in old.attachments) == [(n, "REDIS_URL") for n in DEPLOYS]
    new = workspace.show_resource("hosted-cache")
    assert new.state == "available" and not new.attachments and new.keep_until is None
    for name in DEPLOYS:
        assert [(a.resource, a.env_var) for a in workspace.show_deploy(name).attachments] == [("cache", "REDIS_URL")]
    assert workspace.recover() == []  # no change left pending
    event = workspace.events("cache", limit=1)[0]
    assert (event.action, event.result) == ("swap", "failed")
    assert "a-shop: put back on cache" in event.detail and PASSWORD not in event.detail


def test_a_new_resource_that_does_not_answer_is_refused_before_any_change(
    workspace: Workspace, three_deploys: dict[str, Path]
) -> None:
    port = free_port()  # nothing listens there
    workspace.register_resource("gone-cache", f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    before = {name: env.read_bytes() for name, env in three_deploys.items()}

    with pytest.raises(
        Conflict, match=r"'gone-cache' did not pass its check \(Connection refused.*no deploy was changed"
    ) as refused:
        workspace.swap("cache", "gone-cache")

    assert PASSWORD not in refused.value.message
    assert {name: env.read_bytes() for name, env in three_deploys.items()} == before
    assert all(restarts(env) == ["6379 PONG"] for env in three_deploys.values())
    assert workspace.show_resource("cache").state == "attached"


def test_databases_kinds_and_unattached_resources_are_refused(
    workspace: Workspace, three_deploys: dict[str, Path]
) -> None:
    workspace.register_resource("db", "postgresql://app@127.0.0.1:5432/app")
    workspace.register_resource("db2", "postgresql://app@127.0.0.1:5432/app2")
    workspace.register_resource("queue", "amqp://guest@127.0.0.1:5672/")
    workspace.register_resource("spare", "redis://127.0.0.1:6379/3")
    with pytest.raises(Conflict, match=r"database.*changeover upgrade db"):
        workspace.swap("db", "db2")
    with pytest.raises(Conflict, match="same kind"):
        workspace.swap("cache", "queue")
    with pytest.raises(Conflict, match="attached to no deploy"):
        workspace.swap("spare", "cache")
    assert workspace.show_resource("cache").state == "attached"


def test_a_new_redis_with_the_wrong_password_is_refused_by_its_own_check(
    workspace: Workspace, three_deploys: dict[str, Path], hosted_redis: tuple[str, int]
) -> None:
    _, port = hosted_redis
    workspace.register_resource("hosted-cache", f"redis://default:not-the-password@127.0.0.1:{port}/0")
    before = {name: env.read_bytes() for name, env in three_deploys.items()}

    with pytest.raises(Conflict, match=r"did not pass its check \(Wrong password") as refused:
        workspace.swap("cache", "hosted-cache")

    assert "not-the-password" not in refused.value.message
    assert {name: env.read_bytes() for name, env in three_deploys.items()} == before
    assert workspace.show_resource("hosted-cache").state == "available"


def test_the_cli_swaps_and_reports_a_refusal_in_one_line(
    workspace: Workspace,
    three_deploys: dict[str, Path],
    hosted_redis: tuple[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from changeover.cli import main

    handle, port = hosted_redis
    workspace.register_resource("hosted-cache", handle)
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))
    out, err = io.StringIO(), io.StringIO()
    assert main(["swap", "cache", "cache"], out, err) == 1
    assert err.getvalue().startswith("changeover: 'cache' cannot be swapped for itself")

    out, err = io.StringIO(), io.StringIO()
    assert main(["swap", "cache", "hosted-cache", "--keep-days", "2"], out, err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Checked hosted-cache: Redis") and lines[0].endswith("answered PING.")
    assert lines[1:4] == [f"  {name}: REDIS_URL -> hosted-cache, restarted" for name in DEPLOYS]
    assert lines[4].startswith("Swapped cache for hosted-cache; cache is detached, kept until ")
    assert PASSWORD not in out.getvalue()
    assert all(restarts(env)[-1] == f"{port} PONG" for env in three_deploys.values())
