"""Retention: prune keeps the last N backups per resource, the young ones, and what runs and detached resources need.

Every backup here is a real backup of a SQLite database made through the core API; only the creation
times in their manifests are moved into the past, so the rules can be checked over weeks of backups.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from changeover.cli import main
from changeover.core import backups, paths
from changeover.core.inventory.models import Event, ResourceState, UpgradeRun
from changeover.core.transfer.formats.manifest import digest_artifact, read
from changeover.core.upgrade.states import RunState
from changeover.core.workspace import Workspace

#: days ago of each resource's four backups, newest first
AGES = {"a": (1, 3, 20, 30), "b": (12, 15, 20, 40), "c": (2, 5, 8, 50)}


def make_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {i}",) for i in range(20)])
    conn.close()


def age(folder: Path, days: int) -> None:
    """Move a real backup's creation time ``days`` into the past (its manifest rewritten, the artifact untouched)."""
    manifest = read(folder)
    moment = datetime.now(UTC) - timedelta(days=days)
    dataclasses.replace(manifest, created_at=moment.isoformat()).write(folder)


@pytest.fixture
def aged(workspace: Workspace, tmp_path: Path) -> dict[tuple[str, int], Path]:
    """Twelve real backups across three resources, keyed by (resource, days ago)."""
    found: dict[tuple[str, int], Path] = {}
    for name, ages in AGES.items():
        make_sqlite(tmp_path / f"{name}.sqlite3")
        workspace.register_resource(name, f"sqlite:///{tmp_path / name}.sqlite3")
        for days in ages:
            folder = backups.backup_resource(workspace, name).folder
            age(folder, days)
            found[name, days] = folder
    workspace.set_setting("backup_keep", "2")
    workspace.set_setting("backup_keep_days", "10")
    return found


def on_disk() -> set[Path]:
    return {folder for folder, _ in backups.list_backups()}


def prune_events(workspace: Workspace) -> list[Event]:
    with workspace.session() as session:
        return list(session.scalars(select(Event).where(Event.action == "prune backups").order_by(Event.id)))


def test_settings_have_the_documented_defaults_and_ranges(workspace: Workspace) -> None:
    assert workspace.setting("backup_keep") == "5"
    assert workspace.setting("backup_keep_days") == "14"
    with pytest.raises(Exception, match="between 1 and 1000"):
        workspace.set_setting("backup_keep", "0")
    workspace.set_setting("backup_keep_days", "0")
    assert workspace.setting("backup_keep_days") == "0"


def test_keeps_the_last_n_and_the_young_ones(workspace: Workspace, aged: dict[tuple[str, int], Path]) -> None:
    assert len(on_disk()) == 12
    pruned = backups.prune_backups(workspace)
    expected = {aged["a", 20], aged["a", 30], aged["b", 20], aged["b", 40], aged["c", 50]}
    assert {p.folder for p in pruned} == expected
    assert on_disk() == set(aged.values()) - expected
    assert not any(folder.exists() for folder in expected)
    assert {p.resource for p in pruned} == {"a", "b", "c"}


def test_one_resource_only(workspace: Workspace, aged: dict[tuple[str, int], Path]) -> None:
    pruned = backups.prune_backups(workspace, "a")
    assert {p.folder for p in pruned} == {aged["a", 20], aged["a", 30]}
    assert aged["c", 50].exists() and aged["b", 40].exists()


def test_backups_runs_and_detached_resources_refer_to_are_kept(
    workspace: Workspace, aged: dict[tuple[str, int], Path]
) -> None:
    now = datetime.now(UTC)
    with workspace.session() as session:
        b = workspace.resource(session, "b")
        for state, days in ((RunState.RUNNING, 20), (RunState.DONE, 40)):
            session.add(
                UpgradeRun(
                    source=b,
                    target_name=f"b-new-{days}",
                    state=state,
                    step="backup",
                    keep_days=7,
                    backup_path=str(aged["b", days]),
                    actor="tester@test",
                    created_at=now,
                    updated_at=now,
                )
            )
        c = workspace.resource(session, "c")
        c.state = ResourceState.DETACHED.value
        c.note = f"Replaced by c-new in upgrade run 9; backup in {aged['c', 50]}"
        session.commit()
    pruned = backups.prune_backups(workspace)
    assert {p.folder for p in pruned} == {aged["a", 20], aged["a", 30]}
    assert aged["b", 20].exists() and aged["b", 40].exists() and aged["c", 50].exists()


def test_dry_run_lists_the_same_set_and_deletes_nothing_then_a_second_prune_is_a_no_op(
    workspace: Workspace, aged: dict[tuple[str, int], Path]
) -> None:
    before = on_disk()
    planned = backups.prune_backups(workspace, dry_run=True)
    assert len(planned) == 5
    assert on_disk() == before
    assert prune_events(workspace) == []  # the backups pruned nothing, a dry run changes nothing: no row

    done = backups.prune_backups(workspace)
    assert done == planned
    [event] = prune_events(workspace)
    assert event.result == "ok" and event.object_name == "all"
    assert event.detail.startswith("removed 5 backups")
    assert all(str(p.folder) in event.detail for p in done)

    after = on_disk()
    assert backups.prune_backups(workspace) == []
    assert on_disk() == after
    assert len(prune_events(workspace)) == 1  # nothing changed, nothing recorded


def test_each_backup_prunes_its_resource(workspace: Workspace, tmp_path: Path) -> None:
    make_sqlite(tmp_path / "d.sqlite3")
    workspace.register_resource("d", f"sqlite:///{tmp_path / 'd.sqlite3'}")
    workspace.set_setting("backup_keep", "2")
    workspace.set_setting("backup_keep_days", "0")
    folders = [backups.backup_resource(workspace, "d").folder for _ in range(4)]
    assert on_disk() == set(folders[-2:])
    assert len(prune_events(workspace)) == 2  # the third and the fourth backup each removed one


