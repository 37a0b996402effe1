"""Browser tests: a real `vigie api` (uvicorn) on a test database, driven by Playwright through
Debian's Chromium (/usr/bin/chromium; the driver ships in the playwright wheel, no browser is
ever downloaded).

Set VIGIE_SCREENSHOTS=1 to (re)write the pages' screenshots in docs/screenshots/."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.factories import make_user
from tests.support import Service, create_database, db_url, drop_database, free_port, running, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "une phrase de passe assez longue"


@dataclass(frozen=True)
class Site:
    """The running app and its database."""

    url: str
    database_url: str


@pytest.fixture(scope="module")
def site(template_db: str) -> Iterator[Site]:
    """`vigie api` on its own database and port, with an admin and a duty officer."""
    name = create_database(template=template_db)
    url = db_url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        make_user(conn, "claire", ["admin", "technician"], password=PASSWORD, display_name="Claire Admin")
        make_user(conn, "david", ["duty"], password=PASSWORD, display_name="David Astreinte")
    with serve(url) as site:
        yield site
    drop_database(name)


@contextmanager
def serve(database_url: str, extra_env: dict[str, str] | None = None) -> Iterator[Site]:
    """A real `vigie api` on this database and a free port, until the block ends."""
    port = free_port()
    env = {
        "VIGIE_DATABASE_URL": database_url,
        "VIGIE_API__PORT": str(port),
        "VIGIE_MQTT_URL": "mqtt://127.0.0.1:1",
        "VIGIE_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    log = Path(tempfile.mkdtemp(prefix="vigie-web-")) / "api.log"
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/connexion", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    with running(Service(["api"], env, log)) as service:
        try:
            wait_for(up, timeout=30, interval=0.2)
        except AssertionError:
            raise AssertionError(service.log()) from None
        yield Site(base, database_url)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    yield b
    b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) at a laptop's size, French, Paris time."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="fr-FR", timezone_id="Europe/Paris"
    )
    p = context.new_page()
    yield p
    context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A fresh context at a phone's 360 px."""
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        locale="fr-FR",
        timezone_id="Europe/Paris",
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    p = context.new_page()
    yield p
    context.close()


def sign_in(page: Page, site: Site, login: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person does."""
    page.goto(f"{site.url}/connexion")
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def screenshot(page: Page, name: str) -> None:
    """Save the page's screenshot in docs/screenshots/ when VIGIE_SCREENSHOTS is set."""
    if os.environ.get("VIGIE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
