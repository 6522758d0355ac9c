"""Replace a secret everywhere, its dates, and the CLI's reveal: a real Redis with two passwords, real .env
files, real restart hooks that ping it with whatever their .env holds."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest

from changeover.core.errors import Conflict
from changeover.core.resources import ReplaceFailed
from changeover.core.workspace import Workspace
from tests.core.redis_deploys import DEPLOYS, OLD_PW, make_three_deploys, ping, restarts

NEW_PW = "new-s3cret-pw"
#: what an app does on start: read REDIS_URL from its .env and talk to the Redis with it
HOOK = """url=$(sed -n 's/^REDIS_URL=//p' .env)
echo "$(redis-cli -u "$url" --no-auth-warning ping 2>&1 | head -c 40)" >> "$1"
"""


def url(port: int, password: str) -> str:
    return f"redis://default:{password}@127.0.0.1:{port}/0"


def give_new_password(port: int) -> None:
    """What the provider does first: the new password works beside the old one."""
    done = subprocess.run(
        ["redis-cli", "-p", str(port), "-a", OLD_PW, "--no-auth-warning", "ACL", "SETUSER", "default", f">{NEW_PW}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert done.stdout.strip() == "OK"


@pytest.fixture
def three_deploys(workspace: Workspace, tmp_path: Path, redis_port: int) -> dict[str, Path]:
    return make_three_deploys(workspace, tmp_path, url(redis_port, OLD_PW), HOOK)


def cli(workspace: Workspace, monkeypatch: pytest.MonkeyPatch, *argv: str, out: io.StringIO | None = None) -> tuple:
    from changeover.cli import main

    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))
    out = out if out is not None else io.StringIO()
    err = io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_replace_rewrites_every_deploy_and_restarts_each_once(
    workspace: Workspace, three_deploys: dict[str, Path], redis_port: int
) -> None:
    give_new_password(redis_port)
    registered = workspace.show_resource("cache")
    assert registered.secret_set_at is not None and registered.secret_rotated_at is None

    info = workspace.set_resource_secret("cache", url(redis_port, NEW_PW))

    for name, env in three_deploys.items():
        assert (
            env.read_text()
            == f"# {name}\nexport DEBUG=0\nSECRET_KEY='k3y {name}'\nREDIS_URL={url(redis_port, NEW_PW)}\n"
        )
        assert restarts(env) == ["PONG", "PONG"]  # attached, then restarted once with the new secret
    assert workspace.full_handle("cache") == url(redis_port, NEW_PW)
    assert info.secret_set_at == registered.secret_set_at
    assert info.secret_rotated_at is not None and info.secret_rotated_at >= registered.secret_set_at
    assert info.secret_age_days() == 0
    assert sorted(a.deploy for a in info.attachments) == list(DEPLOYS)
    event = workspace.events("cache", limit=1)[0]
    assert (event.action, event.result) == ("replace secret", "ok")
    assert "a-shop: REDIS_URL rewritten" in event.detail and "c-shop: REDIS_URL rewritten" in event.detail
    assert "answered PING" in event.detail
    assert NEW_PW not in event.detail and OLD_PW not in event.detail
    assert workspace.recover() == []


def test_a_failing_second_restart_puts_the_first_deploy_and_the_keyring_back(
    workspace: Workspace, three_deploys: dict[str, Path], redis_port: int
) -> None:
    give_new_password(redis_port)
    workspace.edit_deploy("b-shop", restart_cmd="echo cannot start >&2; exit 3")
    before = {name: env.read_bytes() for name, env in three_deploys.items()}

    with pytest.raises(ReplaceFailed) as failed:
        workspace.set_resource_secret("cache", url(redis_port, NEW_PW))

    message = failed.value.message
    assert "stopped at deploy 'b-shop'" in message and "(exit 3): cannot start" in message
    assert "a-shop was put back on the old secret and restarted" in message
    assert "keyring holds the old secret again" in message
    assert NEW_PW not in message and OLD_PW not in message
    for name, env in three_deploys.items():
        assert env.read_bytes() == before[name], name  # byte-identical, the failed one too
    # a-shop restarted with the new secret, then with the old one again; c-shop was never touched
    assert restarts(three_deploys["a-shop"]) == ["PONG", "PONG", "PONG"]
    assert restarts(three_deploys["c-shop"]) == ["PONG"]
    assert workspace.full_handle("cache") == url(redis_port, OLD_PW)
    assert ping("-u", url(redis_port, OLD_PW), "--no-auth-warning")  # the old secret still works
    assert workspace.show_resource("cache").secret_rotated_at is None
    assert workspace.recover() == []
    event = workspace.events("cache", limit=1)[0]
    assert (event.action, event.result) == ("replace secret", "failed")
    assert "a-shop: put back on the old secret" in event.detail
    assert "old secret put back in the keyring" in event.detail
    assert NEW_PW not in event.detail and OLD_PW not in event.detail


def test_a_new_secret_the_service_refuses_changes_nothing(
    workspace: Workspace, three_deploys: dict[str, Path], redis_port: int
) -> None:
    before = {name: env.read_bytes() for name, env in three_deploys.items()}

    with pytest.raises(Conflict, match=r"did not accept the new secret \(.*nothing was changed") as refused:
        workspace.set_resource_secret("cache", url(redis_port, NEW_PW))  # never given to the Redis

    assert NEW_PW not in refused.value.message
    assert {name: env.read_bytes() for name, env in three_deploys.items()} == before
    assert all(restarts(env) == ["PONG"] for env in three_deploys.values())
    assert workspace.full_handle("cache") == url(redis_port, OLD_PW)


def test_keep_deploys_from_the_cli_changes_only_the_keyring(
    workspace: Workspace, three_deploys: dict[str, Path], redis_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {name: env.read_bytes() for name, env in three_deploys.items()}
    monkeypatch.setattr("sys.stdin", io.StringIO(url(redis_port, NEW_PW) + "\n"))

    code, out, err = cli(workspace, monkeypatch, "resource", "secret", "cache", "-", "--keep-deploys")

    assert code == 0, err
    assert out.splitlines()[0] == "Replaced the secret of cache in the keyring."
    assert "a-shop, b-shop, c-shop still hold the old secret (--keep-deploys)" in out
    assert {name: env.read_bytes() for name, env in three_deploys.items()} == before
    assert all(restarts(env) == ["PONG"] for env in three_deploys.values())
    assert workspace.full_handle("cache") == url(redis_port, NEW_PW)
    assert NEW_PW not in out


def test_the_dates_are_in_resource_list_json_and_show(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace.register_resource("mail", "smtp://app:pw-one@127.0.0.1:2525")
    workspace.register_resource("plain", "redis://127.0.0.1:6379/5")
    workspace.set_resource_secret("mail", "smtp://app:pw-two@127.0.0.1:2525")  # attached nowhere: no check

    code, out, err = cli(workspace, monkeypatch, "resource", "list", "--json")

    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["mail"]["secret_set_at"] and rows["mail"]["secret_rotated_at"]
    assert rows["mail"]["secret_rotated_at"] >= rows["mail"]["secret_set_at"]
    assert rows["plain"]["secret_set_at"] is None and rows["plain"]["secret_rotated_at"] is None
    assert {"name", "kind", "handle", "state", "attachments"} <= set(rows["mail"])  # keys only added
    assert "pw-two" not in out and "pw-one" not in out
    code, out, _ = cli(workspace, monkeypatch, "resource", "show", "mail")
    assert code == 0 and "(0 days old)" in out


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_show_refuses_without_a_terminal_and_every_reveal_is_audited_without_the_value(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = "redis://default:hidden-pw@127.0.0.1:6379/0"
    workspace.register_resource("cache", handle)

    code, out, err = cli(workspace, monkeypatch, "resource", "secret", "cache", "--show")
    assert code != 0 and out == ""
    assert "not a terminal" in err and "--force" in err

    code, out, err = cli(workspace, monkeypatch, "resource", "secret", "cache", "--show", "--force")
    assert code == 0, err
    assert out == f"{handle}\n"

    code, out, err = cli(workspace, monkeypatch, "resource", "secret", "cache", "--show", out=Terminal())
    assert code == 0, err
    assert out == f"{handle}\n"

    reveals = [e for e in workspace.events("cache", limit=10) if e.action == "reveal secret"]
    assert [(e.result, e.detail) for e in reveals] == [
        ("ok", "shown on a terminal"),
        ("ok", "shown on standard output, forced"),
    ]
    assert all("@" in e.actor and e.at is not None for e in reveals)  # who and when
    assert all("hidden-pw" not in e.detail for e in workspace.events("cache", limit=10))


def test_secret_warn_days_is_a_setting_in_range(workspace: Workspace) -> None:
    assert workspace.setting("secret_warn_days") == "90"
    workspace.set_setting("secret_warn_days", "30")
    assert workspace.setting("secret_warn_days") == "30"
    with pytest.raises(Exception, match="between 1 and 36500"):
        workspace.set_setting("secret_warn_days", "0")


def test_an_older_inventory_dates_its_secrets_from_their_registration(tmp_path: Path) -> None:
    import shutil
    import sqlite3
    from datetime import UTC, datetime

    path = tmp_path / "inventory.sqlite3"
    shutil.copy(Path(__file__).parents[1] / "fixtures" / "inventory-0001.sqlite3", path)
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO resources (name, kind, scheme, handle, secret_ref, secret_slots, origin, state, note, "
            "created_at, updated_at) VALUES ('old-cache', 'redis', 'redis', 'redis://default@127.0.0.1:6379/0', "
            "'resource:old-cache:ab12cd34', 'password', 'registered', 'available', '', "
            "'2026-01-02 03:04:05.000000', '2026-03-02 03:04:05.000000')"
        )
    db.close()
    ws = Workspace.open(f"sqlite:///{path}")
    try:
        old = ws.show_resource("old-cache")
        assert old.secret_set_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC) and old.secret_rotated_at is None
        assert old.secret_age_days(datetime(2026, 1, 12, 3, 4, 5, tzinfo=UTC)) == 10
        assert ws.show_resource("shop-db").secret_set_at is None  # no secret, no date
    finally:
        ws.close()
