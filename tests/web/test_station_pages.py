"""The technicians' pages in a real browser: the map of gauges (/carte), a station's page with
its live chart (/stations/{id}) and the maintenance round (/maintenance).

The live tests run the real chain: the gauge simulator's device connection publishes over the
real Mosquitto, a real `vigie ingest` stores it, the real `vigie api` streams it (SSE) to the
page, which changes without a reload. The Last Will test cuts the device's socket without a
DISCONNECT, so that the broker itself says "offline"."""

from __future__ import annotations

import html
import json
import re
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from simulators.gauges.model import Message, SentReading, encode, reading_fields
from simulators.gauges.publisher import DevicePublisher
from tests.factories import make_user
from tests.support import Broker, DbLogins, Service, create_database, db_url, drop_database, running
from tests.web.conftest import PASSWORD, Site, screenshot, serve, sign_in
from tests.web.test_accounts_pages import _axe
from vigie import stations
from vigie.communes import official_communes, outlines_geojson
from vigie.mqtt import parse_mqtt_url
from vigie.stations import StationIn

NAMES = {c.insee: c.name for c in official_communes()}


@dataclass(frozen=True)
class Gauge:
    id: str
    insee: str
    interval_s: int = 300


# One gauge per case the pages must show: online and wet, late, low battery and very wet,
# offline (silent for 2 h), and the two the live tests drive through the broker.
WET = Gauge("thourotte-mairie", "60636")
LATE = Gauge("ribecourt-stade", "60537")
LOW = Gauge("marest-bois", "60378")
SILENT = Gauge("chevincourt-ecole", "60150")
LIVE = Gauge("longueil-live", "60368")
WILL = Gauge("machemont-will", "60373")
# Needs no visit, whatever the live tests do: hourly, so not late for 90 min.
HEALTHY = Gauge("cambronne-ok", "60119", interval_s=3600)
GAUGES = (WET, LATE, LOW, SILENT, LIVE, WILL, HEALTHY)


@dataclass(frozen=True)
class LiveSite:
    site: Site
    broker: Broker


def _centre(insee: str) -> tuple[float, float]:
    """A point inside the commune: the mean of its outline's vertices (good enough for a test)."""
    for f in outlines_geojson()["features"]:
        if f["properties"]["code"] == insee:
            geom = f["geometry"]
            rings = geom["coordinates"] if geom["type"] == "Polygon" else geom["coordinates"][0]
            pts = rings[0]
            return sum(p[1] for p in pts) / len(pts), sum(p[0] for p in pts) / len(pts)
    raise AssertionError(insee)


def _seed(conn: psycopg.Connection[Any], now: datetime) -> None:
    make_user(conn, "theo", ["technician"], password=PASSWORD, display_name="Théo Technicien")
    make_user(conn, "david", ["duty"], password=PASSWORD, display_name="David Astreinte")
    make_user(conn, "elise", ["viewer"], password=PASSWORD, display_name="Élise Élue")
    for g in GAUGES:
        lat, lon = _centre(g.insee)
        stations.add(
            conn,
            StationIn(
                id=g.id,
                name=f"Pluviomètre {g.id}",
                commune_insee=g.insee,
                lat=lat,
                lon=lon,
                tip_mm=0.2,
                expected_interval_s=g.interval_s,
            ),
        )
    status = {
        WET.id: (now - timedelta(minutes=1), 3.92, -71, True),
        LATE.id: (now - timedelta(minutes=10), 3.85, -88, True),
        LOW.id: (now - timedelta(minutes=2), 3.21, -95, True),
        SILENT.id: (now - timedelta(hours=2), 3.70, -80, True),
        LIVE.id: (now - timedelta(minutes=1), 3.88, -67, True),
        HEALTHY.id: (now - timedelta(minutes=1), 3.95, -60, True),
    }
    for sid, (seen, battery, rssi, online) in status.items():
        conn.execute(
            "INSERT INTO device_status (station_id, last_seen, last_ts, battery_v, rssi, fw, online,"
            " status_changed_at) VALUES (%s, %s, %s, %s, %s, '1.4.2', %s, %s)",
            (sid, seen, seen, battery, rssi, online, now - timedelta(days=1)),
        )
    # Rain: the wet gauge 12.4 mm in 24 h (2.2 mm in the last hour), the low one 55 mm; the live
    # gauge a little, so its chart has bars before the live reading comes.
    rain: dict[str, list[tuple[float, float]]] = {
        WET.id: [(0.5, 2.2), (3, 4.0), (7, 6.2)],
        LOW.id: [(0.5, 5.0), (2, 20.0), (6, 30.0)],
        LIVE.id: [(2, 1.4)],
    }
    for sid, rows in rain.items():
        for hours_ago, mm in rows:
            bucket = (now - timedelta(hours=hours_ago)).replace(second=0, microsecond=0)
            bucket -= timedelta(minutes=bucket.minute % 5)
            ts = bucket + timedelta(minutes=5)
            conn.execute(
                "INSERT INTO rain_readings (station_id, ts, interval_s, tips, mm, battery_v, received_at,"
                " flags) VALUES (%s, %s, 300, %s, %s, 3.9, %s, %s)",
                (sid, ts, round(mm / 0.2), mm, ts, 1 if sid == WET.id and hours_ago == 3 else 0),
            )
            conn.execute(
                "INSERT INTO rain_5min (station_id, bucket, mm, readings) VALUES (%s, %s, %s, 1)",
                (sid, bucket, mm),
            )
            conn.execute(
                "INSERT INTO rain_1h (station_id, bucket, mm, readings)"
                " VALUES (%s, date_trunc('hour', %s::timestamptz), %s, 1)"
                " ON CONFLICT (station_id, bucket) DO UPDATE SET mm = rain_1h.mm + excluded.mm",
                (sid, bucket, mm),
            )
    conn.execute(
        "INSERT INTO dead_letters (received_at, topic, station_id, reason, detail, payload, payload_size)"
        " VALUES (now() - interval '2 hours', %s, %s, 'malformed', 'JSON illisible', '\\x7b'::bytea, 1)",
        (f"vigie/v1/gauges/{WET.id}/up", WET.id),
    )


