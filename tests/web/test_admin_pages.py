"""The admin pages in a real browser: a station created through the form shows its MQTT password
once and a device connects with it to the real Mosquitto; a test send to a subscriber reaches
the SMTP stand-in; axe-core on every new page; each fits 360 px; the screenshots."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from simulators.sinks import SmtpSink
from tests.alerts.notify_helpers import dispatching
from tests.factories import make_station, make_user
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import publisher
from tests.shared.test_provisioning import _device_url
from tests.support import Broker, DbLogins, create_database, db_url, drop_database, wait_for
from tests.web.conftest import PASSWORD, Site, screenshot, serve, sign_in
from tests.web.test_accounts_pages import _axe

TOKEN = "vigie_test-web-admin-token-0123456789"


@dataclass(frozen=True)
class AdminSite(Site):
    """The site, the alerts service's login to its database, and a gauge of it."""

    alerts_url: str
    station: str


@pytest.fixture(scope="module")
def admin_site(template_db: str, broker: Broker, db_logins: DbLogins) -> Iterator[AdminSite]:
    """`vigie api` with the test broker's directory (device accounts), a little of everything
    to show: two gauges, a catchment, residents signed up, an exercise."""
    name = create_database(template=template_db)
    url = db_url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        make_user(conn, "claire", ["admin", "technician"], password=PASSWORD, display_name="Claire Admin")
        make_user(conn, "tom", ["technician"], password=PASSWORD, display_name="Tom Technicien")
        make_user(conn, "robot", ["admin", "technician"], token=TOKEN)
        station = make_station(conn, "thourotte-mairie").id
        make_station(conn, "melicocq-stade", commune="60392")
        for n, insee in enumerate(("60636", "60636", "60392")):
            conn.execute(
                "INSERT INTO residents (commune_insee, min_level, channel, address, state, request_key,"
                " token, consent_text) VALUES (%s, 'yellow', 'sms', %s, 'active', %s, %s, 'oui')",
                (insee, f"+3361000000{n}", uuid.uuid4().hex, uuid.uuid4().hex),
            )
    with serve(url, {"VIGIE_BROKER__DIRECTORY": str(broker.directory)}) as site:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        seeded = [
            httpx.post(
                f"{site.url}/admin/bassins",
                headers=auth,
                data={
                    "id": "matz-aval",
                    "name": "Matz aval",
                    "area_km2": "12,5",
                    "cn2": "74",
                    "communes": ["60636", "60392"],
                    "stations": [station],
                },
            ),
            httpx.post(
                f"{site.url}/admin/exercices",
                headers=auth,
                data={
                    "name": "Exercice PCS 2026",
                    "source": "synthetic",
                    "title": "Orage simulé",
                    "communes": ["60636"],
                    "steps": "0 jaune 12\n10 orange 25\n20 fin",
                    "speed": "60",
                    "start_in_min": "600",
                },
            ),
        ]
        assert [r.status_code for r in seeded] == [303, 303], [r.text[-500:] for r in seeded]
        yield AdminSite(site.url, url, db_logins.url(url, "alerts"), station)
    drop_database(name)


def test_create_a_station_and_see_its_password_once(
    page: Page, admin_site: AdminSite, broker: Broker
) -> None:
    sign_in(page, admin_site, "tom")
    page.goto(f"{admin_site.url}/admin/stations")
    page.get_by_label("Identifiant", exact=False).first.fill("pimprez-ecole")
    page.get_by_label("Nom", exact=False).first.fill("École de Pimprez")
    page.get_by_label("Commune").select_option(label="Pimprez")
    page.get_by_label("Latitude").fill("49,50")
    page.get_by_label("Longitude").fill("2,95")
    page.get_by_role("button", name="Créer la station").click()
    expect(page.get_by_role("heading", name="Station pimprez-ecole créée")).to_be_visible()
    secret = page.locator("#secret")
    password = secret.inner_text().strip()
    assert len(password) >= 16
    screenshot(page, "admin-station-creee")
    # Connects to the real Mosquitto with it.
    with publisher(_device_url(broker, "pimprez-ecole", password)) as device:
        assert device.publish(topic("pimprez-ecole"), reading(1, minute(1))) in (0, 16)
    # Shown once: the station's page does not carry it.
    page.get_by_role("link", name="Retour à la station").click()
    expect(page.get_by_role("heading", name="École de Pimprez")).to_be_visible()
    assert password not in page.content()
    page.goto(f"{admin_site.url}/admin/stations")
    assert password not in page.content()
    expect(page.get_by_role("link", name="pimprez-ecole")).to_be_visible()


