"""A deploy's config and the inventory never disagree: concurrent changes all land, and a change killed
between the file write and the inventory commit (or whose inventory server stopped at that moment) is
finished by the next start.

Every change here goes through the CLI as separate processes, like admins and scripts on one machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from dotenv import dotenv_values

from changeover.core.inventory.db import Inventory
from changeover.core.workspace import Workspace

from .conftest import Kit, PrivatePostgres, processes_with, wait_for

pytestmark = pytest.mark.servers

CONCURRENT = 20


def redis_handle(i: int) -> str:
    return f"redis://:pw-{i}-secret@127.0.0.1:6379/{i % 16}"


def make_deploy(kit: Kit, restart_cmd: str = "true") -> Path:
    env_file = kit.tmp / "shop" / ".env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_bytes(b"# shop\r\nPORT=8000\r\nexport DEBUG='yes'\r\n")
    env_file.chmod(0o640)
    kit.ws.add_deploy("shop", str(env_file), restart_cmd=restart_cmd, hook_timeout=60)
    return env_file


def attachments(ws: Workspace, deploy: str = "shop") -> dict[str, str]:
    """Active attachments of ``deploy``: env var -> resource."""
    return {a.env_var: a.resource for a in ws.show_deploy(deploy).attachments}


def test_twenty_concurrent_attaches_all_land_once(kit: Kit) -> None:
    env_file = make_deploy(kit)
    before = env_file.read_bytes()
    for i in range(CONCURRENT):
        kit.ws.register_resource(f"cache-{i}", redis_handle(i))

    children = [kit.popen("attach", f"cache-{i}", "shop", "--as", f"CACHE_{i}_URL") for i in range(CONCURRENT)]
    results = [(child.wait(120), child.communicate()) for child in children]

    assert [code for code, _ in results] == [0] * CONCURRENT, [err for _, (_, err) in results if err]
    text = env_file.read_bytes()
    assert text.startswith(before), "a line the attaches did not touch changed"
    values = dotenv_values(env_file)
    for i in range(CONCURRENT):
        assert text.count(f"CACHE_{i}_URL=".encode()) == 1
        assert values[f"CACHE_{i}_URL"] == redis_handle(i)
    assert attachments(kit.ws) == {f"CACHE_{i}_URL": f"cache-{i}" for i in range(CONCURRENT)}
    assert oct(env_file.stat().st_mode & 0o777) == oct(0o640)


def test_attach_and_detach_while_another_process_changes_the_same_deploy(kit: Kit) -> None:
    """Two streams of changes on one deploy, as an admin's script beside an upgrade's switch would be."""
    env_file = make_deploy(kit)
    for name in ("a", "b"):
        kit.ws.register_resource(f"cache-{name}", redis_handle(ord(name)))
    rounds = 4  # 16 commands from two processes interleave enough; each takes seconds on a busy machine
    loops = []
    for name in ("a", "b"):
        steps = " && ".join(
            f"{python()} -m changeover.cli attach cache-{name} shop --as {name.upper()}_URL && "
            f"{python()} -m changeover.cli detach cache-{name} shop"
            for _ in range(rounds)
        )
        loops.append(subprocess.Popen(["sh", "-c", steps], env=kit.env, stderr=subprocess.PIPE, text=True))
    for loop in loops:
        _, err = loop.communicate(timeout=300)
        assert loop.returncode == 0, err

    values = dotenv_values(env_file)
    assert "A_URL" not in values and "B_URL" not in values
    assert attachments(kit.ws) == {}
    events = [e for e in kit.ws.events(limit=1000) if e.action in ("attach", "detach")]
    assert len(events) == 4 * rounds and all(e.result == "ok" for e in events)


def python() -> str:
    return sys.executable


def hook_that_waits(folder: Path) -> tuple[str, Path, Path]:
    """A restart hook that, the first time only, says it started and waits for the test's go."""
    started, go = folder / "hook-started", folder / "hook-go"
    command = f"if [ ! -e {started} ]; then touch {started}; while [ ! -e {go} ]; do sleep 0.05; done; fi"
    return command, started, go


def test_attach_killed_during_its_restart_hook_is_finished_by_the_next_start(kit: Kit) -> None:
    command, started, go = hook_that_waits(kit.tmp)
    env_file = make_deploy(kit, restart_cmd=command)
    kit.ws.register_resource("cache", redis_handle(1))

    child = kit.popen("attach", "cache", "shop", "--as", "REDIS_URL")
    wait_for("the restart hook to start", started.exists)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)
    go.touch()  # the orphaned hook ends

    # The file has the change; the inventory does not know yet.
    assert dotenv_values(env_file)["REDIS_URL"] == redis_handle(1)
    assert attachments(kit.ws) == {}
    assert kit.cli("attach", "cache", "shop", "--as", "OTHER_URL").returncode == 0  # any command recovers first

    assert attachments(kit.ws) == {"REDIS_URL": "cache", "OTHER_URL": "cache"}
    recovered = [e for e in kit.ws.events(limit=50) if e.action == "recover attach"]
    assert len(recovered) == 1 and "the config already held the change" in recovered[0].detail
    assert "pw-1-secret" not in json.dumps([e.detail for e in kit.ws.events(limit=50)])
    assert kit.cli("detach", "cache", "shop").returncode == 0
    assert "REDIS_URL" not in dotenv_values(env_file) and attachments(kit.ws) == {}