@pytest.fixture(scope="module")
def live(template_db: str, broker: Broker, db_logins: DbLogins) -> Iterator[LiveSite]:
    """`vigie api` and `vigie ingest` on one database, with the test broker and the gauges."""
    name = create_database(template=template_db)
    url = db_url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        _seed(conn, datetime.now(UTC))
    tag = uuid.uuid4().hex[:6]
    env = {
        "VIGIE_DATABASE_URL": url,
        "VIGIE_DATABASE_CREDENTIALS_FILE": str(db_logins.credentials_file),
        "VIGIE_DATABASE_LOGIN_PREFIX": db_logins.prefix,
        "VIGIE_MQTT_URL": broker.url("vigie-ingest"),
        "VIGIE_INGEST__CLIENT_ID": f"ingest-{tag}",
        "VIGIE_INGEST__SHARE_GROUP": f"g-{tag}",
        "VIGIE_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    log = Path(tempfile.mkdtemp(prefix="vigie-web-ingest-")) / "ingest.log"
    with running(Service(["ingest"], env, log), ready="subscribed to"), serve(url) as site:
        yield LiveSite(site, broker)
    drop_database(name)


def _device(broker: Broker, station: str) -> DevicePublisher:
    """The simulator's per-device connection (own account, Last Will on its status topic)."""
    device_url = broker.add_device(station)
    return DevicePublisher(parse_mqtt_url(device_url), {station: broker.password(station)})


def _reading(station: str, tips: int, seq: int, at: datetime) -> Message:
    r = SentReading(int(at.timestamp()), tips, seq, 300)
    return Message(station, "up", encode(reading_fields(r, battery_v=3.77, rssi=-63)), (r,))


# --- the map -------------------------------------------------------------------------------


def test_map_shows_each_gauge_with_its_status_in_words_and_sorts_by_keyboard(
    page: Page, live: LiveSite
) -> None:
    sign_in(page, live.site, "theo")
    page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Carte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Carte du territoire")
    carte = page.locator("#carte")
    expect(carte).to_have_attribute("data-ready", "16")  # the 16 outlines
    expect(carte).to_have_attribute("data-markers", str(len(GAUGES)))
    rows = page.locator("#tableau-stations tbody tr")
    expect(rows).to_have_count(len(GAUGES))

    def row(g: Gauge) -> Any:
        return page.locator(f'#tableau-stations tr[data-station="{g.id}"]')

    expect(row(WET)).to_contain_text("en ligne")
    expect(row(WET).locator('[data-cell="rain1h"]')).to_have_text("2,2")
    expect(row(WET).locator('[data-cell="rain24h"]')).to_have_text("12,4")
    expect(row(LATE)).to_contain_text("en retard")
    expect(row(LOW)).to_contain_text("batterie faible")
    expect(row(LOW).locator('[data-cell="rain24h"]')).to_have_text("55,0")
    expect(row(SILENT)).to_contain_text("hors ligne")
    expect(row(WILL)).to_contain_text("hors ligne")  # never heard from
    expect(row(LATE).locator('[data-cell="rain24h"]')).to_have_text("—")
    # The markers say the same, by class and in words: those not online keep their label shown.
    marker = page.locator(f'.gauge-marker[data-station="{LOW.id}"]')
    expect(marker).to_have_attribute("data-status", "low_battery")
    assert "rain24-4" in (marker.get_attribute("class") or "")
    silent = page.locator(f'.gauge-marker[data-station="{SILENT.id}"]')
    expect(silent).to_have_attribute("aria-label", re.compile(f"^Pluviomètre {SILENT.id} .*: hors ligne ;"))
    labels = page.locator(".leaflet-tooltip.gauge-label--alert")
    expect(labels).to_have_count(4)  # late, low, silent, will: their status stays written
    expect(labels.filter(has_text="hors ligne")).to_have_count(2)
    expect(labels.filter(has_text="en retard")).to_have_count(1)

    # A marker by keyboard: focused, with a visible ring; Enter opens its popup and link.
    marker.focus()
    assert marker.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    expect(page.locator(".gauge-popup").get_by_role("link", name="Ouvrir la station")).to_have_attribute(
        "href", f"/stations/{LOW.id}"
    )
    # Sorting by keyboard: Tab to the "24 h" header's button, Enter, then Enter again.
    header = page.locator("#tableau-stations thead th").nth(4)
    button = header.get_by_role("button", name="24 h (mm)")
    button.focus()
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("#tableau-stations thead th").nth(1)).to_have_attribute("aria-sort", "none")
    expect(rows.last).to_have_attribute("data-station", LOW.id)
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_have_attribute("data-station", LOW.id)
    expect(rows.nth(1)).to_have_attribute("data-station", WET.id)
    # A station's name opens its page.
    row(WET).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Pluviomètre {WET.id}")


