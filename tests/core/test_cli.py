"""The CLI face: real processes where it matters (exit codes, stdin), in-process for the rest."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from changeover.core.cli import main

SECRET = "cli-s3cret-pw"
HANDLE = f"postgresql://shop:{SECRET}@db.internal:5432/shop"


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", url)
    return url


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_full_flow_with_json(inventory: str, tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("DEBUG=1\n")
    assert run("deploy", "add", "shop", "--env-file", str(env), "--restart-cmd", "true")[0] == 0
    code, out, _ = run("resource", "add", "shop-db", HANDLE)
    assert code == 0 and SECRET not in out and "•••" in out
    assert run("attach", "shop-db", "shop")[0] == 0
    assert env.read_text() == f"DEBUG=1\nDATABASE_URL={HANDLE}\n"

    code, out, _ = run("resource", "show", "shop-db", "--json")
    shown = json.loads(out)
    assert shown["handle"] == "postgresql://shop:•••@db.internal:5432/shop"
    assert shown["state"] == "attached" and shown["attachments"][0]["deploy"] == "shop"
    code, out, _ = run("deploy", "show", "shop", "--json")
    assert {v["name"]: v["value"] for v in json.loads(out)["config"]}["DATABASE_URL"].endswith(
        ":•••@db.internal:5432/shop"
    )
    assert SECRET not in out
    code, out, _ = run("deploy", "list", "--json")
    assert [d["name"] for d in json.loads(out)] == ["shop"]

    code, out, _ = run("detach", "shop-db", "shop", "--keep-days", "3")
    assert code == 0 and "kept until" in out
    code, out, _ = run("resource", "list", "--json", "--state", "detached")
    assert [r["name"] for r in json.loads(out)] == ["shop-db"]
    code, out, _ = run("events", "--json")
    actions = [e["action"] for e in json.loads(out)]
    assert actions[:4] == ["detach", "attach", "register", "add deploy"]
    assert SECRET not in out


def test_user_errors_exit_1_with_one_line(inventory: str, tmp_path: Path) -> None:
    code, out, err = run("resource", "add", "db", "postgresql://u:p@h:nope/db")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "port" in err and "u:p@h" not in err
    code, _, err = run("deploy", "add", "shop", "--env-file", str(tmp_path / "missing.env"))
    assert code == 1 and "does not exist" in err
    code, _, err = run("deprovision", "nothing", "--confirm", "nothing")
    assert code == 1 and "No resource named 'nothing'" in err


def test_bad_usage_exits_2(inventory: str) -> None:
    assert run("attach")[0] == 2
    assert run("frobnicate")[0] == 2


def cli(*argv: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "changeover.core.cli", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_handle_from_stdin_in_a_real_process(inventory: str, tmp_path: Path) -> None:
    # The subprocess has no in-memory keyring: point keyring at the test's module backend.
    env = {
        "PYTHON_KEYRING_BACKEND": "tests.keyring_file.FileKeyring",
        "CHANGEOVER_TEST_KEYRING_FILE": str(tmp_path / "kr.json"),
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    done = cli("resource", "add", "shop-db", "-", stdin=HANDLE + "\n", env=env)
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout
    shown = cli("resource", "show", "shop-db", "--json", env=env)
    assert json.loads(shown.stdout)["has_secret"] is True
    assert SECRET in (tmp_path / "kr.json").read_text()
    bad = cli("resource", "add", "x", "-", stdin="\n", env=env)
    assert bad.returncode == 1 and bad.stderr.strip() == "changeover: No handle was given on standard input."


def test_entry_point_dispatches_to_the_cli(inventory: str) -> None:
    from changeover.gui.launcher import main as launcher_main

    assert launcher_main(["deploy", "list"]) == 0
