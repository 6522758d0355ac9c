"""The change record of real upgrade runs: complete, masked, and valid against docs/change-record.schema.json."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from changeover.cli import main
from changeover.core import servers
from changeover.core.errors import Cancelled, InvalidInput, NotFound
from changeover.core.inventory.models import UpgradeRun
from changeover.core.transfer.formats.manifest import read
from changeover.core.upgrade import procedure
from changeover.core.upgrade.procedure import RunEvent
from changeover.core.workspace import Workspace

from .conftest import ROWS, fill, text

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "change-record.schema.json").read_text())
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
PASSWORD = "rec0rd-s3cret"


def valid(record: dict[str, Any]) -> dict[str, Any]:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(record)
    return record


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.env"
    path.write_text("DEBUG=0\n")
    return path


def shop(ws: Workspace, env_file: Path, handle: str) -> None:
    ws.add_deploy("shop", str(env_file), restart_cmd="true", maintenance_var="MAINTENANCE_MODE")
    ws.register_resource("shop-db", handle)
    ws.attach("shop-db", "shop")


def test_a_real_sqlite_upgrade_has_a_complete_record(
    workspace: Workspace, env_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "shop.db"
    fill(f"sqlite:///{source}")
    shop(workspace, env_file, f"sqlite:///{source}")
    (tmp_path / "dbs").mkdir()
    servers.register_server(workspace, "local", str(tmp_path / "dbs"))
    plan = procedure.plan_upgrade(workspace, "shop-db", provision_on="local", keep_days=3)
    done = procedure.execute(workspace, procedure.start_upgrade(workspace, plan).id)

    record = valid(workspace.change_record(done.id))

    assert record["state"] == "done" and record["who"]["actor"] == "tester@test"
    assert (record["who"]["user"], record["who"]["host"]) == ("tester", "test")
    assert STAMP.fullmatch(record["when"]["started_at"]) and STAMP.fullmatch(record["when"]["switched_at"])
    assert [s["name"] for s in record["steps"]] == [name for name, _ in plan.steps]
    assert all(s["state"] == "done" and STAMP.fullmatch(s["started_at"]) for s in record["steps"])
    assert [c["name"] for c in record["plan"]["preflight"]] == [c.name for c in plan.checks]
    assert record["copied"]["rows"] == ROWS
    (items,) = record["verification"]["tables"]
    assert items["table"] == "items" and items["source_rows"] == items["target_rows"] == ROWS and items["ok"]
    assert items["source_checksum"] == items["target_checksum"] == read(Path(done.backup_path or "")).tables[0].checksum
    backup = record["backup"]
    assert backup["sha256"] == read(Path(done.backup_path or "")).sha256 and backup["kept"]
    assert backup["proven"] and "upgrade run" in backup["last_proof"]["where"]  # the load proved the backup
    assert record["maintenance_window"]["seconds"] > 0
    assert record["not_carried"] == [] and record["target"]["server"] == "local"

    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))
    out = io.StringIO()
    assert main(["upgrade", "--record", str(done.id)], out, io.StringIO()) == 0
    text = out.getvalue()
    assert text.startswith(f"# Change record: upgrade run {done.id}, shop-db → {plan.target_name}")
    for heading in ("## Plan and pre-flight", "## Steps", "## Verification", "## Backup kept", "## Not carried"):
        assert heading in text
    assert backup["sha256"] in text and "| items | 3,000 | 3,000 |" in text
    out = io.StringIO()
    assert main(["upgrade", "--record", str(done.id), "--format", "json"], out, io.StringIO()) == 0
    as_json = valid(json.loads(out.getvalue()))
    assert {k: v for k, v in as_json.items() if k != "generated_at"} == {
        k: v for k, v in record.items() if k != "generated_at"
    }
    err = io.StringIO()
    assert main(["upgrade", "--record", "999"], io.StringIO(), err) == 1 and "No upgrade run 999" in err.getvalue()
    assert main(["upgrade", "--format", "md"], io.StringIO(), io.StringIO()) == 1
    with pytest.raises(InvalidInput):
        workspace.change_record_text(done.id, "pdf")
    with pytest.raises(NotFound):
        workspace.change_record(999)

    # a run journaled before the plan and the verification table were kept still has a valid record
    with workspace.session() as session:
        row = session.get(UpgradeRun, done.id)
        assert row is not None
        row.options = {k: v for k, v in (row.options or {}).items() if k != "plan"}
        verify = next(s for s in row.steps if s.name == "verify")
        verify.data = {}
        session.commit()
    old = valid(workspace.change_record(done.id))
    assert not old["plan"]["recorded"] and old["not_carried"] is None and not old["verification"]["recorded"]
    assert [s["name"] for s in old["plan"]["steps"]] == [s["name"] for s in record["steps"]]
    text = workspace.change_record_text(done.id)
    assert "The plan was not recorded" in text and "comparison was not recorded" in text


def test_a_rolled_back_cross_engine_run_records_what_was_not_carried_and_masks_handles(
    workspace: Workspace, env_file: Path, make_postgres_db: Callable[..., URL], make_mysql_db: Callable[..., URL]
) -> None:
    source, target = make_postgres_db(), make_mysql_db()
    fill(source)
    eng = sa.create_engine(source)
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 10"))
    eng.dispose()
    shop(workspace, env_file, text(source.set(password=PASSWORD)))  # the local server trusts; the handle has one
    plan = procedure.plan_upgrade(workspace, "shop-db", to_handle=text(target))
    assert plan.cross_engine and any("cheap" in n for n in plan.not_carried)
    run = procedure.start_upgrade(workspace, plan)
    cancel = threading.Event()

    def sink(event: RunEvent) -> None:
        if event.step == "load" and event.state == "running":
            cancel.set()

    with pytest.raises(Cancelled):
        procedure.execute(workspace, run.id, cancel=cancel, on_event=sink)

    record = valid(workspace.change_record(run.id))
    assert record["state"] == "rolled_back" and record["when"]["switched_at"] is None
    assert record["plan"]["cross_engine"] and any("cheap" in n for n in record["not_carried"])
    assert record["target"]["kind"] == "mysql"
    assert PASSWORD not in json.dumps(record) and ":•••@" in record["source"]["handle"]
    assert PASSWORD not in workspace.change_record_text(run.id, "md")
    assert {s["state"] for s in record["steps"]} <= {"done", "rolled_back", "cancelled", "waiting", "skipped"}


def test_the_example_in_docs_is_a_valid_record_without_a_secret() -> None:
    docs = Path(__file__).parents[2] / "docs"
    record = valid(json.loads((docs / "change-record-example.json").read_text()))
    assert record["state"] == "done" and record["plan"]["cross_engine"] and record["not_carried"]
    assert record["backup"]["proven"] and record["verification"]["tables"]
    text = (docs / "change-record-example.md").read_text()
    assert record["backup"]["sha256"] in text and "•••" in text
    assert not re.search(r"://[^/@:\s]*:(?!•••@)[^@/\s]+@", text + json.dumps(record, ensure_ascii=False))