def test_a_gauge_turns_offline_on_the_map_when_its_last_will_fires(page: Page, live: LiveSite) -> None:
    pub = _device(live.broker, WILL.id)
    try:
        pub.publish(_reading(WILL.id, 0, 1, datetime.now(UTC).replace(microsecond=0)))
        assert pub.flush(10)
        sign_in(page, live.site, "theo")
        page.goto(f"{live.site.url}/carte")
        marker = page.locator(f'.gauge-marker[data-station="{WILL.id}"]')
        row = page.locator(f'#tableau-stations tr[data-station="{WILL.id}"]')
        expect(marker).to_have_attribute("data-status", "online", timeout=20_000)
        expect(row.locator('[data-cell="status"]')).to_have_text("en ligne")
        offline_labels = page.locator(".leaflet-tooltip.gauge-label--alert", has_text="hors ligne")
        expect(offline_labels).to_have_count(1)  # the silent gauge only
        page.evaluate("window.__same_page = true")
        # A reading comes: its rain shows in the table and colours the marker, live.
        pub.publish(_reading(WILL.id, 15, 2, datetime.now(UTC).replace(microsecond=0)))  # 3 mm
        assert pub.flush(10)
        expect(row.locator('[data-cell="rain1h"]')).to_have_text("3,0", timeout=15_000)
        expect(marker.locator(".gauge-marker__core")).to_have_class(re.compile("rain1-2"))
        # Vanish without DISCONNECT: the broker publishes the will, ingest stores it, the page
        # learns it from the live stream, woken by ingest's vigie_station_status NOTIFY: well
        # before the stream's own 15 s wake-up.
        conn = pub.conns[WILL.id]
        sock = conn.client.socket()
        assert sock is not None
        conn.client.loop_stop()
        sock.close()
        expect(marker).to_have_attribute("data-status", "offline", timeout=10_000)
        expect(row.locator('[data-cell="status"]')).to_have_text("hors ligne")
        expect(offline_labels).to_have_count(2)
        expect(marker).to_have_attribute("aria-label", re.compile(": hors ligne ;"))
        assert page.evaluate("window.__same_page") is True  # no reload
    finally:
        pub.close()
    with psycopg.connect(live.site.database_url) as db:
        got = db.execute("SELECT online FROM device_status WHERE station_id = %s", (WILL.id,)).fetchone()
    assert got == (False,)


# --- the station page ------------------------------------------------------------------------


