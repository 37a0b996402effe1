"""The technicians' pages: the map of the territory with every gauge (/carte), one station's
page with its live chart and health (/stations/{id}), and the maintenance round (/maintenance).

The data comes from the API's own query functions (stations_queries, api.queries.rain, the
maintenance list, the station health handler); the pages add words, French formats and links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.accounts.roles import Role
from api.auth import Principal, require, require_page
from api.deps import Pool, SettingsDep
from api.maintenance_list import visits
from api.queries import rain
from api.routes.station_admin import station_health
from api.schemas.stations_map import MapState, MapStation
from api.web import station_words as words
from api.web.templates import Pages, PagesDep, number_fr
from vigie import device_health, stations_queries
from vigie.communes import OUTLINES_CREDIT
from vigie.settings import Settings

router = APIRouter(tags=["pages"], include_in_schema=False)
STAFF_ROLES = (Role.TECHNICIAN, Role.DUTY, Role.VIEWER, Role.ADMIN)
Staff = Annotated[Principal, require_page(*STAFF_ROLES)]
# As the API's maintenance list: the technicians, the person on duty and the admins.
Rounds = Annotated[Principal, require_page(Role.TECHNICIAN, Role.DUTY, Role.ADMIN)]
StationId = Annotated[str, Path(min_length=1, max_length=64)]


@dataclass(frozen=True)
class Period:
    """The range a station page shows: its bounds, the series step, whether it ends now (so
    that live readings are added to it), and the form's values."""

    key: str
    start: datetime
    end: datetime
    step: str
    live: bool
    label: str
    du: str = ""
    au: str = ""


# Rolling ranges: (length, series step, words).
ROLLING: dict[str, tuple[timedelta, str, str]] = {
    "24h": (timedelta(hours=24), "15min", "dernières 24 h"),
    "7j": (timedelta(days=7), "1h", "7 derniers jours"),
    "30j": (timedelta(days=30), "6h", "30 derniers jours"),
}
MAX_CUSTOM_DAYS = 366
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
OLDEST = date(2000, 1, 1)


def _custom_step(days: int) -> str:
    """A step that keeps a custom range between ~50 and ~400 buckets."""
    if days <= 2:
        return "15min"
    if days <= 14:
        return "1h"
    if days <= 62:
        return "6h"
    return "1d"


def _parse_day(text: str, name: str) -> date:
    if not _DAY.fullmatch(text):
        raise ValueError(f"la date « {name} » doit s'écrire AAAA-MM-JJ")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"la date « {name} » n'existe pas (AAAA-MM-JJ)") from None


def period(query: dict[str, str], now: datetime, tz: ZoneInfo) -> tuple[Period, str | None]:
    """The period asked in the query string (periode=24h|7j|30j|perso, du/au: local days, both
    included), or the last 24 h with a French error when it cannot be shown."""
    key = query.get("periode", "24h")
    if key in ROLLING:
        length, step, label = ROLLING[key]
        return Period(key, now - length, now, step, True, label), None
    fallback = Period("24h", now - ROLLING["24h"][0], now, "15min", True, ROLLING["24h"][2])
    if key != "perso":
        return fallback, "Période inconnue : choisissez 24 h, 7 jours, 30 jours ou des dates."
    du_text, au_text = query.get("du", "")[:40], query.get("au", "")[:40]
    keep = {"du": du_text, "au": au_text}
    try:
        du = _parse_day(du_text, "du")
        au = _parse_day(au_text, "au")
        today = now.astimezone(tz).date()
        if au < du:
            raise ValueError("la date « au » doit être le même jour que « du » ou après")
        if du < OLDEST or au > today:
            raise ValueError(f"les dates vont du 1er janvier 2000 à aujourd'hui ({today:%d/%m/%Y})")
        if (au - du).days + 1 > MAX_CUSTOM_DAYS:
            raise ValueError(f"au plus {MAX_CUSTOM_DAYS} jours à la fois")
    except ValueError as exc:
        text = str(exc)
        return Period(**{**fallback.__dict__, **keep}), text[:1].upper() + text[1:] + "."
    start = datetime.combine(du, time(0), tz).astimezone(UTC)
    end = min(datetime.combine(au + timedelta(days=1), time(0), tz).astimezone(UTC), now)
    days = (au - du).days + 1
    label = f"du {du:%d/%m/%Y} au {au:%d/%m/%Y}"
    return Period("perso", start, end, _custom_step(days), au == today, label, du_text, au_text), None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rain_text(mm: float | None) -> str:
    return "—" if mm is None else number_fr(mm, 1)


