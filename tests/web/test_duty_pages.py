"""The person on duty's pages and the public incident page in a real browser: David (duty)
acknowledges an open incident with a comment from a 360 px phone and sees it in the timeline;
the delivery log is downloaded as a PDF from the page and `vigie incidents verify` confirms its
chain head; the public page every SMS links to weighs under 100 KB over the wire, shows the
consignes and the map before (and without) any script; axe-core on the three pages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

from tests.alerts.test_proof import _storm
from tests.api.test_incidents import add_delivery, make_incident
from tests.factories import make_station, make_user
from tests.support import create_database, db_url, drop_database
from tests.web.conftest import PASSWORD, Site, screenshot, serve, sign_in
from tests.web.test_accounts_pages import _axe

GAUGE = "thourotte-duty-1"
BUDGET_BYTES = 100_000
CONSIGNE = "Montez à l'étage et ne prenez pas la voiture : rue du Matz inondable."


@pytest.fixture(scope="module")
def incidents(site: Site) -> dict[str, int]:
    """An open orange incident on a Thourotte gauge with rain in the hour before it opened and
    one message sent (its delivery chained by the database's triggers); a closed one; Thourotte's
    own orange consigne."""
    now = datetime.now(UTC)
    opened = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5 + 30)
    with psycopg.connect(site.database_url, autocommit=True) as conn:
        make_station(conn, GAUGE, commune="60636")
        for minutes, mm in ((-55, 2.0), (-45, 4.5), (-30, 8.0), (-15, 6.5), (-5, 3.0), (5, 1.0)):
            conn.execute(
                "INSERT INTO rain_5min (station_id, bucket, mm, readings) VALUES (%s, %s, %s, 1)",
                (GAUGE, opened + timedelta(minutes=minutes), mm),
            )
        conn.execute(
            "INSERT INTO commune_instructions (commune_insee, level, text, sms, updated_by)"
            " VALUES ('60636', 'orange', %s, 'Montez à l''étage', 'claire')",
            (CONSIGNE,),
        )
        closed = make_incident(conn, opened=now - timedelta(days=3), state="resolved", scope_id="ancien")
        inc = make_incident(conn, opened=opened, scope_id=GAUGE)
        add_delivery(conn, inc)
        # Left open and unacknowledged, for axe-core on the page with its form.
        waiting = make_incident(conn, opened=opened, level="red", scope_id="attente", communes=("60537",))
        title = "Cumul 1 h — Ribécourt-Dreslincourt"
        conn.execute("UPDATE incidents SET title = %s WHERE id = %s", (title, waiting))
    return {"open": inc, "closed": closed, "waiting": waiting}


def _verify(database_url: str, incident: int, head: str) -> subprocess.CompletedProcess[str]:
    """`vigie incidents verify ID --head HEAD`, as the PCS's reader runs it."""
    return subprocess.run(
        [sys.executable, "-m", "vigie.cli", "incidents", "verify", str(incident), "--head", head],
        env={**os.environ, "VIGIE_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _fits(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]  # type: ignore[index]


def test_david_acknowledges_an_incident_from_a_phone(
    phone: Page, site: Site, incidents: dict[str, int]
) -> None:
    inc = incidents["open"]
    sign_in(phone, site, "david")
    phone.get_by_role("link", name="Astreinte").first.click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Astreinte")
    card = phone.locator(f"article[aria-labelledby='incident-{inc}']")
    expect(card).to_contain_text("Alerte orange")
    expect(card).to_contain_text("À prendre en compte")
    _fits(phone)
    screenshot(phone, "astreinte-360px")

    card.get_by_role("link", name=re.compile("Ouvrir l'incident")).click()
    expect(phone).to_have_url(re.compile(f"/astreinte/incidents/{inc}$"))
    button = phone.get_by_role("button", name="Prendre en compte")
    box = button.bounding_box()
    assert box is not None and box["width"] >= 300 and box["height"] >= 44  # one thumb, 360 px
    _fits(phone)
    screenshot(phone, "incident-astreinte-360px")

    phone.get_by_label("Commentaire").fill("Équipe sur place, barrières rue du Matz")
    button.click()
    expect(phone.get_by_role("status")).to_contain_text("Incident pris en compte")
    expect(phone.locator(".ack__done")).to_contain_text("par david")
    step = phone.locator(".timeline__step--acknowledged")
    expect(step).to_contain_text("Prise en compte")
    expect(step).to_contain_text("Équipe sur place, barrières rue du Matz")
    expect(phone.get_by_role("button", name="Prendre en compte")).to_have_count(0)
    _fits(phone)
    # Back on the list, the card says it.
    phone.goto(f"{site.url}/astreinte")
    expect(phone.locator(f"article[aria-labelledby='incident-{inc}']")).to_contain_text("Pris en compte")


def test_the_delivery_log_pdf_from_the_page_passes_verify(
    page: Page, site: Site, incidents: dict[str, int], tmp_path: Path
) -> None:
    inc = incidents["open"]
    sign_in(page, site, "david")
    page.goto(f"{site.url}/astreinte/incidents/{inc}")
    # One chart per gauge of the scope (one here), with the gauge's name.
    expect(page.locator(".rain-chart__one figcaption")).to_have_text([f"Pluviomètre {GAUGE}"])
    expect(page.locator(".rain-chart [data-total-mm]")).to_have_attribute("data-total-mm", "25")
    shown = page.locator(".chain__head").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", shown)
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger le PDF").click()
    target = tmp_path / download.value.suggested_filename
    download.value.save_as(target)
    assert target.name == f"vigie-incident-{inc}-envois.pdf"
    pdf = target.read_bytes()
    assert pdf.startswith(b"%PDF")
    printed = re.search(rb"T\xeate de cha\xeene : ([0-9a-f]{64})", pdf)
    assert printed is not None and printed.group(1).decode() == shown
    done = _verify(site.database_url, inc, shown)
    assert done.returncode == 0, done.stderr
    assert "chaîne intègre" in done.stdout
    # A wrong head (a paper that does not match the database) fails.
    wrong = _verify(site.database_url, inc, "0" * 64)
    assert wrong.returncode == 1
    screenshot(page, "incident-astreinte")


def test_the_real_notifiers_delivery_log_from_the_page_passes_verify(
    page: Page, template_db: str, tmp_path: Path
) -> None:
    """The same with the real engine and notifier: a storm over Thourotte opened and ended an
    incident, sent to two subscribers through the SMTP and SMS stand-ins (6 messages)."""
    name = create_database(template=template_db)
    url = db_url(name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            make_user(conn, "david", ["duty"], password=PASSWORD, display_name="David Astreinte")
            inc = _storm(conn, url)
        with serve(url) as storm_site:
            sign_in(page, storm_site, "david")
            page.goto(f"{storm_site.url}/astreinte/incidents/{inc}")
            log = page.get_by_role("region", name="Messages de l'incident (destinataires masqués)")
            rows = log.locator("tbody tr")
            expect(rows).to_have_count(6)
            expect(rows.filter(has_text="accepté par le fournisseur")).to_have_count(6)
            expect(page.locator(".timeline__step--resolved")).to_have_count(1)
            shown = page.locator(".chain__head").inner_text()
            with page.expect_download() as download:
                page.get_by_role("link", name="Télécharger le PDF").click()
            target = tmp_path / "preuve.pdf"
            download.value.save_as(target)
            printed = re.search(rb"T\xeate de cha\xeene : ([0-9a-f]{64})", target.read_bytes())
            assert printed is not None and printed.group(1).decode() == shown
            done = _verify(url, inc, shown)
            assert done.returncode == 0, done.stderr
    finally:
        drop_database(name)


@pytest.fixture
def anonymous_phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="fr-FR", timezone_id="Europe/Paris", is_mobile=True
    )
    p = context.new_page()
    yield p
    context.close()


def test_public_incident_page_is_under_100_kb_with_the_consignes(
    anonymous_phone: Page, site: Site, incidents: dict[str, int]
) -> None:
    inc = incidents["open"]
    finished: list[Request] = []
    anonymous_phone.on("requestfinished", lambda r: finished.append(r))
    anonymous_phone.goto(f"{site.url}/incidents/{inc}")
    anonymous_phone.wait_for_load_state("networkidle")
    expect(anonymous_phone.get_by_role("heading", level=1)).to_have_text("Cumul 1 h — Thourotte")
    expect(anonymous_phone.locator(".consigne")).to_contain_text(CONSIGNE)
    expect(anonymous_phone.locator(".small-map svg")).to_be_visible()
    # The chart (uPlot through rain_chart.js) drew the merged series: 25 mm in all.
    chart = anonymous_phone.locator(".rain-chart [data-total-mm]")
    expect(chart).to_have_count(1)
    expect(chart).to_have_attribute("data-total-mm", "25")
    expect(anonymous_phone.locator(".rain-chart canvas").first).to_be_visible()
    # Every byte over the wire: headers and bodies of the page and all it loaded.
    sizes = {r.url: r.sizes() for r in finished}
    total = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes.values())
    # The figure, for whoever runs the test with -s (the commit and the report quote it).
    sys.stderr.write(json.dumps({"public_incident_page_bytes": total, "requests": len(sizes)}) + "\n")
    assert len(sizes) >= 3  # the page, vigie.css, duty.css at least
    assert all(u.startswith(site.url) for u in sizes)  # nothing from outside
    assert 0 < total < BUDGET_BYTES, sizes
    _fits(anonymous_phone)
    screenshot(anonymous_phone, "incident-public-360px")


def test_from_the_sms_page_the_person_on_duty_signs_in_to_the_incident(
    anonymous_phone: Page, site: Site, incidents: dict[str, int]
) -> None:
    inc = incidents["waiting"]
    anonymous_phone.goto(f"{site.url}/incidents/{inc}")
    anonymous_phone.get_by_role("link", name=re.compile("se connecter pour prendre")).click()
    anonymous_phone.get_by_label("Identifiant").fill("david")
    anonymous_phone.get_by_label("Mot de passe").fill(PASSWORD)
    anonymous_phone.get_by_role("button", name="Se connecter").click()
    expect(anonymous_phone).to_have_url(re.compile(f"/astreinte/incidents/{inc}$"))
    expect(anonymous_phone.get_by_role("button", name="Prendre en compte")).to_be_visible()


def test_public_incident_page_reads_before_its_scripts_arrive(
    anonymous_phone: Page, site: Site, incidents: dict[str, int]
) -> None:
    """A slow mobile link: the scripts are held back; the level, the consignes, the rain in words
    and the map are there already, and the chart comes when they arrive."""
    held: list[Route] = []
    anonymous_phone.route(re.compile(r"\.js(\?|$)"), lambda route: held.append(route))
    anonymous_phone.goto(f"{site.url}/incidents/{incidents['open']}", wait_until="commit")
    expect(anonymous_phone.locator(".consigne")).to_contain_text(CONSIGNE)
    expect(anonymous_phone.locator(".incident-state")).to_contain_text("Alerte orange")
    expect(anonymous_phone.get_by_text(re.compile(r"Sur la fenêtre de la règle"))).to_be_visible()
    expect(anonymous_phone.locator(".small-map svg")).to_be_visible()
    assert anonymous_phone.locator(".rain-chart").inner_html() == ""  # no chart yet
    for _ in range(100):  # route callbacks run while Playwright waits: wait a little for the 4
        if len(held) >= 4:
            break
        anonymous_phone.wait_for_timeout(50)
    assert len(held) == 4  # vigie.js, uPlot, rain_chart.js, incident_chart.js, all held
    for route in held:
        route.continue_()
    expect(anonymous_phone.locator(".rain-chart canvas").first).to_be_visible()


def test_public_incident_page_reads_without_scripts(
    browser: Browser, site: Site, incidents: dict[str, int]
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{site.url}/incidents/{incidents['open']}")
    expect(page.locator(".consigne")).to_contain_text(CONSIGNE)
    expect(page.locator(".incident-state")).to_contain_text("En cours")
    expect(page.locator(".small-map svg path.small-map__commune--orange")).to_have_count(1)
    expect(page.get_by_text(re.compile(r"Sur la fenêtre de la règle"))).to_be_visible()
    context.close()


@pytest.mark.parametrize("which", ["astreinte", "incident-astreinte", "incident-public"])
def test_duty_pages_have_no_serious_accessibility_violation(
    browser: Browser, site: Site, incidents: dict[str, int], which: str
) -> None:
    # axe is injected as an inline script, which the pages' CSP rightly refuses: bypass it here.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = context.new_page()
    path = {
        "astreinte": "/astreinte",
        "incident-astreinte": f"/astreinte/incidents/{incidents['waiting']}",
        "incident-public": f"/incidents/{incidents['open']}",
    }[which]
    if which != "incident-public":
        sign_in(page, site, "david")
    page.goto(site.url + path)
    bad = [v for v in _axe(page) if v["impact"] in ("serious", "critical")]
    context.close()
    assert bad == [], json.dumps(bad, ensure_ascii=False, indent=1)