def test_a_reading_published_over_mqtt_appears_on_the_chart_without_reload(
    page: Page, live: LiveSite
) -> None:
    sign_in(page, live.site, "theo")
    page.goto(f"{live.site.url}/stations/{LIVE.id}")
    chart = page.locator("#graphique")
    expect(chart).to_have_attribute("data-total-mm", "1.4")
    expect(chart).to_have_attribute("data-stream", "open")
    expect(chart.locator("canvas")).to_have_count(1)
    page.evaluate("window.__same_page = true")
    before = page.evaluate(
        "document.getElementById('graphique').rainChart.data().depth_mm.filter(v => v !== null).length"
    )
    pub = _device(live.broker, LIVE.id)
    try:
        at = datetime.now(UTC).replace(microsecond=0)
        pub.publish(_reading(LIVE.id, 3, 1, at))  # 3 tips of 0.2 mm
        assert pub.flush(10)
        expect(chart).to_have_attribute("data-total-mm", "2", timeout=15_000)
        expect(page.locator("[data-latest-text]")).to_contain_text("0,6 mm à ")
        screenshot(page, "station")
        # The device vanishes: its status on this page follows (the health route's word).
        conn = pub.conns[LIVE.id]
        sock = conn.client.socket()
        assert sock is not None
        conn.client.loop_stop()
        sock.close()
        expect(page.locator('[data-fact="status"]')).to_have_text("hors ligne", timeout=10_000)
    finally:
        pub.close()
    expect(page.locator("[data-total-text]")).to_have_text("2,0")
    expect(page.locator('[data-fact="battery"]')).to_have_text("3,77 V")
    expect(page.locator('[data-fact="rssi"]')).to_have_text("-63 dBm")
    after = page.evaluate(
        "document.getElementById('graphique').rainChart.data().depth_mm.filter(v => v !== null).length"
    )
    assert after == before + 1
    assert page.evaluate("window.__same_page") is True


def test_station_page_shows_health_ranges_and_the_csv_of_the_range(page: Page, live: LiveSite) -> None:
    sign_in(page, live.site, "theo")
    page.goto(f"{live.site.url}/stations/{WET.id}")
    expect(page.get_by_role("heading", level=2, name="Pluie : dernières 24 h")).to_be_visible()
    expect(page.locator('[data-fact="status"]')).to_have_text("en ligne")
    expect(page.locator('[data-fact="battery"]')).to_have_text("3,92 V")
    expect(page.locator('[data-fact="rssi"]')).to_have_text("-71 dBm")
    expect(page.get_by_text("1.4.2")).to_be_visible()
    expect(page.get_by_role("table", name="Relevés signalés par le contrôle qualité (24 h)")).to_contain_text(
        "double basculement"
    )
    expect(page.get_by_role("heading", name="Messages refusés (24 h) : 1")).to_be_visible()
    expect(page.get_by_role("table", name="Derniers messages refusés")).to_contain_text("JSON illisible")
    chart = page.locator("#graphique")
    expect(chart).to_have_attribute("data-total-mm", "12.4")
    expect(chart).to_have_attribute("data-points", re.compile("^9[67]$"))  # 24 h of 15 min (97: not aligned)
    # The CSV of the range shown: the export route, French by default.
    link = page.get_by_role("link", name="Télécharger les relevés de la période (CSV)")
    href = link.get_attribute("href") or ""
    assert href.startswith(f"/api/v1/stations/{WET.id}/export.csv?from=")
    csv = page.request.get(live.site.url + href)
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text().strip().splitlines()
    assert len(lines) == 1 + 3 and ";" in lines[0]  # header and the 3 readings of the 24 h
    # 7 days: hourly buckets.
    page.get_by_label("7 derniers jours").check()
    page.get_by_role("button", name="Afficher").click()
    expect(page.get_by_role("heading", level=2, name="Pluie : 7 derniers jours")).to_be_visible()
    expect(chart).to_have_attribute("data-points", re.compile("^16[89]$"))
    # Custom dates: choosing a date selects "dates choisies"; the CSV follows the range.
    # The page reads dates in Paris time: from 23:00 UTC (midnight in Paris in winter) the
    # machine's UTC date is a day behind, and the range missed the last hour's readings.
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    page.get_by_label("Du", exact=True).fill((today - timedelta(days=2)).isoformat())
    page.get_by_label("Au (inclus)").fill(today.isoformat())
    expect(page.get_by_label("dates choisies")).to_be_checked()
    page.get_by_role("button", name="Afficher").click()
    expect(page.get_by_role("heading", level=2)).to_contain_text(["État du pluviomètre", "Pluie : du "])
    expect(chart).to_have_attribute("data-total-mm", "12.4")
    href = (
        page.get_by_role("link", name="Télécharger les relevés de la période (CSV)").get_attribute("href")
        or ""
    )
    assert "from=" in href
    screenshot(page, "station-dates")


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("periode=perso&du=2026-13-01&au=2026-12-01", "La date « du » n'existe pas"),
        ("periode=perso&du=01/12/2026&au=2026-12-01", "doit s'écrire AAAA-MM-JJ"),
        ("periode=perso&du=2026-11-30&au=2026-11-01", "« au » doit être le même jour"),
        ("periode=perso&du=1999-01-01&au=1999-01-02", "du 1er janvier 2000 à aujourd'hui"),
        ("periode=perso&du=2000-01-01&au=2002-01-01", "Au plus 366 jours"),
        ("periode=perso&du=" + "9" * 5000 + "&au=2026-11-01", "doit s'écrire AAAA-MM-JJ"),
        ("periode=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "Période inconnue"),
    ],
    ids=["impossible", "malformed", "reversed", "too-old", "too-long", "oversized", "hostile"],
)
def test_a_range_that_cannot_be_shown_says_why_in_french_and_shows_24_h(
    live: LiveSite, query: str, error: str
) -> None:
    with httpx.Client(base_url=live.site.url) as client:
        _sign_in_http(client, "theo")
        r = client.get(f"/stations/{WET.id}?{query}")
    assert r.status_code == 422, r.text[:500]
    assert error in html.unescape(r.text)
    assert "Pluie : dernières 24 h" in r.text
    assert "<script>alert" not in r.text
    assert "9" * 100 not in r.text  # an oversized value is cut, not echoed whole