def test_never_through_a_symbolic_link(workspace: Workspace, aged: dict[tuple[str, int], Path], tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for days in (60, 70, 80):
        shutil.copytree(aged["a", 30], outside / f"old{days}")
        age(outside / f"old{days}", days)
    (paths.backups_dir() / "linked").symlink_to(outside, target_is_directory=True)
    pruned = backups.prune_backups(workspace)
    assert all(p.resource != "linked" for p in pruned)
    assert sorted(p.name for p in outside.iterdir()) == ["old60", "old70", "old80"]


def test_cli_prune_and_listing(
    workspace: Workspace, aged: dict[tuple[str, int], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))

    def run(*argv: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        return main(list(argv), out, err), out.getvalue()

    code, text = run("backups", "a", "--json")  # as scripts call it
    assert code == 0 and len(json.loads(text)) == 4
    assert run("backups", "a", "--dry-run")[0] != 0
    code, text = run("backups", "prune", "a", "--dry-run", "--json")
    assert code == 0
    assert {Path(p["folder"]) for p in json.loads(text)} == {aged["a", 20], aged["a", 30]}
    assert len(on_disk()) == 12
    code, text = run("backups", "prune")
    assert code == 0 and "Removed 5 backups" in text
    assert run("backups", "prune")[1].startswith("Nothing to remove")


def test_the_last_proven_backup_is_never_pruned_over_many_backups(workspace: Workspace, tmp_path: Path) -> None:
    """Fifteen real backups over a month; only some proven (by a real test-restore), one proof failed."""
    make_sqlite(tmp_path / "e.sqlite3")
    workspace.register_resource("e", f"sqlite:///{tmp_path / 'e.sqlite3'}")
    workspace.set_setting("backup_keep", "3")
    workspace.set_setting("backup_keep_days", "7")
    days_ago = (40, 37, 33, 30, 27, 24, 21, 18, 15, 12, 9, 6, 4, 2, 1)  # oldest first
    folders: dict[int, Path] = {}
    for days in days_ago:
        with sqlite3.connect(tmp_path / "e.sqlite3") as conn:
            conn.execute("INSERT INTO notes (body) VALUES (?)", (f"day -{days}",))
        conn.close()
        folders[days] = backups.backup_resource(workspace, "e").folder
    for folder, days in zip(folders.values(), days_ago, strict=True):
        age(folder, days)
    backups.test_restore_backup(workspace, folders[30])
    backups.test_restore_backup(workspace, folders[21])  # the last proven one ...
    damaged = folders[15]  # ... and a newer one whose proof failed, which does not count
    with sqlite3.connect(damaged / read(damaged).artifact) as conn:
        conn.execute("UPDATE notes SET body = 'changed' WHERE id = 3")
    conn.close()
    artifact = damaged / read(damaged).artifact
    sha256, size = digest_artifact(artifact)
    dataclasses.replace(read(damaged), sha256=sha256, size_bytes=size).write(damaged)
    with pytest.raises(backups.TestRestoreFailed, match="notes"):
        backups.test_restore_backup(workspace, damaged)

    pruned = {p.folder for p in backups.prune_backups(workspace)}

    kept = {days for days, folder in folders.items() if folder not in pruned}
    assert kept == {21, 6, 4, 2, 1}  # the proven one, the young ones (which include the newest three)
    assert {folder for folder, _ in backups.list_backups("e")} == {folders[d] for d in kept}
    listed = {b.folder: b for b in workspace.list_backups("e")}
    assert listed[folders[21]].proven and listed[folders[21]].proven_where == "a private temporary SQLite file"

    # a newer proof moves the protection: the older proven backup goes at the next prune
    backups.test_restore_backup(workspace, folders[6])
    age(folders[6], 8)  # now past the young window, but proven and among the newest three
    assert {p.folder for p in backups.prune_backups(workspace)} == {folders[21]}
    backups.backup_resource(workspace, "e")  # a new backup: folders[6] leaves the newest three, still proven
    assert folders[6].exists()


def test_delete_one_backup_unless_a_run_or_a_detached_resource_needs_it(
    workspace: Workspace, aged: dict[tuple[str, int], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    removed = workspace.delete_backup(aged["a", 1])
    assert removed.folder == aged["a", 1] and not aged["a", 1].exists()
    with workspace.session() as session:
        c = workspace.resource(session, "c")
        c.state = ResourceState.DETACHED.value
        c.note = f"Replaced by c-new in upgrade run 9; backup in {aged['c', 8]}"
        session.commit()
    with pytest.raises(Exception, match="it is kept"):
        workspace.delete_backup(aged["c", 8])
    assert aged["c", 8].exists()
    with workspace.session() as session:
        results = [
            e.result for e in session.scalars(select(Event).where(Event.action == "delete backup").order_by(Event.id))
        ]
    assert results == ["ok", "failed"]
    relative = Path("b") / aged["b", 12].name  # RESOURCE/STAMP under the backups folder
    assert workspace.delete_backup(relative).folder == paths.backups_dir() / relative

    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))
    out, err = io.StringIO(), io.StringIO()
    assert main(["backups", "delete", f"b/{aged['b', 15].name}"], out, err) == 0
    assert out.getvalue().startswith(f"Deleted the backup {aged['b', 15]}") and not aged["b", 15].exists()
    assert main(["backups", "delete"], io.StringIO(), err) == 1 and "Name the one backup" in err.getvalue()
    assert main(["backups", "delete", str(aged["c", 8])], io.StringIO(), err) == 1 and aged["c", 8].exists()
