"""core.history: one resource's or deploy's whole story, read-only, for a face's detail view."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from changeover.core import checks, demo
from changeover.core.errors import NotFound
from changeover.core.formats import plural
from changeover.core.history import resource_backups
from changeover.core.transfer.formats.manifest import Proof, record_proof
from changeover.core.upgrade import procedure
from changeover.core.workspace import Workspace


def test_a_resource_detail_gathers_health_backups_runs_and_events(workspace: Workspace, tmp_path: Path) -> None:
    demo.create_demo(workspace)
    checks.check_resources(workspace, [demo.DATABASE])
    checks.check_resources(workspace, [demo.DATABASE])
    plan = procedure.plan_upgrade(workspace, demo.DATABASE, to_handle=f"sqlite:///{tmp_path / 'new.db'}")
    run = procedure.start_upgrade(workspace, plan)
    procedure.execute(workspace, run.id)
    detail = workspace.resource_detail(demo.DATABASE)
    assert detail.resource.name == demo.DATABASE and detail.resource.state == "detached"
    assert len(detail.health) == 2 and detail.health[0].checked_at >= detail.health[1].checked_at
    assert all(c.ok for c in detail.health)
    [backup] = detail.backups
    assert backup.size_bytes > 0 and len(backup.sha256) == 64 and backup.rows > 0
    assert backup.proven is True  # the upgrade's load matched the manifest: that proves the backup
    assert datetime.fromisoformat(backup.created_at).tzinfo is not None
    [seen] = detail.runs
    assert seen.id == run.id and seen.state == "done" and seen.backup_path == str(backup.folder)
    assert {"attach", "register"} <= {e.action for e in detail.events}
    # The target of the run sees the same run; an unrelated resource sees none.
    assert [r.id for r in workspace.resource_detail(seen.target).runs] == [run.id]
    assert workspace.resource_detail(demo.CACHE).runs == ()
    with pytest.raises(NotFound):
        workspace.resource_detail("no-such-resource")


def test_a_backup_is_proven_when_its_manifest_says_so(workspace: Workspace) -> None:
    demo.create_demo(workspace)
    result = workspace.backup_resource(demo.DATABASE)
    assert [b.proof_ok for b in resource_backups(demo.DATABASE)] == [None]  # untested
    workspace.test_restore_backup(result.folder)
    assert [b.proof_ok for b in resource_backups(demo.DATABASE)] == [True]
    failed = Proof(at="2026-12-01T12:00:00+00:00", where="here", ok=False, detail="books differs", table="books")
    record_proof(Path(result.folder), failed)
    assert [b.proof_ok for b in resource_backups(demo.DATABASE)] == [False]


def test_a_deploy_detail_says_its_maintenance_state(workspace: Workspace, tmp_path: Path) -> None:
    demo.create_demo(workspace)
    before = workspace.deploy_detail(demo.DEPLOY)
    assert before.maintenance.how == "flag MAINTENANCE_MODE" and before.maintenance.on is False
    workspace.set_maintenance(demo.DEPLOY, True)
    on = workspace.deploy_detail(demo.DEPLOY)
    assert on.maintenance.on is True and on.maintenance.since is not None
    assert on.events[0].action == "maintenance on"
    assert {a.env_var for a in on.deploy.attachments} == {"DATABASE_URL", "REDIS_URL"}
    env = tmp_path / "hooked.env"
    env.write_text("A=1\n", encoding="utf-8")
    workspace.add_deploy("hooked", str(env), maintenance_on_cmd="true", maintenance_off_cmd="true")
    hooked = workspace.deploy_detail("hooked").maintenance
    assert (hooked.on, hooked.how) == (None, "hook")  # never switched by Changeover
    workspace.set_maintenance("hooked", False)
    assert workspace.deploy_detail("hooked").maintenance.on is False
    with pytest.raises(NotFound):
        workspace.deploy_detail("nope")


def test_edits_and_settings_are_audited_old_to_new(workspace: Workspace, tmp_path: Path) -> None:
    env = tmp_path / "a.env"
    env.write_text("A=1\n", encoding="utf-8")
    workspace.add_deploy("shop", str(env), app="shop", environment="staging", restart_cmd="echo tok-123")
    workspace.edit_deploy("shop", environment="production", restart_cmd="echo tok-456")
    [event] = [e for e in workspace.events("shop") if e.action == "edit deploy"]
    assert "environment: 'staging' → 'production'" in event.detail
    assert "tok-" not in event.detail  # a hook command is only named: it may carry a secret
    workspace.set_setting("retention_days", "9")
    [setting] = workspace.events("retention_days")
    assert setting.detail == "retention_days=9; retention_days: '7' → '9'"


def test_plural() -> None:
    assert (plural(1, "deploy"), plural(2, "deploy"), plural(1200, "entry", "entries")) == (
        "1 deploy",
        "2 deploys",
        "1,200 entries",
    )