def test_hostile_dates_are_shown_as_text(page: Page, live: LiveSite) -> None:
    sign_in(page, live.site, "theo")
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(f'{live.site.url}/stations/{WET.id}?periode=perso&du="><script>alert(1)</script>&au=x')
    expect(page.get_by_role("alert")).to_contain_text("AAAA-MM-JJ")
    assert dialogs == []


def test_unknown_or_absurd_station_ids(live: LiveSite) -> None:
    with httpx.Client(base_url=live.site.url) as client:
        _sign_in_http(client, "theo")
        unknown = client.get("/stations/inconnue")
        absurd = client.get("/stations/" + "x" * 65)
    assert unknown.status_code == 404 and "Station inconnue" in unknown.text
    assert absurd.status_code == 422


def test_map_state_json_is_for_staff_only(live: LiveSite) -> None:
    with httpx.Client(base_url=live.site.url) as client:
        assert client.get("/carte/etat.json").status_code == 401
        _sign_in_http(client, "elise")  # an official (viewer) may watch the map
        state = client.get("/carte/etat.json").json()
        assert client.get("/maintenance").status_code == 403  # but plans no round
    got = {s["id"]: s for s in state["stations"]}
    assert set(got) == {g.id for g in GAUGES}
    assert got[LOW.id]["status"] == "low_battery" and got[LOW.id]["status_word"] == "batterie faible"
    assert got[WET.id]["rain_1h_mm"] == pytest.approx(2.2) and got[WET.id]["rain_24h_mm"] == pytest.approx(
        12.4
    )
    assert got[WET.id]["rain_24h_class"] == 2 and got[LOW.id]["rain_24h_class"] == 4


# --- the maintenance round ----------------------------------------------------------------


