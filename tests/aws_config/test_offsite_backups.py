"""Backups kept in an S3 bucket as well as on disk: copied after each backup, listed, fetched back and loaded."""

from __future__ import annotations

import io
import shutil
import sqlite3
from pathlib import Path

import boto3
import pytest

from changeover.cli import main
from changeover.core.errors import ChangeoverError, Conflict, InvalidInput
from changeover.core.transfer.formats.manifest import read
from changeover.core.workspace import Workspace

from .conftest import REGION

BUCKET = "shop-backups"


def sqlite_db(path: Path, rows: int) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
        conn.executemany("INSERT INTO orders (item) VALUES (?)", [(f"item {i}",) for i in range(rows)])
    return f"sqlite:///{path}"


@pytest.fixture
def bucket(aws: str) -> object:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


def with_backup_bucket(workspace: Workspace, tmp_path: Path, rows: int) -> None:
    """A SQLite database ``shop-db`` of ``rows`` orders, and the bucket ``backups`` named for its backups."""
    workspace.register_resource("shop-db", sqlite_db(tmp_path / "shop.sqlite3", rows))
    workspace.register_resource("backups", f"s3://{BUCKET}?region={REGION}")
    workspace.use_backup_bucket("backups")


def test_backups_are_copied_listed_fetched_and_loaded(bucket: object, workspace: Workspace, tmp_path: Path) -> None:
    client = boto3.client("s3", region_name=REGION)
    with_backup_bucket(workspace, tmp_path, 25)

    made = workspace.backup_resource("shop-db")
    base = f"changeover-backups/shop-db/{made.folder.name}/"
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == sorted([base + "manifest.json", base + read(made.folder).artifact])
    assert (
        client.get_object(Bucket=BUCKET, Key=base + "manifest.json")["Body"].read()
        == (made.folder / "manifest.json").read_bytes()
    ), "the manifest beside the artifact, the same checksums"

    listed = workspace.list_offsite_backups()
    assert [(b.resource, b.timestamp, b.sha256) for b in listed] == [
        ("shop-db", made.folder.name, read(made.folder).sha256)
    ]
    assert listed[0].location == f"s3://{BUCKET}/{base}"

    shutil.rmtree(made.folder)
    fetched = workspace.fetch_backup("shop-db", made.folder.name)
    assert fetched == made.folder and (fetched / "manifest.json").exists()
    assert oct(fetched.stat().st_mode & 0o777) == "0o700"
    assert workspace.fetch_backup("shop-db", made.folder.name) == fetched, "already on disk: checked, kept"

    workspace.register_resource("restored", f"sqlite:///{tmp_path / 'restored.sqlite3'}")
    workspace.load_into_resource(fetched, "restored")
    with sqlite3.connect(tmp_path / "restored.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (25,)


def test_a_tampered_backup_is_refused_and_leaves_nothing(bucket: object, workspace: Workspace, tmp_path: Path) -> None:
    client = boto3.client("s3", region_name=REGION)
    with_backup_bucket(workspace, tmp_path, 5)
    made = workspace.backup_resource("shop-db")
    artifact = f"changeover-backups/shop-db/{made.folder.name}/{read(made.folder).artifact}"
    client.put_object(Bucket=BUCKET, Key=artifact, Body=b"not the backup")
    shutil.rmtree(made.folder)

    with pytest.raises(ChangeoverError, match="damaged"):
        workspace.fetch_backup("shop-db", made.folder.name)
    assert list(made.folder.parent.iterdir()) == [], "no folder, no partial left behind"
    with pytest.raises(ChangeoverError, match="No backup shop-db/20000101T000000Z"):
        workspace.fetch_backup("shop-db", "20000101T000000Z")
    with pytest.raises(InvalidInput):
        workspace.fetch_backup("shop-db", "../../etc")


def test_a_failed_copy_leaves_the_backup_on_disk(bucket: object, workspace: Workspace, tmp_path: Path) -> None:
    with_backup_bucket(workspace, tmp_path, 5)
    boto3.client("s3", region_name=REGION).delete_bucket(Bucket=BUCKET)

    made = workspace.backup_resource("shop-db")
    assert (made.folder / "manifest.json").exists()
    failed = [e for e in workspace.events() if e.action == "copy backup to bucket"]
    assert failed and failed[0].result == "failed" and "NoSuchBucket" in failed[0].detail


def test_only_an_s3_resource_can_hold_backups(aws: str, workspace: Workspace, tmp_path: Path) -> None:
    workspace.register_resource("shop-db", sqlite_db(tmp_path / "shop.sqlite3", 1))
    with pytest.raises(InvalidInput, match="not an S3 bucket"):
        workspace.use_backup_bucket("shop-db")
    with pytest.raises(Conflict, match="No backup bucket is set"):
        workspace.list_offsite_backups()
    assert workspace.setting("backup_bucket") == "none"


def test_the_command_line(bucket: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", f"sqlite:///{tmp_path / 'inv.sqlite3'}")

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        return main(list(argv), out, err), out.getvalue(), err.getvalue()

    assert run("resource", "add", "shop-db", sqlite_db(tmp_path / "shop.sqlite3", 3))[0] == 0
    assert run("resource", "add", "backups", f"s3://{BUCKET}?region={REGION}")[0] == 0
    code, out, err = run("offsite", "use", "backups")
    assert code == 0 and "copied to the bucket of backups" in out, err
    code, _, err = run("settings", "backup_bucket", "x")
    assert code == 1 and "changeover offsite use" in err
    assert run("backup", "shop-db")[0] == 0
    code, out, _ = run("offsite", "list", "shop-db")
    assert code == 0 and "shop-db" in out
    timestamp = out.splitlines()[-1].split()[1]
    code, out, err = run("offsite", "fetch", "shop-db", timestamp)
    assert code == 0 and out.strip().endswith(f"shop-db/{timestamp}"), err
    code, out, err = run("offsite", "push", out.strip())
    assert code == 0 and f"s3://{BUCKET}/changeover-backups/shop-db/{timestamp}/" in out, err
