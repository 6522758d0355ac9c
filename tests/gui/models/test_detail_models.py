"""The detail views' models pass the model tester; badges and the state filter read the states at a glance;
numbers, sizes, durations and moments are written one way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from pytestqt.modeltest import ModelTester

from changeover.core import checks, demo
from changeover.core.upgrade import procedure
from changeover.core.workspace import Workspace
from changeover.gui import formatting, models
from changeover.gui.icons import BADGES, badge_state, state_badge
from changeover.gui.models.details import (
    AttachmentHistoryModel,
    BackupsModel,
    HealthHistoryModel,
    RunsModel,
    StepsModel,
)


def test_detail_models_pass_the_model_tester(qtmodeltester: ModelTester, workspace: Workspace, tmp_path: Path) -> None:
    demo.create_demo(workspace)
    checks.check_resources(workspace, [demo.DATABASE, demo.CACHE])
    plan = procedure.plan_upgrade(workspace, demo.DATABASE, to_handle=f"sqlite:///{tmp_path / 'n.db'}")
    procedure.execute(workspace, procedure.start_upgrade(workspace, plan).id)
    detail = workspace.resource_detail(demo.DATABASE)
    for model, records in (
        (AttachmentHistoryModel(), detail.resource.history),
        (HealthHistoryModel(), detail.health),
        (BackupsModel(), detail.backups),
        (RunsModel(), detail.runs),
        (StepsModel(), detail.runs[0].steps),
    ):
        model.set_records(records)
        assert model.rowCount() == len(records) > 0
        qtmodeltester.check(model, force_py=True)
    runs = RunsModel()
    runs.set_records(detail.runs)
    assert runs.index(0, 0).data() == f"#{detail.runs[0].id}" and runs.index(0, 2).data() == "done"


def test_badges_and_the_state_filter(qapp: object, workspace: Workspace) -> None:
    demo.create_demo(workspace)
    workspace.register_resource("spare", "redis://127.0.0.1:6379/5")
    workspace.register_resource("gone", "redis://127.0.0.1:6379/6")
    workspace.deprovision("gone", "gone")
    resources = workspace.list_resources("all")
    model = models.ResourcesModel()
    model.set_records(resources)
    proxy = models.ResourceFilterProxy()
    proxy.setSourceModel(model)

    def shown() -> list[str]:
        return sorted(proxy.index(r, 0).data() for r in range(proxy.rowCount()))

    assert "gone" not in shown()  # deprovisioned rows hidden unless asked
    proxy.set_show_deprovisioned(True)
    assert "gone" in shown()
    proxy.set_show_deprovisioned(False)
    for state, expected in (
        ("available", ["spare"]),
        ("overdue", [demo.OLD_DATABASE]),
        ("deprovisioned", ["gone"]),
        ("failed", []),
        ("detached", [demo.OLD_DATABASE, "spare"]),
    ):
        proxy.set_state(state)
        assert shown() == expected, state
    overdue_row = model.row_of(demo.OLD_DATABASE)
    assert overdue_row is not None
    state_cell = model.index(overdue_row, models.ResourcesModel.STATE)
    assert state_cell.data() == "detached, overdue" and "Overdue" in state_cell.data(Qt.ItemDataRole.ToolTipRole)
    assert isinstance(state_cell.data(Qt.ItemDataRole.DecorationRole), QIcon)
    name_icon = model.index(overdue_row, models.ResourcesModel.NAME).data(Qt.ItemDataRole.DecorationRole)
    assert isinstance(name_icon, QIcon) and not name_icon.isNull()
    # Each badge has its own shape and reads on a light and a dark table.
    images = {b: state_badge(b).pixmap(16, 16).toImage() for b in BADGES}
    assert len({bytes(image.constBits()) for image in images.values()}) == len(BADGES)
    assert badge_state("detached", overdue=True) == "overdue" and badge_state("attached", overdue=True) == "attached"


def test_one_way_to_write_numbers_sizes_durations_and_moments() -> None:
    assert formatting.number(1234567) == "1,234,567"  # the C locale of the tests: grouped like core
    assert formatting.size(1_500_000) == "1.5 MB" and formatting.size(999) == "999 B" and formatting.size(None) == ""
    assert formatting.duration(4.25) == "4.2 s" and formatting.duration(37) == "37 s"
    assert formatting.duration(75) == "1:15" and formatting.duration(None) == ""
    at = datetime(2026, 12, 1, 13, 4, 5, 123456, tzinfo=UTC)
    text = formatting.moment(at)
    local = at.astimezone()
    assert text.startswith(local.strftime("%Y-%m-%d %H:%M:%S ")) and "123456" not in text and len(text.split()) == 3
    assert formatting.plural(1, "backup") == "1 backup" and formatting.plural(3, "backup") == "3 backups"
    events = models.EventsModel()
    assert events.columns[0].text  # the audit trail's When is a moment to the second with its zone
    from changeover.core.records import EventInfo

    event = EventInfo(at - timedelta(seconds=1), "me", "attach", "resource", "db", "ok", "")
    assert models.EventsModel.render([event])[0][0] == formatting.moment(event.at)