async def _map_stations(pool: Pool, settings: Settings, pages: Pages) -> tuple[datetime, list[MapStation]]:
    now = datetime.now(UTC)
    async with pool.connection() as conn:
        rows = await stations_queries.list_with_status(conn)
        recent = {t.station_id: t for t in await rain.recent_totals(conn, now)}
    out = []
    for r in rows:
        if not r["active"]:
            continue
        status = device_health.status(
            now,
            r["last_seen"],
            r["expected_interval_s"],
            r["online"],
            r["battery_v"],
            settings.maintenance.low_battery_v,
        ).value
        got = recent.get(r["id"]) or rain.StationTotals(r["id"], None, None, 0)
        out.append(
            MapStation(
                id=r["id"],
                name=r["name"],
                commune=r["commune_name"],
                lat=r["lat"],
                lon=r["lon"],
                status=status,
                status_word=words.status_word(status),
                rain_1h_mm=got.mm_1h,
                rain_24h_mm=got.mm_24h,
                rain_1h_class=words.rain_class(got.mm_1h, words.BOUNDS_1H),
                rain_24h_class=words.rain_class(got.mm_24h, words.BOUNDS_24H),
                rain_1h_text=_rain_text(got.mm_1h),
                rain_24h_text=_rain_text(got.mm_24h),
                last_seen=r["last_seen"],
                last_seen_text=pages.datetime_fr(r["last_seen"]),
                battery_v=r["battery_v"],
                href=f"/stations/{r['id']}",
            )
        )
    return now, out


@router.get("/carte")
async def map_page(
    request: Request, pages: PagesDep, settings: SettingsDep, pool: Pool, principal: Staff
) -> Response:
    """Every gauge on the communes' map and in a sortable table, updated live."""
    at, stations = await _map_stations(pool, settings, pages)
    return pages.render(
        request,
        "carte.html",
        principal,
        at=at,
        stations=stations,
        credit=OUTLINES_CREDIT,
        class_words=words.CLASS_WORDS,
        bounds_1h=words.BOUNDS_1H,
        bounds_24h=words.BOUNDS_24H,
    )


@router.get("/carte/etat.json", dependencies=[require(*STAFF_ROLES)])
async def map_state(pages: PagesDep, settings: SettingsDep, pool: Pool) -> MapState:
    """The map's data, re-read by the page when the live stream says something changed."""
    at, stations = await _map_stations(pool, settings, pages)
    return MapState(at=at, stations=stations)


@router.get("/stations/{station_id}")
async def station_page(
    request: Request,
    pages: PagesDep,
    settings: SettingsDep,
    pool: Pool,
    principal: Staff,
    station_id: StationId,
) -> Response:
    """One gauge: its chart (live), its health and the CSV of the range shown."""
    async with pool.connection() as conn:
        row = await stations_queries.get_with_status(conn, station_id)
    if row is None:
        return pages.render(
            request,
            "error.html",
            principal,
            status=404,
            title="Station inconnue",
            message="Aucune station ne porte cet identifiant.",
            sign_in_href=None,
        )
    now = datetime.now(UTC)
    shown, error = period(dict(request.query_params), now, ZoneInfo(settings.timezone))
    health = await station_health(pool, settings, station_id)
    bounds = {"from": _iso(shown.start), "to": _iso(shown.end)}
    series_url = f"/api/v1/stations/{station_id}/series?" + urlencode({**bounds, "step": shown.step})
    # A range that ends now exports up to the click (no 'to'), as the chart keeps growing.
    csv_query = {"from": bounds["from"]} if shown.live else bounds
    csv_url = f"/api/v1/stations/{station_id}/export.csv?" + urlencode(csv_query)
    flags = {k: v for k, v in health.flags_24h.items() if v}
    return pages.render(
        request,
        "station_detail.html",
        principal,
        status=422 if error else 200,
        station=row,
        health=health,
        status_word=words.status_word(health.status),
        status_kind=words.STATUS_BADGE.get(health.status, "neutral"),
        flags=[(words.flag_word(k), v) for k, v in flags.items()],
        shown=shown,
        rolling=[(k, v[2]) for k, v in ROLLING.items()],
        error=error,
        series_url=series_url,
        csv_url=csv_url,
        live_url="/api/v1/live?" + urlencode({"station": station_id}),
        low_battery_v=settings.maintenance.low_battery_v,
        status_words=words.STATUS_WORDS,
        status_badges=words.STATUS_BADGE,
    )


@router.get("/maintenance")
async def maintenance_page(
    request: Request, pages: PagesDep, settings: SettingsDep, pool: Pool, principal: Rounds
) -> Response:
    """The gauges to visit on the next round, with why and since when; printable."""
    async with pool.connection() as conn:
        found = await visits(conn, settings.maintenance)
    rows: list[dict[str, Any]] = [
        {
            "id": v.fact["id"],
            "name": v.fact["name"],
            "commune": v.fact["commune_name"],
            "reasons": [(words.reason_word(k), text, v.since.get(k)) for k, text in v.reasons.items()],
            "since": v.earliest,
            "last_seen": v.fact["last_seen"],
        }
        for v in sorted(found, key=lambda v: (v.fact["commune_name"], v.fact["id"]))
    ]
    return pages.render(request, "station_maintenance.html", principal, rows=rows, at=datetime.now(UTC))
