"""Who uses what: read from every deploy's config as it is now, hand edits included."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from changeover.cli import main
from changeover.core.errors import InvalidInput
from changeover.core.workspace import Workspace

HAND_PW = "hand-typed-pw"


@pytest.fixture
def deploys(workspace: Workspace, tmp_path: Path) -> dict[str, Path]:
    """shop (cache attached by Changeover), blog (edited by hand), docs (nothing of interest)."""
    envs = {}
    for name in ("shop", "blog", "docs"):
        env = tmp_path / name / ".env"
        env.parent.mkdir()
        env.write_text("DEBUG=0\n")
        workspace.add_deploy(name, str(env))
        envs[name] = env
    workspace.register_resource("cache", "redis://cache.internal:6380/0")
    workspace.attach("cache", "shop")
    # blog's .env was edited by hand: Changeover never wrote these
    envs["blog"].write_text(
        "DEBUG=0\n"
        f"export SESSION_STORE='redis://:{HAND_PW}@CACHE.internal:6380/0'\n"
        f"DATABASE_URL=postgresql://shop_user:{HAND_PW}@db.internal/blog\n"
        "NOTE=see cache.internal for details\n"
        "STRIPE_API_KEY=sk_live_not_a_handle\n"
    )
    envs["docs"].write_text("DEBUG=0\nREDIS_URL=redis://other.internal:6380/0\n")
    return envs


def test_uses_finds_a_deploy_edited_by_hand_to_point_at_the_host(
    workspace: Workspace, deploys: dict[str, Path]
) -> None:
    found = workspace.uses("cache.internal")

    assert [(u.deploy, u.variable, u.matched, u.resource, u.known) for u in found] == [
        ("blog", "SESSION_STORE", "host", None, False),
        ("shop", "REDIS_URL", "host", "cache", True),
    ]
    assert found[0].kind == "redis" and found[0].handle == "redis://:•••@CACHE.internal:6380/0"
    assert all(HAND_PW not in repr(u) for u in found)
    assert [u.deploy for u in workspace.uses("cache.internal:6380")] == ["blog", "shop"]
    assert workspace.uses("cache.internal:6379") == []


def test_uses_by_resource_user_and_default_port(workspace: Workspace, deploys: dict[str, Path]) -> None:
    by_resource = workspace.uses("cache")
    assert [(u.deploy, u.variable, u.matched, u.resource) for u in by_resource] == [
        ("blog", "SESSION_STORE", "resource", None),  # the same place, a password added by hand
        ("shop", "REDIS_URL", "resource", "cache"),
    ]
    by_user = workspace.uses("shop_user")
    assert [(u.deploy, u.variable, u.kind, u.matched) for u in by_user] == [
        ("blog", "DATABASE_URL", "postgresql", "user")
    ]
    assert by_user[0].handle == "postgresql://shop_user:•••@db.internal/blog"
    # no port in the handle: the kind's port (PostgreSQL's 5432) is the one it reaches
    assert [u.deploy for u in workspace.uses("db.internal:5432")] == ["blog"]
    assert workspace.uses("db.internal:3306") == []


def test_a_hand_edit_away_from_an_attachment_shows_as_not_known(workspace: Workspace, deploys: dict[str, Path]) -> None:
    deploys["shop"].write_text("DEBUG=0\nREDIS_URL=redis://other.internal:6380/0\n")

    assert [u.deploy for u in workspace.uses("cache.internal")] == ["blog"]
    moved = workspace.uses("other.internal")
    assert [(u.deploy, u.resource, u.known) for u in moved] == [("docs", None, False), ("shop", "cache", False)]


def test_an_unreadable_config_is_reported_not_skipped(workspace: Workspace, deploys: dict[str, Path]) -> None:
    deploys["docs"].unlink()

    found = workspace.uses("cache.internal")

    problems = [(u.deploy, u.problem) for u in found if u.problem]
    assert len(problems) == 1 and problems[0][0] == "docs" and "does not exist" in problems[0][1]
    with pytest.raises(InvalidInput, match="Say what to look for"):
        workspace.uses("  ")


def test_the_cli_lists_uses_as_a_table_and_as_json(
    workspace: Workspace, deploys: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", str(workspace.inventory.engine.url))
    out, err = io.StringIO(), io.StringIO()
    assert main(["uses", "cache.internal"], out, err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["DEPLOY", "VAR", "KIND", "HANDLE", "MATCHED", "ATTACHMENT"]
    assert "not known to Changeover" in lines[1] and lines[1].startswith("blog")
    assert lines[2].startswith("shop") and lines[2].rstrip().endswith("cache")
    out = io.StringIO()
    assert main(["uses", "cache.internal", "--json"], out, err) == 0
    shown = json.loads(out.getvalue())
    assert [(u["deploy"], u["variable"], u["known"]) for u in shown] == [
        ("blog", "SESSION_STORE", False),
        ("shop", "REDIS_URL", True),
    ]
    assert HAND_PW not in out.getvalue()
