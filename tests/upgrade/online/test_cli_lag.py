"""The CLI shows the online route's lag: on a terminal in the bar, elsewhere as a line every few seconds."""

from __future__ import annotations

import io

import pytest

from changeover.cli import upgrade as cli_upgrade
from changeover.core.replication import Lag
from changeover.core.upgrade.online_steps import lag_text
from changeover.core.upgrade.procedure import RunEvent


def test_lag_text_says_bytes_and_seconds_behind() -> None:
    assert lag_text(Lag(13_000_000, 0.84, "0/1", "0/2")) == "13.0 MB, 0.8 s behind"
    assert lag_text(Lag(None, None, "", "")) == "? bytes, ? s behind"


def test_a_log_that_is_not_a_terminal_gets_a_lag_line_every_few_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(cli_upgrade.time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    bar = cli_upgrade._LagLines(out)
    bar(RunEvent(1, "catch_up", "running", "Replicate changes while the app runs"))
    for seconds, message in (
        (0.0, "12.4 MB, 0.8 s behind"),
        (1.0, "9.0 MB, 0.5 s behind"),
        (5.5, "1.0 kB, 0.0 s behind"),
    ):
        clock[0] = 100.0 + seconds
        bar(RunEvent(1, "catch_up", "progress", message, 0, None, "bytes"))
    bar(RunEvent(1, "drain", "progress", "2.0 kB to apply before the switch"))
    lines = out.getvalue().splitlines()
    assert [line for line in lines if "lag:" in line] == [
        "    lag: 12.4 MB, 0.8 s behind",
        "    lag: 1.0 kB, 0.0 s behind",
    ]


def test_json_events_carry_the_lag_as_they_are() -> None:
    out = io.StringIO()
    cli_upgrade._LagLines(out, as_json=True)(RunEvent(1, "catch_up", "progress", "12.4 MB, 0.8 s behind"))
    assert '"message": "12.4 MB, 0.8 s behind"' in out.getvalue() and "lag:" not in out.getvalue()
