"""The CLI twins of the database actions: servers, provisioning, backups, copies, verification, upgrades."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from changeover.cli import main
from changeover.core.upgrade.procedure import STEPS

from ..conftest import POSTGRES_URL


@pytest.fixture(autouse=True)
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", f"sqlite:///{tmp_path / 'inv.sqlite3'}")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


def ok(*argv: str) -> str:
    code, out, err = run(*argv)
    assert code == 0, err
    return out


def make_sqlite(path: Path, rows: int = 50) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT)")
        conn.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {i}",) for i in range(rows)])


def test_servers_provision_backup_load_verify_deprovision(tmp_path: Path, postgres_admin: object) -> None:
    ok("server", "add", "pg", POSTGRES_URL)
    (tmp_path / "dbs").mkdir()
    ok("server", "add", "files", str(tmp_path / "dbs"))
    servers = json.loads(ok("server", "list", "--json"))
    assert {s["name"]: s["kind"] for s in servers} == {"files": "sqlite", "pg": "postgresql"}

    assert "Provisioned" in ok("provision", "files", "notes-a")
    assert "Provisioned" in ok("provision", "files", "notes-b")
    path_a = Path(json.loads(ok("resource", "show", "notes-a", "--json"))["handle"].removeprefix("sqlite:///"))
    make_sqlite(path_a)
    described = json.loads(ok("describe", "notes-a", "--json"))
    assert described["engine"] == "sqlite" and described["tables"][0]["name"] == "notes"

    out = ok("backup", "notes-a")
    assert "50 rows" in out
    [backup] = json.loads(ok("backups", "notes-a", "--json"))
    assert backup["resource"] == "notes-a"
    assert "Loaded 1 tables, 50 rows" in ok("load", backup["folder"], "notes-b")
    assert "counts, checksums and sequences match" in ok("verify", "notes-a", "notes-b")

    code, _, err = run("deprovision", "notes-b", "--confirm", "notes-b", "--no-final-backup")
    assert code == 0, err
    path_b = Path(json.loads(ok("resource", "show", "notes-b", "--json"))["handle"].removeprefix("sqlite:///"))
    assert not path_b.exists()

    assert "Provisioned" in ok("provision", "pg", "notes-pg")
    report = ok("copy", "notes-a", "notes-pg", "--report-only")
    assert "sqlite -> postgresql" in report
    assert "Copied 50 rows" in ok("copy", "notes-a", "notes-pg")
    assert "match" in ok("verify", "notes-a", "notes-pg")
    audited = [(e["action"], e["detail"]) for e in json.loads(ok("events", "--object", "notes-a", "--json"))]
    assert ("copy", "to notes-pg: 50 rows") in audited  # the CLI's copy is core's audited use case
    code, _, err = run("deprovision", "notes-pg", "--confirm", "notes-pg")
    assert code == 0, err
    assert [b["resource"] for b in json.loads(ok("backups", "--json"))].count("notes-pg") == 1  # the final backup


def test_verify_is_audited_with_its_outcome(tmp_path: Path) -> None:
    (tmp_path / "dbs").mkdir()
    ok("server", "add", "files", str(tmp_path / "dbs"))
    for name in ("notes-a", "notes-b"):
        ok("provision", "files", name)
        make_sqlite(Path(json.loads(ok("resource", "show", name, "--json"))["handle"].removeprefix("sqlite:///")))
    assert "counts, checksums and sequences match" in ok("verify", "notes-a", "notes-b")
    [event] = [e for e in json.loads(ok("events", "--object", "notes-a", "--json")) if e["action"] == "verify"]
    assert event["result"] == "ok" and event["detail"].startswith("against notes-b: 1 tables, 50 rows")


def test_upgrade_from_the_cli_with_json_events(tmp_path: Path) -> None:
    source = tmp_path / "shop.db"
    make_sqlite(source)
    env = tmp_path / ".env"
    env.write_text("DEBUG=1\n")
    (tmp_path / "dbs").mkdir()
    ok("server", "add", "files", str(tmp_path / "dbs"))
    ok(
        "deploy",
        "add",
        "shop",
        "--env-file",
        str(env),
        "--restart-cmd",
        "true",
        "--maintenance-var",
        "MAINTENANCE_MODE",
    )
    ok("resource", "add", "shop-db", f"sqlite:///{source}")
    ok("attach", "shop-db", "shop")

    code, _, err = run("upgrade", "shop-db", "--provision", "files")
    assert code == 1 and "--yes" in err  # no terminal to confirm at: refused, nothing started
    assert json.loads(ok("upgrade", "--list", "--json")) == []

    lines = ok("upgrade", "shop-db", "--provision", "files", "--yes", "--json", "--keep-days", "2").splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]
    steps_done = [e["step"] for e in events if e.get("state") == "done"]
    assert tuple(steps_done) == STEPS
    assert any(e.get("state") == "switched" for e in events)
    runs = json.loads(ok("upgrade", "--list", "--json"))
    assert runs[0]["state"] == "done" and runs[0]["maintenance_seconds"] > 0
    assert "/dbs/shop_db_" in env.read_text() and "MAINTENANCE_MODE" not in env.read_text()
    listing = ok("upgrade", "--list")
    assert "done" in listing and "s" in listing.splitlines()[1].split()[-1]
    shown = json.loads(ok("resource", "show", "shop-db", "--json"))
    assert shown["state"] == "detached" and shown["keep_until"]
    code, _, err = run("upgrade", "--rollback", str(runs[0]["id"]))
    assert code == 1 and "already done" in err
