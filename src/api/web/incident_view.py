"""An incident as its pages show it: the timeline in French words, the rain window behind the
alert, and the small inline-SVG map of the communes concerned.

Pure functions over what the query modules return: no SQL, no I/O. Shared by the person on
duty's pages (routes/duty.py) and the public page every SMS links to (routes/incidents.py)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from api.queries.rain import SERIES_STEPS, SeriesBucket, SeriesStep
from vigie.communes import outlines_geojson
from vigie.levels import COLOUR, LEVEL_FR, RANK

CHANGE_FR = {
    "opened": "Ouverture",
    "escalated": "Aggravation",
    "deescalated": "Amélioration",
    "resolved": "Fin de l'alerte",
    "acknowledged": "Prise en compte",
    "reminder": "Rappel",
    "notified": "Messages envoyés",
}
# The rain shown: the rule's window before the crossing and what followed, at most this long
# after it (a long incident shows its first two days; the station page has the rest).
MAX_AFTER = timedelta(days=2)
FINE_UP_TO = timedelta(hours=12)  # 5 min buckets up to 12 h shown, hourly beyond
NONE_FILL = "#eef1f4"


@dataclass(frozen=True)
class TimelineEntry:
    """One line of an incident's timeline."""

    at: datetime
    kind: str
    label: str
    level: str
    text: str
    comment: str | None = None  # the acknowledgement's comment (staff only)


