"""The audit trail exported for a change board: CSV, JSON and Markdown, filtered by time and object;
edits say old → new, secrets masked; every time in UTC with seconds and the zone."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from changeover.cli import main
from changeover.core import audit
from changeover.core.errors import InvalidInput
from changeover.core.workspace import Workspace

SECRET = "exp0rt-s3cret-pw"
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


class Clock:
    """The workspace's clock, moved by hand so events fall on known days."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 9, 30, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def trail(workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    clock = Clock()
    workspace.clock = clock
    env = tmp_path / ".env"
    env.write_text("DEBUG=1\n")
    workspace.add_deploy("shop", str(env), app="shop", restart_cmd="true")
    clock.now += timedelta(days=5)  # 2026-11-25
    workspace.register_resource("shop-db", f"postgresql://shop:{SECRET}@db.internal:5432/shop")
    workspace.edit_deploy("shop", app="shop-v2", restart_cmd=f"curl -fsS https://ops:{SECRET}@hooks.internal/r")
    clock.now += timedelta(days=3, hours=2, seconds=7)  # 2026-11-28 11:30:12
    workspace.set_setting("backup_keep", "9")
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))
    return workspace


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_csv_is_oldest_first_with_seconds_and_zone_and_no_secret(trail: Workspace) -> None:
    code, out, _ = run("events", "--format", "csv")
    assert code == 0 and SECRET not in out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["action"] for r in rows] == ["add deploy", "register", "edit deploy", "set setting"]
    assert rows[0]["at"] == "2026-11-20T09:30:05+00:00" and all(STAMP.fullmatch(r["at"]) for r in rows)
    assert list(rows[0]) == list(audit.COLUMNS)
    edit = rows[2]["detail"]
    assert "app: 'shop' → 'shop-v2'" in edit
    assert "restart command: ••• → ••• (changed)" in edit  # a hook command may carry a secret: only named
    assert "backup_keep: '5' → '9'" in rows[3]["detail"]


def test_since_and_object_narrow_the_export(trail: Workspace) -> None:
    code, out, _ = run("events", "--format", "json", "--since", "2026-11-25")
    assert code == 0
    assert [e["action"] for e in json.loads(out)] == ["register", "edit deploy", "set setting"]
    code, out, _ = run("events", "--format", "json", "--since", "2026-11-28T12:30:00+01:00", "--object", "backup_keep")
    (only,) = json.loads(out)
    assert only["at"] == "2026-11-28T11:30:12+00:00" and only["object_type"] == "setting"
    code, out, _ = run("events", "--format", "json", "--object", "shop")
    assert [e["action"] for e in json.loads(out)] == ["add deploy", "edit deploy"]
    assert run("events", "--format", "json", "--since", "2026-12-01")[1] == "[]\n"


def test_markdown_is_a_table_that_escapes_pipes(trail: Workspace, tmp_path: Path) -> None:
    trail.edit_deploy("shop", environment="blue | green")
    code, out, _ = run("events", "--format", "md")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("| When (UTC) | Who |") and lines[1].startswith("| --- |")
    assert len(lines) == 2 + 5 and all(line.count(" | ") == 5 for line in lines[2:])  # a pipe is escaped
    assert "'blue \\| green'" in lines[-1] and SECRET not in out


def test_the_current_output_and_json_stay_as_they_were(trail: Workspace) -> None:
    code, out, _ = run("events", "--json")
    first = json.loads(out)[0]
    assert code == 0 and set(first) == {"at", "actor", "action", "object_type", "object_name", "result", "detail"}
    assert first["action"] == "set setting"  # newest first, as before
    code, out, _ = run("events", "--limit", "2")
    assert out.splitlines()[0].split()[:3] == ["WHEN", "WHO", "ACTION"] and len(out.splitlines()) == 3


def test_bad_input_is_named(trail: Workspace) -> None:
    code, _, err = run("events", "--format", "csv", "--since", "last tuesday")
    assert code == 1 and "is not a date" in err
    assert run("events", "--format", "xml")[0] == 2
    assert run("events", "--format", "csv", "--json")[0] == 1
    with pytest.raises(InvalidInput, match="Unknown export format"):
        trail.export_events("xml")
