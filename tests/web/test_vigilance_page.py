"""The public vigilance page in a real browser (no sign-in): the 16 communes on the map and in
the table, a commune in alert with its level's word and consigne, the open public incident,
nothing private in the HTML or its JSON, the sign-up through the SMS stand-in with the code
typed in the form, axe-core, and a phone's 360 px."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect

from simulators.sinks import SmsSink
from tests.factories import make_station, make_user
from tests.support import create_database, db_url, drop_database, wait_for
from tests.web.conftest import PASSWORD, Site, screenshot, serve
from tests.web.test_accounts_pages import _axe
from vigie.communes import OUTLINES_CREDIT, official_communes

THOUROTTE = "60636"
SECRET_STATION = "secret-gauge-7"
SECRET_SUBSCRIBER = "Mme Privée Abonnée"
SECRET_PHONE = "+33611112222"
# What the public page must never show: device health, cameras, subscribers.
PRIVATE = [
    "battery",
    "batterie",
    "rssi",
    "camera",
    "caméra",
    "firmware",
    SECRET_STATION,
    SECRET_SUBSCRIBER,
    SECRET_PHONE,
    "0611112222",
    "subscriber",
    "abonné",
]


@pytest.fixture(scope="module")
def sms() -> Iterator[SmsSink]:
    sink = SmsSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def public_site(template_db: str, sms: SmsSink) -> Iterator[Site]:
    """`vigie api` with the SMS stand-in as the sign-up gateway, an orange incident on
    Thourotte, a gauge there with 12.4 mm in the last 24 h, and a subscriber (private)."""
    name = create_database(template=template_db)
    url = db_url(name)
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        make_user(conn, "claire", ["admin"], password=PASSWORD, display_name="Claire Admin")
        make_station(conn, SECRET_STATION, commune=THOUROTTE)
        for k, mm in enumerate((4.0, 6.2, 2.2)):
            conn.execute(
                "INSERT INTO rain_5min (station_id, bucket, mm, readings) VALUES (%s, %s, %s, 1)",
                (SECRET_STATION, now - timedelta(hours=k + 1), mm),
            )
        # Older than 24 h: not counted.
        conn.execute(
            "INSERT INTO rain_5min (station_id, bucket, mm, readings) VALUES (%s, %s, 50, 1)",
            (SECRET_STATION, now - timedelta(hours=30)),
        )
        conn.execute(
            "INSERT INTO incidents (kind, group_key, scope_kind, scope_id, level, state, audience, communes,"
            " title, opened_at, updated_at, level_since, max_level) VALUES ('accumulation', 'g1', 'station',"
            " %s, 'orange', 'open', 'public', %s, 'Cumul 1 h — Thourotte', now(), now(), now(), 'orange')",
            (SECRET_STATION, [THOUROTTE]),
        )
        conn.execute(
            "INSERT INTO subscribers (name, channels) VALUES (%s, %s)",
            (
                SECRET_SUBSCRIBER,
                json.dumps([{"kind": "sms", "url": f"smseagle://t@127.0.0.1/{SECRET_PHONE}"}]),
            ),
        )
    gateway = {
        "VIGIE_SIGNUP__SMS_URL": sms.apprise_template(),
        "VIGIE_OUTBOUND__ALLOW_PRIVATE": "true",  # the stand-in is on loopback
    }
    with serve(url, gateway) as site:
        yield site
    drop_database(name)


def test_map_and_table_show_the_16_communes_and_thourotte_in_orange(page: Page, public_site: Site) -> None:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:  # a CSP refusal
            errors.append(message.text)

    def on_response(response: Response) -> None:
        if response.status >= 400 and "favicon" not in response.url:  # a missing asset or JSON
            errors.append(response.url)

    page.on("console", on_console)
    page.on("response", on_response)
    page.goto(f"{public_site.url}/")
    page.get_by_role("link", name="Vigilance pluie et inondation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vigilance pluie et inondation")

    rows = page.locator(".vigilance-table tbody tr")
    expect(rows).to_have_count(16)
    thourotte = page.locator(f'tr[data-insee="{THOUROTTE}"]')
    expect(thourotte).to_contain_text("Thourotte")
    expect(thourotte).to_contain_text("Alerte orange")
    expect(thourotte.locator("td.num")).to_have_text("12,4")  # the 30 h old 50 mm is not counted
    expect(page.locator("tbody tr", has_text="pas d'alerte")).to_have_count(15)

    carte = page.locator("#carte")
    expect(carte).to_have_attribute("data-ready", "16")
    expect(carte.locator("path.leaflet-interactive")).to_have_count(16)
    expect(carte.locator("img.leaflet-tile")).to_have_count(0)  # no tile layer
    # The commune in alert keeps its label (the word, not only the colour) on the map.
    expect(carte.locator(".commune-label--alert")).to_have_text("Thourotte : alerte orange")
    fills = carte.locator("path.leaflet-interactive").evaluate_all(
        "ps => ps.map(p => p.getAttribute('fill'))"
    )
    assert fills.count("#f08a00") == 1 and fills.count("#e3f1e6") == 15
    expect(page.get_by_text(OUTLINES_CREDIT)).to_be_visible()

    consignes = page.locator(".consigne")
    expect(consignes).to_have_count(1)
    expect(consignes.first).to_contain_text("Thourotte")
    assert len(consignes.first.locator("p").inner_text()) > 20
    link = page.get_by_role("link", name="Cumul 1 h — Thourotte")
    assert re.fullmatch(r"/incidents/\d+", link.get_attribute("href") or "")
    expect(page.get_by_role("link", name=re.compile("Flux des alertes"))).to_have_attribute(
        "href", "/api/v1/alerts/cap.atom"
    )
    assert errors == []
    screenshot(page, "vigilance")


def test_nothing_private_in_the_page_or_its_json(public_site: Site) -> None:
    html = httpx.get(f"{public_site.url}/vigilance").text
    state = httpx.get(f"{public_site.url}/vigilance/etat.json")
    outlines = httpx.get(f"{public_site.url}/vigilance/contours.geojson")
    assert state.status_code == 200 and outlines.status_code == 200
    assert "max-age=86400" in outlines.headers["cache-control"]
    assert len(outlines.json()["features"]) == 16
    body = state.json()
    assert {c["insee"] for c in body["communes"]} == {c.insee for c in official_communes()}
    assert next(c for c in body["communes"] if c["insee"] == THOUROTTE)["level_word"] == "orange"
    for text in (html, state.text):
        low = text.lower()
        found = [p for p in PRIVATE if p.lower() in low]
        assert found == [], found


def test_resident_signs_up_by_sms_with_the_code_typed_in_the_form(
    page: Page, public_site: Site, sms: SmsSink
) -> None:
    page.goto(f"{public_site.url}/vigilance")
    form = page.locator("#inscription")
    form.get_by_label("Commune (obligatoire)").select_option(label="Thourotte")
    form.get_by_label("À partir du niveau").select_option("orange")
    form.get_by_label("Numéro de mobile").fill("06 12 34 56 78")
    form.get_by_label("Recevoir aussi").check()
    # Without the consent box the browser refuses to send; the server refuses too (below).
    form.get_by_label(re.compile("J'accepte")).check()
    form.get_by_role("button", name="M'inscrire").click()
    expect(form.get_by_label("Code reçu par SMS")).to_be_visible()
    wait_for(lambda: len(sms.messages) >= 1, timeout=10, interval=0.1)
    message = sms.messages[-1]
    assert "0612345678" in str(message["to"]) or "612345678" in str(message["to"])
    code = re.search(r"\b(\d{6})\b", str(message["text"]))
    assert code is not None

    form.get_by_label("Code reçu par SMS").fill("000000" if code.group(1) != "000000" else "111111")
    form.get_by_role("button", name="Confirmer l'inscription").click()
    expect(page.get_by_role("alert")).to_contain_text("code incorrect")
    form.get_by_label("Code reçu par SMS").fill(code.group(1))
    form.get_by_role("button", name="Confirmer l'inscription").click()
    expect(page.get_by_role("status")).to_contain_text("Inscription confirmée")
    screenshot(page, "vigilance-inscrit")

    with psycopg.connect(public_site.database_url) as conn:
        row = conn.execute(
            "SELECT commune_insee, min_level, exercises, confirmed_at IS NOT NULL FROM residents"
            " WHERE address = '+33612345678'"
        ).fetchone()
    assert row == (THOUROTTE, "orange", True, True)


def test_sign_up_refusals_say_why_and_keep_the_form(page: Page, public_site: Site) -> None:
    page.goto(f"{public_site.url}/vigilance")
    form = page.locator("#inscription")
    form.get_by_label("Numéro de mobile").fill("+44 7700 900123")
    form.get_by_label(re.compile("J'accepte")).check()
    form.get_by_role("button", name="M'inscrire").click()
    expect(page.get_by_role("alert")).to_contain_text("Inscription refusée")
    expect(form.get_by_label("Numéro de mobile")).to_have_value("+44 7700 900123")


def test_forms_refuse_a_missing_token_or_consent(public_site: Site) -> None:
    """A cross-site page cannot post the form (no token cookie); no consent, nothing stored."""
    data = {"commune": THOUROTTE, "phone": "0698765432", "consent": "1", "csrf_token": "forged"}
    r = httpx.post(f"{public_site.url}/vigilance/inscription", data=data)
    assert r.status_code == 403 and "expiré" in r.text
    with httpx.Client(base_url=public_site.url) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/vigilance").text)
        assert token is not None
        r = client.post("/vigilance/inscription", data={**data, "csrf_token": token.group(1), "consent": ""})
        assert r.status_code == 422 and "consentement" in r.text
        r = client.post(
            "/vigilance/inscription/code",
            data={"csrf_token": token.group(1), "request": "x" * 5000, "code": "1"},
        )
        assert r.status_code == 422
    with psycopg.connect(public_site.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM residents WHERE address = '+33698765432'").fetchone() == (
            0,
        )


def test_no_serious_accessibility_violation(browser: Browser, public_site: Site) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = context.new_page()
    page.goto(f"{public_site.url}/vigilance")
    expect(page.locator("#carte")).to_have_attribute("data-ready", "16")
    bad = [v for v in _axe(page) if v["impact"] in ("serious", "critical")]
    context.close()
    assert bad == [], json.dumps(bad, ensure_ascii=False, indent=1)


def test_fits_a_phone(phone: Page, public_site: Site) -> None:
    phone.goto(f"{public_site.url}/vigilance")
    expect(phone.locator("#carte")).to_have_attribute("data-ready", "16")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    expect(phone.locator(".vigilance-table tbody tr")).to_have_count(16)
    screenshot(phone, "vigilance-360px")


@pytest.fixture(scope="module")
def storm_site(template_db: str) -> Iterator[Site]:
    """Every commune in alert: Thourotte orange, the 15 others yellow."""
    name = create_database(template=template_db)
    url = db_url(name)
    others = [c.insee for c in official_communes() if c.insee != THOUROTTE]
    with psycopg.connect(url, autocommit=True) as conn:
        for key, level, communes in (("g1", "orange", [THOUROTTE]), ("g2", "yellow", others)):
            conn.execute(
                "INSERT INTO incidents (kind, group_key, scope_kind, scope_id, level, state, audience,"
                " communes, title, opened_at, updated_at, level_since, max_level) VALUES ('accumulation',"
                " %s, 'catchment', 'x', %s, 'open', 'public', %s, 'Orage', now(), now(), now(), %s)",
                (key, level, communes, level),
            )
    with serve(url) as site:
        yield site
    drop_database(name)


def _label_boxes(p: Page) -> list[dict[str, Any]]:
    boxes: list[dict[str, Any]] = p.locator("#carte .commune-label--alert").evaluate_all(
        "ls => ls.map(l => { const r = l.getBoundingClientRect();"
        " return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, text: l.textContent}; })"
    )
    return boxes


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_labels_of_many_communes_in_alert_never_cover_each_other(
    size: str, page: Page, phone: Page, storm_site: Site
) -> None:
    """16 permanent labels covered the map and each other, on a phone most of all: the most
    severe keep theirs, a label that would cover one already placed, or be cut by the map's edge,
    shows on hover instead, and the table still lists every commune."""
    p = page if size == "laptop" else phone
    p.goto(f"{storm_site.url}/vigilance")
    carte = p.locator("#carte")
    expect(carte).to_have_attribute("data-labels", re.compile(r"^\d+$"))
    # Those left out fade away (Leaflet removes a closed label after 200 ms).
    expect(carte.locator(".commune-label--alert")).to_have_count(int(carte.get_attribute("data-labels") or 0))
    boxes = _label_boxes(p)
    assert 1 <= len(boxes) < 16
    assert boxes[0]["text"] == "Thourotte : alerte orange"  # the most severe is placed first
    frame = carte.bounding_box()
    assert frame is not None
    for i, a in enumerate(boxes):
        assert frame["x"] <= a["left"] and a["right"] <= frame["x"] + frame["width"], a["text"]
        for b in boxes[i + 1 :]:
            apart = a["right"] <= b["left"] or b["right"] <= a["left"] or a["bottom"] <= b["top"]
            assert apart or b["bottom"] <= a["top"], (a["text"], b["text"])
    expect(p.locator(".vigilance-table tbody tr", has_text="Alerte jaune")).to_have_count(15)


def test_a_flood_of_reads_is_limited(public_site: Site) -> None:
    """Last of the module: it empties this address's bucket (30 at once, 2 per second)."""
    with httpx.Client(base_url=public_site.url) as client:
        codes = [client.get("/vigilance/etat.json").status_code for _ in range(60)]
    assert codes[0] == 200 and 429 in codes
    assert codes.count(200) <= 30 + 2 * 10  # at most the burst plus 10 s of refill