def duty_order(open_incidents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The on-duty list: those nobody has acknowledged yet first, then red, orange, yellow; newest
    first among equals (the order they come in). In a storm with 17 incidents open, newest first
    alone buried the one orange alert under the yellow ones."""
    return sorted(open_incidents, key=lambda i: (bool(i["acknowledged"]), -RANK.get(str(i["level"]), 0)))


def timeline(
    changes: Sequence[dict[str, Any]], sent: Sequence[dict[str, Any]] = (), *, full: bool
) -> list[TimelineEntry]:
    """The changes in French, with a "messages sent" step after each change that queued some
    (staff only: how many messages, how many the provider accepted). The public view never
    names who acknowledged."""
    by_change = {int(s["change_id"]): s for s in sent}
    out: list[TimelineEntry] = []
    for c in changes:
        detail = c["detail"] if isinstance(c["detail"], dict) else {}
        kind = str(c["kind"])
        text = str(detail.get("measure") or detail.get("summary") or "")
        comment = None
        if kind == "acknowledged":
            by = detail.get("by")
            text = f"par {by}" if full and by else "par la personne d'astreinte"
            comment = str(detail.get("comment") or "") or None if full else None
        out.append(TimelineEntry(c["at"], kind, CHANGE_FR.get(kind, kind), str(c["level"]), text, comment))
        s = by_change.get(int(c["id"]))
        if full and s is not None:
            at = s["first_sent_at"] or s["queued_at"]
            n, ok = int(s["messages"]), int(s["accepted"])
            words = f"{n} message{'s' if n > 1 else ''} en file, {ok} accepté{'s' if ok > 1 else ''}"
            out.append(TimelineEntry(at, "notified", CHANGE_FR["notified"], str(c["level"]), words))
    out.sort(key=lambda e: e.at)
    return out


@dataclass(frozen=True)
class RainWindow:
    """The range charted, its bucket size, and the window that crossed the threshold."""

    start: datetime
    end: datetime
    step: SeriesStep
    crossing_start: datetime
    crossing_end: datetime


def rain_window(incident: dict[str, Any], now: datetime) -> RainWindow:
    """The rule's window before the opening (twice over, so the rise shows), to the end of the
    incident (or now), capped at MAX_AFTER after the opening."""
    opened: datetime = incident["opened_at"]
    window = timedelta(minutes=int(incident["window_min"] or 60))
    end = min(incident["resolved_at"] or now, opened + MAX_AFTER)
    end = max(end, opened + timedelta(minutes=5))
    start = opened - 2 * window
    step = SERIES_STEPS["5min" if end - start <= FINE_UP_TO else "1h"]
    return RainWindow(start, end, step, opened - window, opened)


def chart_data(
    win: RainWindow, series: Iterable[tuple[str, Sequence[SeriesBucket]]], *, merge: bool
) -> dict[str, Any]:
    """The chart's data, as the page embeds it: epoch seconds, depth per bucket (mm) per
    series, and the crossing window. `merge` keeps only the largest depth of each bucket under
    one label (the public page names no gauge)."""
    named = [(name, list(buckets)) for name, buckets in series]
    times = [int(b.start.timestamp()) for b in named[0][1]] if named else []
    lines = [{"label": name, "mm": [b.depth_mm for b in buckets]} for name, buckets in named]
    if merge and lines:
        top = [
            max((v for v in col if v is not None), default=None)
            for col in zip(*(ln["mm"] for ln in lines), strict=True)
        ]
        lines = [{"label": "Pluie (le plus fort des pluviomètres)", "mm": top}]
    return {
        "step": win.step.name,
        "step_s": win.step.seconds,
        "t": times,
        "series": lines,
        "crossing": [int(win.crossing_start.timestamp()), int(win.crossing_end.timestamp())],
    }


def rain_summary(data: dict[str, Any]) -> tuple[float | None, float | None]:
    """(total over the crossing window, largest bucket) of the chart's wettest series: what the
    page says in words before (or without) the chart."""
    lo, hi = data["crossing"]
    best_total: float | None = None
    best_bucket: float | None = None
    for line in data["series"]:
        vals = [(t, v) for t, v in zip(data["t"], line["mm"], strict=True) if v is not None]
        total = sum(v for t, v in vals if lo <= t < hi) if vals else None
        top = max((v for _, v in vals), default=None)
        if total is not None and (best_total is None or total > best_total):
            best_total = total
        if top is not None and (best_bucket is None or top > best_bucket):
            best_bucket = top
    return best_total, best_bucket


@dataclass(frozen=True)
class MapShape:
    """One commune's outline as an SVG path, with its label's place."""

    insee: str
    name: str
    path: str
    label_x: float
    label_y: float


@dataclass(frozen=True)
class SmallMap:
    """The territory's outlines projected into an SVG viewBox."""

    width: int
    height: int
    shapes: tuple[MapShape, ...]


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    coords = geometry["coordinates"]
    polygons = [coords] if geometry["type"] == "Polygon" else coords
    return [ring for polygon in polygons for ring in polygon]


def _path(points: Sequence[tuple[int, int]]) -> str:
    """One ring as a compact SVG path: the first point, then relative steps, closed."""
    first = points[0]
    steps = [f"{x - px} {y - py}" for (px, py), (x, y) in itertools.pairwise(points)]
    return f"M{first[0]} {first[1]}l" + " ".join(steps) + "z"


@cache
def small_map(width: int = 320) -> SmallMap:
    """Every commune's outline, projected once (equirectangular, corrected for latitude, which is
    exact enough for 20 km), in whole pixels, dropping points under 1.5 px from the last kept:
    about 4 KB of SVG for the 16 communes, drawn 320 px wide."""
    features = outlines_geojson()["features"]
    points = [p for f in features for ring in _rings(f["geometry"]) for p in ring]
    lon0, lon1 = min(p[0] for p in points), max(p[0] for p in points)
    lat0, lat1 = min(p[1] for p in points), max(p[1] for p in points)
    k = math.cos(math.radians((lat0 + lat1) / 2))
    scale = (width - 8) / ((lon1 - lon0) * k)
    height = round((lat1 - lat0) * scale) + 8

    def xy(p: Sequence[float]) -> tuple[int, int]:
        return round(4 + (p[0] - lon0) * k * scale), round(4 + (lat1 - p[1]) * scale)

    shapes = []
    for f in features:
        rings = _rings(f["geometry"])
        parts = []
        for ring in rings:
            kept: list[tuple[int, int]] = []
            for pt in map(xy, ring):
                if not kept or math.dist(pt, kept[-1]) >= 1.5:
                    kept.append(pt)
            if len(kept) >= 3:
                parts.append(_path(kept))
        outer = [xy(p) for p in max(rings, key=len)]
        cx = sum(x for x, _ in outer) / len(outer)
        cy = sum(y for _, y in outer) / len(outer)
        props = f["properties"]
        shapes.append(
            MapShape(str(props["code"]), str(props["nom"]), "".join(parts), round(cx, 1), round(cy, 1))
        )
    return SmallMap(width, height, tuple(shapes))


def map_fill(insee: str, concerned: Iterable[str], level: str) -> str:
    """A commune's fill: its level's colour when concerned, a pale grey otherwise."""
    return COLOUR.get(level, NONE_FILL) if insee in set(concerned) else NONE_FILL


def level_name(level: str) -> str:
    """The level's French word ('orange')."""
    return LEVEL_FR.get(level, level)


def rain_rows(data: dict[str, Any]) -> list[tuple[datetime, list[float | None]]]:
    """The chart's buckets as table rows: (start, one depth per series)."""
    columns = [line["mm"] for line in data["series"]]
    return [(datetime.fromtimestamp(t, UTC), [col[i] for col in columns]) for i, t in enumerate(data["t"])]