def test_maintenance_page_lists_the_round_with_reasons_in_words_and_prints(
    page: Page, live: LiveSite
) -> None:
    sign_in(page, live.site, "david")  # the person on duty plans rounds too
    page.get_by_role("navigation", name="Navigation principale").get_by_role(
        "link", name="Maintenance"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tournée de maintenance")
    table = page.get_by_role("table")
    late = table.locator(f'tr[data-station="{LATE.id}"]')
    expect(late).to_contain_text("En retard")
    expect(late).to_contain_text(NAMES[LATE.insee])
    expect(late).to_contain_text("aucun message depuis")
    expect(table.locator(f'tr[data-station="{LOW.id}"]')).to_contain_text(
        "Batterie faible : batterie à 3.21 V"
    )
    expect(table.locator(f'tr[data-station="{SILENT.id}"]')).to_contain_text("Hors ligne")
    expect(table.locator(f'tr[data-station="{WET.id}"]')).to_contain_text("Messages refusés")
    expect(table.locator(f'tr[data-station="{WET.id}"]')).to_contain_text("(depuis le ")
    # A gauge that needs nothing is not listed.
    expect(table.locator(f'tr[data-station="{HEALTHY.id}"]')).to_have_count(0)
    # Printable: the navigation and the buttons are not printed.
    page.emulate_media(media="print")
    expect(page.locator(".site-nav")).to_be_hidden()
    expect(table).to_be_visible()
    page.emulate_media(media="screen")
    screenshot(page, "maintenance")
    table.locator(f'tr[data-station="{LATE.id}"]').get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Pluviomètre {LATE.id}")


# --- accessibility and the phone ----------------------------------------------------------

TECH_PAGES = [
    ("carte", "/carte"),
    ("station", f"/stations/{WET.id}"),
    ("maintenance", "/maintenance"),
]


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    # axe is injected as an inline script, which the pages' CSP rightly refuses: bypass it here.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True, locale="fr-FR")
    yield context.new_page()
    context.close()


@pytest.mark.parametrize(("name", "path"), TECH_PAGES, ids=[p[0] for p in TECH_PAGES])
def test_technician_pages_have_no_serious_accessibility_violation(
    axe_page: Page, live: LiveSite, name: str, path: str
) -> None:
    sign_in(axe_page, live.site, "theo")
    axe_page.goto(live.site.url + path)
    if name == "carte":
        expect(axe_page.locator("#carte")).to_have_attribute("data-markers", str(len(GAUGES)))
    if name == "station":
        expect(axe_page.locator("#graphique canvas")).to_have_count(1)
    bad = [v for v in _axe(axe_page) if v["impact"] in ("serious", "critical")]
    assert bad == [], json.dumps(bad, ensure_ascii=False, indent=1)
    if name == "carte":
        screenshot(axe_page, name)


@pytest.mark.parametrize(("name", "path"), TECH_PAGES, ids=[p[0] for p in TECH_PAGES])
def test_technician_pages_fit_a_phone(phone: Page, live: LiveSite, name: str, path: str) -> None:
    sign_in(phone, live.site, "theo")
    phone.goto(live.site.url + path)
    if name == "carte":
        expect(phone.locator("#carte")).to_have_attribute("data-markers", str(len(GAUGES)))
    if name == "station":
        expect(phone.locator("#graphique canvas")).to_have_count(1)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    if name == "carte":
        screenshot(phone, "carte-360px")


def _sign_in_http(client: httpx.Client, login: str) -> None:
    """Sign in through the form with its token, as the browser does."""
    form = client.get("/connexion")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post("/connexion", data={"login": login, "password": PASSWORD, "csrf_token": token})
    assert r.status_code in (200, 303), r.text[:300]


def test_hostile_station_names_are_shown_as_text(browser: Browser, live: LiveSite) -> None:
    """A name typed by a person, with markup in it, on the map (table, hover label, popup) and
    the station page; the CSP is bypassed so that only escaping stands in the way."""
    hostile = '<img src=x onerror="window.__xss=1">'
    sid = "hostile-name"
    lat, lon = _centre("60654")
    with psycopg.connect(live.site.database_url, autocommit=True) as conn:
        stations.add(
            conn, StationIn(id=sid, name=hostile, commune_insee="60654", lat=lat, lon=lon, tip_mm=0.2)
        )
        conn.execute(
            "INSERT INTO device_status (station_id, last_seen, online) VALUES (%s, now(), true)", (sid,)
        )
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = context.new_page()
    try:
        sign_in(page, live.site, "theo")
        page.goto(f"{live.site.url}/carte")
        marker = page.locator(f'.gauge-marker[data-station="{sid}"]')
        expect(marker).to_have_attribute("data-status", "online")
        marker.hover()
        expect(page.locator(".leaflet-tooltip", has_text=hostile)).to_be_visible()
        marker.click()
        expect(page.locator(".gauge-popup", has_text=hostile)).to_be_visible()
        expect(page.locator(f'#tableau-stations tr[data-station="{sid}"] th')).to_have_text(hostile)
        page.goto(f"{live.site.url}/stations/{sid}")
        expect(page.get_by_role("heading", level=1)).to_have_text(hostile)
        assert page.evaluate("window.__xss") is None
    finally:
        context.close()
        with psycopg.connect(live.site.database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM stations WHERE id = %s", (sid,))
