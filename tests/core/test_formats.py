"""One formatter for sizes, counts, rates and durations, shared by the window, the wizard and the CLI."""

from __future__ import annotations

from changeover.core import jobs
from changeover.core.formats import human_bytes, human_count, human_rate, human_seconds


def test_sizes_are_decimal_and_say_when_unknown() -> None:
    assert human_bytes(None) == ""
    assert human_bytes(None, "unknown") == "unknown"
    assert human_bytes(0) == "0 B"
    assert human_bytes(999) == "999 B"
    assert human_bytes(1500) == "1.5 kB"
    assert human_bytes(3 * 1024 * 1024) == "3.1 MB"
    assert human_bytes(2_500_000_000) == "2.5 GB"


def test_counts_rates_and_durations() -> None:
    assert human_count(1_234_567, "rows") == "1,234,567 rows"
    assert human_count(2_000_000, "bytes") == "2.0 MB"
    assert human_rate(None, "rows") == ""
    assert human_rate(12_345.6, "rows") == "12,346 rows/s"
    assert human_rate(512, "bytes") == "512 B/s"
    assert human_rate(25e6, "bytes") == "25.0 MB/s"
    assert human_seconds(None) == ""
    assert human_seconds(59.6) == "1:00"
    assert human_seconds(3 * 3600 + 5 * 60 + 7) == "3:05:07"


def test_the_job_module_hands_out_the_same_formatters() -> None:
    assert jobs.human_rate is human_rate
    assert jobs.human_seconds is human_seconds