def test_a_wrong_station_form_keeps_what_was_typed(page: Page, admin_site: AdminSite) -> None:
    sign_in(page, admin_site, "tom")
    page.goto(f"{admin_site.url}/admin/stations")
    page.get_by_label("Identifiant", exact=False).first.fill("Mauvais Id")
    page.get_by_label("Nom", exact=False).first.fill("Station à corriger")
    page.get_by_label("Commune").select_option(label="Thourotte")
    page.get_by_label("Latitude").fill("123")
    page.get_by_label("Longitude").fill("2,9")
    page.get_by_role("button", name="Créer la station").click()
    expect(page.get_by_role("alert")).to_contain_text("corrigez les champs signalés")
    expect(page.locator("#champ-lat")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#champ-lat-erreur")).to_contain_text("inférieur ou égal à 90")
    expect(page.locator("#champ-name")).to_have_value("Station à corriger")
    screenshot(page, "admin-stations-erreur")


def test_test_send_to_a_subscriber_reaches_the_smtp_stand_in(page: Page, admin_site: AdminSite) -> None:
    smtp = SmtpSink().start()
    try:
        sign_in(page, admin_site, "claire")
        page.goto(f"{admin_site.url}/admin/abonnes")
        page.get_by_label("Nom", exact=False).first.fill("Mairie de Thourotte")
        page.get_by_label("Thourotte").check()
        page.get_by_label("Contact 1 : type").select_option("email")
        page.get_by_label("Contact 1 : URL").fill(smtp.apprise_url("mairie@thourotte.example"))
        page.get_by_label("Contact 2 : type").select_option("email")
        page.get_by_role("button", name="Ajouter l'abonné").click()
        expect(page.get_by_role("status")).to_contain_text("Abonné ajouté")
        with dispatching(admin_site.alerts_url):
            page.get_by_role("button", name="Envoyer un message de test à Mairie de Thourotte").click()
            expect(page.get_by_role("status")).to_contain_text("Envoi de test demandé")
            assert "/test" not in page.url  # reloading the page does not send again
            wait_for(lambda: len(smtp.messages) == 1, timeout=15)
        assert smtp.messages[0]["subject"] == "[Vigie] Message de test"
        assert "mairie@thourotte.example" in smtp.messages[0]["rcpt_tos"]
        assert smtp.apprise_url("mairie@thourotte.example") not in page.content()
        screenshot(page, "admin-abonnes")
    finally:
        smtp.stop()


ADMIN_PAGES = [
    ("admin-accueil", "/admin"),
    ("admin-stations", "/admin/stations"),
    ("admin-station", "/admin/stations/thourotte-mairie"),
    ("admin-station-retrait", "/admin/stations/thourotte-mairie/retirer"),
    ("admin-regles", "/admin/regles"),
    ("admin-regle", "/admin/regles/1"),
    ("admin-bassins", "/admin/bassins"),
    ("admin-bassin", "/admin/bassins/matz-aval"),
    ("admin-abonnes-liste", "/admin/abonnes"),
    ("admin-portee", "/admin/abonnes/portee"),
    ("admin-consignes", "/admin/consignes"),
    ("admin-consignes-commune", "/admin/consignes/60636"),
    ("admin-exercices", "/admin/exercices"),
    ("admin-exercice", "/admin/exercices/1"),
]


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    # axe is injected as an inline script, which the pages' CSP rightly refuses: bypass it here.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    yield context.new_page()
    context.close()


@pytest.mark.parametrize(("name", "path"), ADMIN_PAGES, ids=[p[0] for p in ADMIN_PAGES])
def test_admin_pages_have_no_serious_accessibility_violation(
    axe_page: Page, admin_site: AdminSite, name: str, path: str
) -> None:
    sign_in(axe_page, admin_site, "claire")
    response = axe_page.goto(admin_site.url + path)
    assert response is not None and response.status == 200
    bad = [v for v in _axe(axe_page) if v["impact"] in ("serious", "critical")]
    assert bad == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"][:3]]) for v in bad]
    screenshot(axe_page, name)


@pytest.mark.parametrize(("name", "path"), ADMIN_PAGES, ids=[p[0] for p in ADMIN_PAGES])
def test_admin_pages_fit_a_phone(phone: Page, admin_site: AdminSite, name: str, path: str) -> None:
    sign_in(phone, admin_site, "claire")
    phone.goto(admin_site.url + path)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    if name in ("admin-stations", "admin-regles", "admin-abonnes-liste"):
        # The lists a technician reads in the field are a card per row: nothing scrolls sideways
        # inside their table either (the level and the state were cut off at the right).
        wide = phone.locator(".table-wrap").evaluate_all(
            "ws => ws.filter(w => w.scrollWidth > w.clientWidth + 1).map(w => w.getAttribute('aria-label'))"
        )
        assert wide == [], wide
    if name in ("admin-stations", "admin-abonnes-liste", "admin-exercice", "admin-portee"):
        screenshot(phone, f"{name}-360px")