def test_attach_killed_before_its_write_is_dropped(kit: Kit) -> None:
    """A pending change whose file never got it leaves the inventory as it was, and says so."""
    env_file = make_deploy(kit)
    kit.ws.register_resource("cache", redis_handle(2))
    before = env_file.read_bytes()
    with kit.ws.session() as session:  # what a process killed right after announcing leaves behind
        from changeover.core.inventory.models import ConfigIntent, Deploy

        deploy = session.scalar(sa.select(Deploy).where(Deploy.name == "shop"))
        assert deploy is not None
        session.add(
            ConfigIntent(
                deploy_id=deploy.id,
                effect={"op": "attach", "resource": "cache", "var": "REDIS_URL"},
                state="pending",
                owner=f"tester@test pid {dead_pid()} on {os.uname().nodename}",
                created_at=kit.ws.clock(),
            )
        )
        session.commit()

    (outcome,) = kit.ws.recover()

    assert "dropped attach of cache on shop" in outcome
    assert env_file.read_bytes() == before and attachments(kit.ws) == {}
    assert kit.ws.recover() == []


def dead_pid() -> int:
    done = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_inventory_server_lost_during_attach_then_recovered(kit: Kit, private_postgres: PrivatePostgres) -> None:
    engine = sa.create_engine(private_postgres.url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE DATABASE inventory"))
    engine.dispose()
    inventory_url = private_postgres.url.set(database="inventory").render_as_string(hide_password=False)
    env = {**kit.env, "CHANGEOVER_DATABASE_URL": inventory_url}
    ws = Workspace(Inventory(inventory_url), actor="tester@test")
    command, started, go = hook_that_waits(kit.tmp)
    env_file = kit.tmp / "shop.env"
    env_file.write_text("PORT=8000\n")
    try:
        ws.add_deploy("shop", str(env_file), restart_cmd=command)
        ws.register_resource("cache", redis_handle(3))
    finally:
        ws.close()

    child = subprocess.Popen(
        [python(), "-m", "changeover.cli", "attach", "cache", "shop"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for("the restart hook to start", started.exists)
    private_postgres.crash()
    go.touch()
    _, err = child.communicate(timeout=60)

    assert child.returncode == 1
    assert "The inventory database stopped answering" in err and "next time Changeover starts" in err, err
    assert "pw-3-secret" not in err
    assert dotenv_values(env_file)["REDIS_URL"] == redis_handle(3)

    private_postgres.start()
    shown = subprocess.run(
        [python(), "-m", "changeover.cli", "resource", "show", "cache", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "recovered an interrupted change: finished attach of cache on shop" in shown.stderr
    info = json.loads(shown.stdout)
    assert info["state"] == "attached" and [(a["deploy"], a["env_var"]) for a in info["attachments"]] == [
        ("shop", "REDIS_URL")
    ]
    assert not processes_with(str(started).encode())


def test_attach_and_detach_during_an_upgrade_leave_file_and_inventory_agreeing(kit: Kit, make_postgres_db) -> None:  # type: ignore[no-untyped-def]
    """An admin's script attaches and detaches a cache on the deploy while an upgrade switches its database."""
    from .conftest import ballast, on_one_database, seed, text

    source, target = make_postgres_db("co_during_src"), make_postgres_db("co_during_dst")
    seed(source, 50)
    ballast(source, 100_000)  # the upgrade takes a few seconds: long enough for the script to overlap it
    app = kit.app("shop", source)
    kit.deploy(app)
    kit.ws.register_resource("cache", redis_handle(5))
    upgrade = kit.popen("upgrade", "shop-db", "--to", text(target), "--name", "shop-db-new", "--yes", "--json")
    rounds = 0
    try:
        while upgrade.poll() is None or rounds < 2:
            for argv in (("attach", "cache", "shop", "--as", "REDIS_URL"), ("detach", "cache", "shop")):
                done = kit.cli(*argv)
                # Refusals are fine (the deploy is in maintenance, a lock is held): a lie is not.
                assert done.returncode in (0, 1), done.stderr
            rounds += 1
            assert rounds < 200, "the upgrade did not finish"
    finally:
        out, err = upgrade.communicate(timeout=300)
    assert upgrade.returncode == 0, err

    config = dotenv_values(app.env_file)
    attached = attachments(kit.ws)
    assert ("REDIS_URL" in config) == ("REDIS_URL" in attached), (config, attached)
    if "REDIS_URL" in config:
        assert config["REDIS_URL"] == redis_handle(5)
    assert attached.get("DATABASE_URL") == "shop-db-new"
    if "REDIS_URL" in attached:
        assert kit.cli("detach", "cache", "shop").returncode == 0
    on_one_database(kit, app, "shop-db-new")
