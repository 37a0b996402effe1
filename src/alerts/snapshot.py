"""What one evaluation pass reads from the database, for the stations it touches and no others.

Rolling window sums come from the rain_5min rollup (and rain_1h for 72 h), aggregated by the
database, so a pass reads a handful of numbers per station whatever the history. Station
metadata (positions, communes, catchments) is small and changes rarely: it is cached in memory
for a short time; a cache is not state, so a restart loses nothing.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from alerts.engine_errors import AlertsConfigError
from alerts.hydrology import IntervalRain, return_period_points
from alerts.montana import EXAMPLE_SET, MontanaSet, parse_set
from vigie.alert_rules import WINDOWS_MIN

log = logging.getLogger(__name__)
Conn = psycopg.Connection[Any]
# Windows up to 1 h are summed from 5-min buckets. Longer ones from hourly buckets for the
# whole hours inside the window plus 5-min buckets at both ends, so a pass reads ~100 rows per
# station instead of 288 for 24 h; the result is the same sum to the 5-min bucket.
# 72 h is only read when a rule needs it.
_SHORT_WINDOWS = tuple(w for w in WINDOWS_MIN if w <= 60)
_MID_WINDOWS = tuple(w for w in WINDOWS_MIN if 60 < w <= 1440)
_LONG_WINDOWS = tuple(w for w in WINDOWS_MIN if w > 1440)
EARTH_KM = 6371.0


@dataclass(frozen=True)
class StationMeta:
    """The parts of a station the rules need."""

    id: str
    name: str
    commune: str
    lat: float
    lon: float
    interval_s: int
    tip_mm: float
    created_at: datetime


@dataclass(frozen=True)
class Catchment:
    """A catchment with its gauges' weights."""

    id: str
    name: str
    area_km2: float
    cn2: float
    communes: tuple[str, ...]
    weights: dict[str, float]
    montana: MontanaSet | None


def distance_km(a: StationMeta, b: StationMeta) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


_KM_PER_DEG = math.pi * EARTH_KM / 180.0


_CELL_DEG = 0.1


