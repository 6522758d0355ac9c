"""Workspace.overview (added for the window) reads the same as list_deploys and list_resources("all")."""

from __future__ import annotations

from changeover.core.demo import create_demo
from changeover.core.workspace import Workspace


def test_overview_matches_the_list_use_cases(workspace: Workspace) -> None:
    create_demo(workspace)
    workspace.deprovision("demo-shop-db-2024", "demo-shop-db-2024")
    deploys, resources = workspace.overview()
    assert deploys == workspace.list_deploys()
    assert resources == workspace.list_resources("all")
    assert {r.state for r in resources} == {"attached", "deprovisioned"}
    assert [a.env_var for a in deploys[0].attachments] == [a.env_var for a in workspace.list_deploys()[0].attachments]
    assert resources[0].attachments and resources[0].history
