"""The wizard's screenshot script renders every page over a real demo upgrade, no secret readable."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from changeover.gui import wizard_screenshots


def test_render_writes_every_page(qtbot: QtBot, tmp_path: Path) -> None:
    written = wizard_screenshots.render(tmp_path / "shots")
    names = {p.stem for p in written}
    assert {
        "wizard-1-database",
        "wizard-2-target",
        "wizard-2-target-existing",
        "wizard-3-plan",
        "wizard-4-progress",
        "wizard-4-progress-failed",
        "wizard-5-done",
    } <= names
    for path in written:
        assert path.stat().st_size > 2000, path