@dataclass
class Directory:
    """Active stations, communes, catchments and Montana sets, with a coarse spatial grid."""

    stations: dict[str, StationMeta]
    communes: dict[str, str]
    catchments: dict[str, Catchment]
    montana_sets: dict[str, MontanaSet]
    montana_assign: dict[tuple[str, str], str]
    by_commune: dict[str, list[str]] = field(default_factory=dict)
    by_catchment_station: dict[str, list[str]] = field(default_factory=dict)
    grid: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    loaded_at: float = 0.0
    _near: dict[tuple[str, float], list[str]] = field(default_factory=dict)
    _rp_points: dict[tuple[str, int], list[tuple[float, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for s in self.stations.values():
            self.by_commune.setdefault(s.commune, []).append(s.id)
            self.grid.setdefault(_cell(s.lat, s.lon), []).append(s.id)
        for c in self.catchments.values():
            for sid in c.weights:
                self.by_catchment_station.setdefault(sid, []).append(c.id)

    def neighbours(self, station_id: str, radius_km: float) -> list[str]:
        """Active stations within radius_km of station_id, itself excluded (memoised)."""
        key = (station_id, radius_km)
        found = self._near.get(key)
        if found is not None:
            return found
        me = self.stations[station_id]
        reach_lat = math.ceil(radius_km / 111.0 / _CELL_DEG)
        cos_lat = max(0.05, math.cos(math.radians(me.lat)))
        reach_lon = math.ceil(radius_km / (111.0 * cos_lat) / _CELL_DEG)
        ci, cj = _cell(me.lat, me.lon)
        # Equirectangular distance: within 1 % of the great circle below 100 km, much cheaper.
        limit = (radius_km / _KM_PER_DEG) ** 2
        found = []
        for i in range(ci - reach_lat, ci + reach_lat + 1):
            for j in range(cj - reach_lon, cj + reach_lon + 1):
                for sid in self.grid.get((i, j), ()):
                    other = self.stations[sid]
                    dx = (other.lon - me.lon) * cos_lat
                    dy = other.lat - me.lat
                    if sid != station_id and dx * dx + dy * dy <= limit:
                        found.append(sid)
        self._near[key] = found
        return found

    def return_period_points(self, montana: MontanaSet, window_min: int) -> list[tuple[float, float]]:
        """Depth/return-period points of a set at a window, computed once per directory load."""
        key = (montana.id, window_min)
        pts = self._rp_points.get(key)
        if pts is None:
            pts = self._rp_points[key] = return_period_points(montana, window_min)
        return pts

    def montana_for(self, station_id: str | None, catchment_id: str | None) -> MontanaSet:
        """The most specific Montana set: station, catchment, commune, default, then the example."""
        keys: list[tuple[str, str]] = []
        if station_id:
            keys.append(("station", station_id))
        if catchment_id:
            cat = self.catchments.get(catchment_id)
            if cat and cat.montana:
                return cat.montana
            keys.append(("catchment", catchment_id))
        if station_id and station_id in self.stations:
            keys.append(("commune", self.stations[station_id].commune))
        keys.append(("default", "*"))
        for key in keys:
            set_id = self.montana_assign.get(key)
            if set_id and set_id in self.montana_sets:
                return self.montana_sets[set_id]
        return EXAMPLE_SET


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return (math.floor(lat / _CELL_DEG), math.floor(lon / _CELL_DEG))


def load_directory(conn: Conn) -> Directory:
    """Read stations, communes, catchments and Montana sets."""
    stations = {
        str(r[0]): StationMeta(str(r[0]), str(r[1]), str(r[2]), float(r[3]), float(r[4]),
                               int(r[5]), float(r[6]), r[7])
        for r in conn.execute(
            "SELECT id, name, commune_insee, lat, lon, expected_interval_s, tip_mm, created_at"
            " FROM stations WHERE active"
        )
    }
    communes = {str(i): str(n) for i, n in conn.execute("SELECT insee, name FROM communes")}
    weights: dict[str, dict[str, float]] = defaultdict(dict)
    for cid, sid, w in conn.execute(
        "SELECT catchment_id, station_id, weight FROM catchment_stations"
    ):
        if sid in stations:
            weights[str(cid)][str(sid)] = float(w)
    catchments: dict[str, Catchment] = {}
    for cid, name, area, cn2, comm, montana in conn.execute(
        "SELECT id, name, area_km2, cn2, communes, montana FROM catchments"
    ):
        inline = None
        if montana:
            try:
                inline = parse_set(f"bassin-{cid}", f"Montana du bassin {name}", False, montana)
            except AlertsConfigError as exc:
                log.warning("%s; the catchment falls back to its assigned set", exc)
        catchments[str(cid)] = Catchment(
            str(cid), str(name), float(area), float(cn2), tuple(comm or ()),
            weights.get(str(cid), {}), inline,
        )
    sets = {}
    for i, lbl, ex, coeffs in conn.execute(
        "SELECT id, label, is_example, coefficients FROM montana_sets"
    ):
        # A broken set must not stop the engine: skip it, the next set in line applies.
        try:
            sets[str(i)] = parse_set(str(i), str(lbl), bool(ex), coeffs)
        except AlertsConfigError as exc:
            log.warning("%s; set ignored", exc)
    assign = {
        (str(k), str(i)): str(s)
        for k, i, s in conn.execute("SELECT scope_kind, scope_id, set_id FROM montana_assignments")
    }
    return Directory(stations, communes, catchments, sets, assign, loaded_at=time.monotonic())


@dataclass(frozen=True)
class Status:
    """device_status of one gauge."""

    last_ts: datetime | None
    last_seen: datetime | None
    battery_v: float | None
    clock_offset_s: float | None


@dataclass
class Snapshot:
    """Rain and status data for the stations one pass needs, at time now."""

    now: datetime
    directory: Directory
    growing_season: bool
    windows: dict[str, dict[int, float]] = field(default_factory=dict)
    counts: dict[str, dict[int, int]] = field(default_factory=dict)
    antecedent: dict[str, dict[int, float]] = field(default_factory=dict)
    recent: dict[str, list[IntervalRain]] = field(default_factory=dict)
    status: dict[str, Status] = field(default_factory=dict)
    last_tips: dict[str, list[int | None]] = field(default_factory=dict)

    def depth(self, station_id: str, window_min: int) -> float:
        """Rain (mm) at a station over the rolling window ending now; 0 when nothing stored."""
        return self.windows.get(station_id, {}).get(window_min, 0.0)


def _window_sql() -> sql.Composed:
    cols = []
    for w in _SHORT_WINDOWS:
        cond = sql.SQL("bucket > %(now)s - make_interval(mins => {})").format(sql.Literal(w + 5))
        cols.append(sql.SQL("coalesce(sum(mm) FILTER (WHERE {}), 0)").format(cond))
        cols.append(sql.SQL("coalesce(sum(readings) FILTER (WHERE {}), 0)").format(cond))
    return sql.SQL(
        "SELECT station_id, {} FROM rain_5min"
        " WHERE station_id = ANY(%(ids)s) AND bucket > %(now)s - interval '65 minutes'"
        " AND bucket < %(now)s GROUP BY station_id"
    ).format(sql.SQL(", ").join(cols))


_WINDOW_SQL = _window_sql()
# A 5-min bucket b is in the window of w minutes ending at now when now - w - 5 min < b < now
# (the same rule as the short windows); hs is the first whole hour inside, he the current hour.
_HYBRID_SQL = """
WITH b AS (
    SELECT w, %(now)s::timestamptz - make_interval(mins => w) AS start,
           date_trunc('hour', %(now)s::timestamptz - make_interval(mins => w - 55)) AS hs,
           date_trunc('hour', %(now)s::timestamptz) AS he
      FROM unnest(%(windows)s::int[]) AS w
)
SELECT f.station_id, b.w, sum(f.mm), sum(f.readings) FROM b CROSS JOIN LATERAL (
    SELECT station_id, mm, readings FROM rain_5min
     WHERE station_id = ANY(%(ids)s) AND bucket > b.start - interval '5 minutes'
       AND bucket < b.hs
    UNION ALL
    SELECT station_id, mm, readings FROM rain_1h
     WHERE station_id = ANY(%(ids)s) AND bucket >= b.hs AND bucket < b.he
) f GROUP BY f.station_id, b.w
UNION ALL
SELECT station_id, 0, sum(mm), sum(readings) FROM rain_5min
 WHERE station_id = ANY(%(ids)s) AND bucket >= date_trunc('hour', %(now)s::timestamptz)
   AND bucket < %(now)s
 GROUP BY station_id
"""
_ANTECEDENT_SQL = """
SELECT station_id, coalesce(sum(mm), 0) FROM rain_1h
 WHERE station_id = ANY(%(ids)s) AND bucket < date_trunc('hour', %(start)s)
   AND bucket >= date_trunc('hour', %(start)s) - interval '5 days'
 GROUP BY station_id
"""


# The raw rows hydrology.tip_intensity_mm_h can look at, and no others. Why (issue 14's soak):
# the alerts process's RSS grows with the peak of its passes under rain (pymalloc keeps the
# arenas a peak touched), and every row of the lookback, 360 for an hour of a gauge reporting
# every 10 s, became five Python objects in each pass for as long as the gauge stayed wet in the
# window (docs/benchmarks.md, "the engine under a storm"). Walking back from now, the rate
# depends on: every row with rain (the depth); the rows less than the longest min_span old and the
# first one past them (where the span can first reach min_span while the depth already suffices;
# past it, every span does, so the walk can only stop on a row with rain); and, for each
# lookback, its oldest row (the span when the walk runs out). A dry row elsewhere only carries a
# span that the next row read overwrites, so leaving it out gives the same rate.
_RECENT_SQL = """
SELECT station_id, ts, interval_s, mm FROM (
    SELECT station_id, ts, interval_s, mm,
           lag(ts) OVER w AS newer_ts, lead(ts) OVER w AS older_ts
      FROM rain_readings
     WHERE station_id = ANY(%(ids)s) AND ts > %(from)s AND ts <= %(now)s AND mm IS NOT NULL
    WINDOW w AS (PARTITION BY station_id ORDER BY ts DESC)
) r
WHERE NOT (mm <= 0)
   OR %(span_from)s::timestamptz IS NULL
   OR ts > %(span_from)s OR newer_ts IS NULL OR newer_ts > %(span_from)s
   OR EXISTS (SELECT 1 FROM unnest(%(starts)s::timestamptz[]) AS s(start)
               WHERE r.ts > s.start AND (r.older_ts IS NULL OR r.older_ts <= s.start))
ORDER BY station_id, ts
"""


def load_snapshot(
    conn: Conn,
    directory: Directory,
    now: datetime,
    stations: Iterable[str],
    *,
    growing_season: bool,
    long_windows: bool = False,
    antecedent_windows: Iterable[int] = (),
    intensity_lookback_min: int = 0,
    intensity_lookbacks: Iterable[int] = (),
    intensity_span_min: int | None = None,
    stuck_readings: int = 0,
    status: bool = True,
) -> Snapshot:
    """Read what the rules need for these stations; each part only when a rule needs it.

    intensity_span_min (the longest min_span_min of the intensity rules) and
    intensity_lookbacks (their lookback_min) let the raw rows that cannot change a rate be left
    out (_RECENT_SQL); without a span, every row of the lookback is read."""
    ids = sorted(set(stations))
    snap = Snapshot(now, directory, growing_season)
    if not ids:
        return snap
    for row in conn.execute(_WINDOW_SQL, {"ids": ids, "now": now}):
        sid = str(row[0])
        snap.windows[sid] = {w: float(row[1 + 2 * i]) for i, w in enumerate(_SHORT_WINDOWS)}
        snap.counts[sid] = {w: int(row[2 + 2 * i]) for i, w in enumerate(_SHORT_WINDOWS)}
    windows = list(_MID_WINDOWS + (_LONG_WINDOWS if long_windows else ()))
    current: dict[str, tuple[float, int]] = {}  # this hour's 5-min buckets (w = 0 rows)
    for sid, w, mm, n in conn.execute(_HYBRID_SQL, {"ids": ids, "now": now, "windows": windows}):
        if w == 0:
            current[str(sid)] = (float(mm or 0), int(n or 0))
            continue
        snap.windows.setdefault(str(sid), {})[int(w)] = float(mm or 0)
        snap.counts.setdefault(str(sid), {})[int(w)] = int(n or 0)
    for sid, (mm, n) in current.items():
        for w in windows:
            snap.windows.setdefault(sid, {})[w] = snap.windows.get(sid, {}).get(w, 0.0) + mm
            snap.counts.setdefault(sid, {})[w] = snap.counts.get(sid, {}).get(w, 0) + n
    for w in sorted(set(antecedent_windows)):
        start = now - timedelta(minutes=w)
        for sid, mm in conn.execute(_ANTECEDENT_SQL, {"ids": ids, "start": start}):
            snap.antecedent.setdefault(str(sid), {})[w] = float(mm)
    if intensity_lookback_min:
        # A gauge dry over the whole lookback has a rate of 0: do not read its raw rows.
        cover = min((w for w in WINDOWS_MIN if w >= intensity_lookback_min), default=1440)
        wet = [s for s in ids if snap.windows.get(s, {}).get(cover, 0.0) > 0]
        lookbacks = set(intensity_lookbacks) | {intensity_lookback_min}
        for sid, ts, interval_s, mm in conn.execute(
            _RECENT_SQL,
            {"ids": wet, "now": now,
             "from": now - timedelta(minutes=intensity_lookback_min),
             "span_from": None if intensity_span_min is None
             else now - timedelta(minutes=intensity_span_min),
             "starts": [now - timedelta(minutes=m) for m in sorted(lookbacks)]},
        ):
            snap.recent.setdefault(str(sid), []).append(
                IntervalRain(ts, float(interval_s), float(mm))
            )
    if stuck_readings:
        # Stuck means the same non-zero count again and again: a gauge without rain in the
        # last day cannot be stuck in that sense (silence is the no_data check's business).
        wet = [s for s in ids if snap.windows.get(s, {}).get(1440, 0.0) > 0]
        for sid, tips in conn.execute(
            "SELECT s.id, r.tips FROM unnest(%(ids)s::text[]) AS s(id) CROSS JOIN LATERAL"
            " (SELECT tips FROM rain_readings WHERE station_id = s.id AND ts <= %(now)s"
            "  ORDER BY ts DESC LIMIT %(n)s) r",
            {"ids": wet, "now": now, "n": stuck_readings},
        ):
            snap.last_tips.setdefault(str(sid), []).append(None if tips is None else int(tips))
    if status:
        snap.status.update(load_status(conn, ids))
    return snap


def load_window_sums(conn: Conn, snap: Snapshot, stations: Iterable[str], window_min: int) -> None:
    """One window's depth and reading count for more stations (neighbours), if not yet read."""
    ids = sorted(s for s in stations if window_min not in snap.counts.get(s, {}))
    if not ids:
        return
    for sid, mm, n in conn.execute(
        "SELECT station_id, sum(mm), sum(readings) FROM rain_5min WHERE station_id = ANY(%s)"
        " AND bucket > %s AND bucket < %s GROUP BY station_id",
        (ids, snap.now - timedelta(minutes=window_min + 5), snap.now),
    ):
        snap.windows.setdefault(str(sid), {})[window_min] = float(mm or 0)
        snap.counts.setdefault(str(sid), {})[window_min] = int(n or 0)


def load_status(conn: Conn, ids: list[str] | None) -> dict[str, Status]:
    """device_status rows, for these stations or (None) for all."""
    sql = "SELECT station_id, last_ts, last_seen, battery_v, clock_offset_s FROM device_status"
    rows = conn.execute(sql + " WHERE station_id = ANY(%s)", (ids,)) if ids is not None \
        else conn.execute(sql)
    return {
        str(sid): Status(
            last_ts, last_seen,
            None if batt is None else float(batt), None if off is None else float(off),
        )
        for sid, last_ts, last_seen, batt, off in rows
    }
