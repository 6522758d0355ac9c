"""Rotation of a Redis ACL user (a second password) and a RabbitMQ user (alternating users, rabbitmqctl), and a
propagation across three deploys whose second restart fails: the shared Redis and RabbitMQ, unique users."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dotenv import dotenv_values

from changeover.core.checks import check
from changeover.core.errors import Conflict
from changeover.core.handles import parse
from changeover.core.rotation import RotationFailed, rabbitmq_answer
from changeover.core.workspace import Workspace
from tests.conftest import server_unavailable, unique_name
from tests.core.redis_deploys import DEPLOYS, make_three_deploys, ping, restarts

pytestmark = pytest.mark.servers

OLD_PW = "old-r0tation-pw"
#: what an app does on start: read REDIS_URL from its .env and talk to the Redis with it; b-shop fails on demand
HOOK = """case "$1" in *b-shop*) [ -f "$(dirname "$1")/fail" ] && { echo "b-shop will not start" >&2; exit 3; };; esac
url=$(sed -n 's/^REDIS_URL=//p' .env)
echo "$(redis-cli -u "$url" --no-auth-warning ping 2>&1 | head -c 40)" >> "$1"
"""


def redis(*args: str) -> str:
    done = subprocess.run(["redis-cli", *args], capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()


@pytest.fixture
def acl_user() -> Iterator[str]:
    """A unique ACL user on the shared Redis with the old password, allowed its own keys only; deleted after."""
    if not ping("-h", "127.0.0.1", "-p", "6379"):
        server_unavailable("Redis on 127.0.0.1:6379", ConnectionError("no PONG"))
    user = unique_name("co_rot")
    assert (
        redis("ACL", "SETUSER", user, "on", f">{OLD_PW}", f"~{user}:*", "+@read", "+@write", "+ping", "+info") == "OK"
    )
    yield user
    redis("ACL", "DELUSER", user)


def redis_url(user: str, password: str) -> str:
    return f"redis://{user}:{password}@127.0.0.1:6379/0"


def passwords(user: str) -> int:
    """How many passwords the ACL user has (their hashes; never the values)."""
    lines = redis("ACL", "GETUSER", user).splitlines()
    at = lines.index("passwords")
    following = lines[at + 1 :]
    end = following.index("commands") if "commands" in following else len(following)
    return len(following[:end])


def authenticates(user: str, password: str) -> bool:
    return check(parse(redis_url(user, password))).ok


def test_redis_acl_user_gets_a_second_password_then_loses_the_old_one(
    workspace: Workspace, tmp_path: Path, acl_user: str
) -> None:
    envs = make_three_deploys(workspace, tmp_path, redis_url(acl_user, OLD_PW), HOOK)
    with pytest.raises(Conflict, match=f"No handle Changeover holds may change the Redis ACL user {acl_user}"):
        workspace.rotate("cache")  # its own user may not run ACL, and no admin handle is registered
    assert passwords(acl_user) == 1 and dotenv_values(envs["a-shop"])["REDIS_URL"] == redis_url(acl_user, OLD_PW)

    workspace.register_resource("redis-admin", "redis://127.0.0.1:6379/0")  # the shared Redis' default user
    result = workspace.rotate("cache")

    assert result.deploys == DEPLOYS and "redis-admin" in result.how
    new = dotenv_values(envs["a-shop"])["REDIS_URL"] or ""
    password = parse(new).secrets["password"]
    assert new == redis_url(acl_user, password) and password != OLD_PW
    assert all(dotenv_values(env)["REDIS_URL"] == new for env in envs.values())
    assert all(restarts(env)[-1] == "PONG" for env in envs.values())  # each restarted app reached Redis
    assert authenticates(acl_user, password) and not authenticates(acl_user, OLD_PW)
    assert passwords(acl_user) == 1
    assert "in memory only" in result.note  # the shared Redis has no ACL file
    assert workspace.full_handle("cache") == new
    [event] = [e for e in workspace.events("cache") if e.action == "rotate password" and e.result == "ok"]
    assert all(d in event.detail for d in DEPLOYS) and password not in event.detail and OLD_PW not in event.detail


def test_a_failed_restart_puts_the_first_deploy_back_and_revokes_nothing(
    workspace: Workspace, tmp_path: Path, acl_user: str
) -> None:
    redis("ACL", "SETUSER", acl_user, "+acl")  # this user may rotate itself
    old = redis_url(acl_user, OLD_PW)
    envs = make_three_deploys(workspace, tmp_path, old, HOOK)
    (tmp_path / "b-shop" / "fail").write_text("")
    before = {name: restarts(env) for name, env in envs.items()}

    with pytest.raises(RotationFailed) as failure:
        workspace.rotate("cache")

    message = failure.value.message
    assert "stopped at deploy 'b-shop'" in message and "a-shop was put back on the old credential" in message
    assert "the old one still works: nothing changed" in message
    assert all(dotenv_values(env)["REDIS_URL"] == old for env in envs.values())
    assert restarts(envs["a-shop"]) == [*before["a-shop"], "PONG", "PONG"]  # rotated, then put back: both worked
    assert restarts(envs["c-shop"]) == before["c-shop"]  # never reached
    assert authenticates(acl_user, OLD_PW) and passwords(acl_user) == 1  # the new password was removed
    assert workspace.full_handle("cache") == old and workspace.show_resource("cache").secret_rotated_at is None
    [event] = [e for e in workspace.events("cache") if e.action == "rotate password"]
    assert event.result == "failed" and "a-shop" in event.detail and "b-shop" in event.detail
    assert OLD_PW not in event.detail and "revoked" not in event.detail


def test_a_requirepass_redis_rotates_its_default_user_through_its_own_handle(
    workspace: Workspace, tmp_path: Path, redis_port: int
) -> None:
    from tests.core.redis_deploys import OLD_PW as REQUIREPASS

    old = f"redis://:{REQUIREPASS}@127.0.0.1:{redis_port}/0"  # requirepass: the default user, no name
    envs = make_three_deploys(workspace, tmp_path, old, HOOK)

    result = workspace.rotate("cache")

    new = dotenv_values(envs["c-shop"])["REDIS_URL"] or ""
    password = parse(new).secrets["password"]
    assert new == f"redis://:{password}@127.0.0.1:{redis_port}/0" and "through cache's handle" in result.how
    assert check(parse(new)).ok and not check(parse(old)).ok  # redis-py: AUTH with the password alone
    assert all(dotenv_values(env)["REDIS_URL"] == new for env in envs.values())
    assert "requirepass" in result.note  # it has no ACL file: the admin is told to update its configuration


# -- RabbitMQ ----------------------------------------------------------------------------------------


def rabbitmqctl(*args: str, stdin: str | None = None) -> str:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    done = subprocess.run([ctl, "-q", *args], input=stdin, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def rabbit_users() -> dict[str, list[str]]:
    answer = rabbitmq_answer(rabbitmqctl("list_users", "--formatter", "json"))
    return {str(u["user"]): u["tags"] for u in answer}


@pytest.fixture
def rabbit_user() -> Iterator[str]:
    """A unique RabbitMQ user with a tag and permissions on the default vhost; it and its alternate deleted after."""
    if not (shutil.which("rabbitmqctl") or Path("/usr/sbin/rabbitmqctl").exists()):
        server_unavailable("rabbitmqctl", FileNotFoundError("rabbitmqctl is not installed"))
    try:
        subprocess.run(["rabbitmqctl", "-q", "status"], capture_output=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        server_unavailable("RabbitMQ on this machine", exc)
    user = unique_name("co_rot")
    rabbitmqctl("add_user", user, stdin=OLD_PW)
    rabbitmqctl("set_user_tags", user, "monitoring")
    rabbitmqctl("set_permissions", "-p", "/", user, f"^{user}.*", ".*", ".*")
    yield user
    for name in (user, f"{user}_alt"):
        if name in rabbit_users():
            rabbitmqctl("delete_user", name)


def amqp_url(user: str, password: str) -> str:
    return f"amqp://{user}:{password}@127.0.0.1:5672/%2F"


def test_rabbitmq_user_alternates_with_a_second_user_of_the_same_tags_and_permissions(
    workspace: Workspace, tmp_path: Path, rabbit_user: str
) -> None:
    workspace.register_resource("queue", amqp_url(rabbit_user, OLD_PW))
    env = tmp_path / ".env"
    env.write_text("")
    workspace.add_deploy("worker", str(env), restart_cmd="true")
    workspace.attach("queue", "worker")

    first = workspace.rotate("queue")

    alternate = f"{rabbit_user}_alt"
    new = dotenv_values(env)["AMQP_URL"] or ""
    assert first.deploys == ("worker",) and new.startswith(f"amqp://{alternate}:")
    assert check(parse(new)).ok and not check(parse(amqp_url(rabbit_user, OLD_PW))).ok
    users = rabbit_users()
    assert rabbit_user not in users and users[alternate] == ["monitoring"]
    [permission] = rabbitmq_answer(rabbitmqctl("list_user_permissions", alternate, "--formatter", "json"))
    assert permission == {"vhost": "/", "configure": f"^{rabbit_user}.*", "write": ".*", "read": ".*"}

    second = workspace.rotate("queue")  # back to the first user of the pair, with a new password

    back = dotenv_values(env)["AMQP_URL"] or ""
    assert second.deploys == ("worker",) and back.startswith(f"amqp://{rabbit_user}:") and check(parse(back)).ok
    assert alternate not in rabbit_users() and not check(parse(new)).ok
    assert workspace.full_handle("queue") == back
    for event in [e for e in workspace.events("queue") if e.action == "rotate password"]:
        assert event.result == "ok" and "worker" in event.detail
        assert parse(new).secrets["password"] not in event.detail and OLD_PW not in event.detail
