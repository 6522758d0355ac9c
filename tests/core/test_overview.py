"""The window's whole read of the inventory leaves no garbage in cycles for a collector to find later."""

from __future__ import annotations

import gc
from pathlib import Path

from changeover.core import deploys
from changeover.core.workspace import Workspace


def test_the_overview_frees_what_it_read_at_once(workspace: Workspace, tmp_path: Path) -> None:
    for i in range(30):
        env = tmp_path / f"app{i}.env"
        env.write_text("DEBUG=0\n")
        workspace.add_deploy(f"app{i}", str(env), restart_cmd="true")
        workspace.register_resource(f"db{i}", f"sqlite:///{tmp_path / f'db{i}.sqlite'}")
        workspace.attach(f"db{i}", f"app{i}")
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        found, resources = deploys.overview(workspace)
        left_in_cycles = gc.collect()
    finally:
        if was:
            gc.enable()
    assert len(found) == 30 and len(resources) == 30
    assert [r.name for r in resources if r.state == "attached"] == sorted(f"db{i}" for i in range(30))
    # the ORM's deploys, attachments and resources hold each other: unbroken, 30 of each leave over a thousand
    assert left_in_cycles < 200, left_in_cycles
