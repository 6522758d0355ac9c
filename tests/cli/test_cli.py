"""The CLI face: real processes where it matters (exit codes, stdin), in-process for the rest."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from changeover.cli import main

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
        [sys.executable, "-m", "changeover.cli", *argv],
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


# -- bad input is refused at the edge, before anything changes ---------------------------------------


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["resource", "list", "--state", "bogus"], "invalid choice: 'bogus'"),
        (["detach", "r", "d", "--keep-days", "3000000"], "between 1 and 36500"),
        (["detach", "r", "d", "--keep-days", "0"], "between 1 and 36500"),
        (["events", "--limit", "99999999999999999999"], "between 1 and 100000"),
        (["upgrade", "r", "--to", "-", "--quiet-timeout", "nan"], "between 0 and 86400"),
        (["upgrade", "r", "--to", "-", "--quiet-timeout", "-5"], "between 0 and 86400"),
        (["upgrade", "r", "--to", "-", "--keep-days", "3000000"], "between 1 and 36500"),
        (["deploy", "add", "d", "--env-file", "x", "--hook-timeout", "abc"], "not a whole number"),
    ],
)
def test_numbers_out_of_range_are_bad_usage(
    inventory: str, argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert needle in capsys.readouterr().err + err
    assert run("events", "--json")[1].strip() == "[]"  # nothing was done, not even audited


def test_settings_out_of_range_are_refused_and_change_nothing(inventory: str) -> None:
    for value in ("99999999999999999999", "0", "-3", "seven", "1e3"):
        code, _, err = run("settings", "retention_days", value)
        assert code == 1 and "retention_days must be" in err and "between 1 and 36500" in err, err
    assert run("settings", "retention_days")[1].strip() == "7"
    assert run("settings", "env_backups", "3")[0] == 0
    assert run("settings", "env_backups")[1].strip() == "3"
    assert run("settings", "env_backups", "1000")[0] == 1


def test_names_with_a_trailing_newline_are_refused(inventory: str, tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("A=1\n")
    code, _, err = run("deploy", "add", "shop\n", "--env-file", str(env))
    assert code == 1 and "is not a valid deploy name" in err
    code, _, err = run("resource", "add", "cache\n", "redis://127.0.0.1:6379/0")
    assert code == 1 and "is not a valid resource name" in err
    assert run("deploy", "add", "shop", "--env-file", str(env))[0] == 0
    assert run("resource", "add", "cache", "redis://127.0.0.1:6379/0")[0] == 0
    code, _, err = run("attach", "cache", "shop", "--as", "MY_DB\n")
    assert code == 1 and "not a valid environment variable name" in err
    code, _, err = run("attach", "cache", "shop", "--as", "")
    assert code == 1 and "variable name" in err
    assert env.read_text() == "A=1\n"
    assert json.loads(run("resource", "list", "--json")[1])[0]["state"] == "available"


def test_status_and_version_name_the_keyring(inventory: str) -> None:
    code, out, _ = run("status", "--json")
    report = json.loads(out)
    assert code == 0 and report["keyring"]["usable"] is True and report["unfinished_upgrades"] == []
    assert report["inventory"] == inventory
    code, out, _ = run("status")
    assert code == 0 and f"keyring      {report['keyring']['name']}: usable, unlocked" in out


def test_version_names_the_keyring_of_a_real_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND")}
    env.update(HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    done = subprocess.run(
        [sys.executable, "-m", "changeover.cli", "--version"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.startswith("changeover ") and "keyring: No usable keyring: start or unlock" in done.stdout
