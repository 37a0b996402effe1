"""The rain behind an alert, read for the incident pages: each gauge of the incident's scope
(vigie.stations_queries.of_scope), charted over incident_view.rain_window() from the rollups
(api.queries.rain.series, the station charts' own query)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from api.queries import rain
from api.web import incident_view
from vigie import stations_queries
from vigie.db import AsyncConn


async def rain_behind(
    conn: AsyncConn, incident: dict[str, Any], timezone: str, *, merge: bool
) -> dict[str, Any] | None:
    """The chart's data (incident_view.chart_data), merged into one series for the public page
    (which names no gauge); None when the scope has no gauge."""
    gauges = await stations_queries.of_scope(conn, str(incident["scope_kind"]), str(incident["scope_id"]))
    if not gauges:
        return None
    win = incident_view.rain_window(incident, datetime.now(UTC))
    series = []
    for g in gauges:
        buckets = await rain.series(conn, str(g["id"]), win.start, win.end, win.step, timezone)
        series.append((str(g["name"]), buckets))
    return incident_view.chart_data(win, series, merge=merge)
