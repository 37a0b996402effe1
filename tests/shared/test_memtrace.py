"""vigie.memtrace: the memory reports that found what grew in the alerts process (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vigie.memtrace import MemTracer, malloc_bytes, rss_bytes, start_tracer
from vigie.settings import AlertsSettings, Settings


class Piled:
    """Stands for objects that a leak keeps alive."""

    def __init__(self, i: int) -> None:
        self.payload = [i] * 50


def test_a_report_names_the_site_and_the_type_that_grew(tmp_path: Path) -> None:
    tracer = MemTracer(tmp_path / "report.txt", interval_s=3600)
    tracer.start()
    try:
        tracer.report()
        kept = [Piled(i) for i in range(5000)]
        tracer.report()
    finally:
        tracer.stop()  # a last report, from the tracer's thread
    text = (tmp_path / "report.txt").read_text()
    assert tracer.reports == 3
    assert text.count("=== ") == 3
    first, second, _ = text.split("=== ")[1:]
    assert "rss=" in first and "traced=" in first and "-- largest sites" in first
    grown = second.split("-- live objects grown since first report")[1]
    # 5,000 Piled objects (and each one's list) are alive now and were not then.
    line = next(x for x in grown.splitlines() if x.strip().startswith("Piled:"))
    assert int(line.split("+")[1].split(" ")[0]) >= 5000
    sites = second.split("-- grown since first report")[1].split("--")[0]
    assert "test_memtrace.py" in sites
    assert len(kept) == 5000


def test_off_unless_a_directory_is_set(tmp_path: Path) -> None:
    assert start_tracer(None, "alerts", 60) is None
    tracer = start_tracer(tmp_path / "dir", "alerts", 3600)
    assert tracer is not None
    try:
        assert tracer.path.parent == tmp_path / "dir" and tracer.path.name.startswith("alerts-")
    finally:
        tracer.stop()
    assert tracer.path.read_text().startswith("=== ")


def test_process_figures_are_read() -> None:
    assert rss_bytes() > 10 * 2**20
    m = malloc_bytes()
    assert m is None or (m[0] >= m[1] > 0)


@pytest.mark.parametrize("value", ["0", "-5", "abc", "1e9"])
def test_memtrace_interval_out_of_range_or_malformed_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_MEMTRACE_INTERVAL_S", value)
    with pytest.raises(ValidationError, match="memtrace_interval_s"):
        Settings()


@pytest.mark.parametrize(
    ("field", "value"), [("db_connections", 0), ("db_connections", 65), ("notifier_idle_s", 0.5)]
)
def test_notifier_pool_settings_out_of_range_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        AlertsSettings.model_validate({field: value})
