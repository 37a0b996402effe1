"""The Camtrap DP export page in Chromium: from the gallery to /revue/export, a range and a
deployment chosen with the keyboard, the counts shown, then the zip downloaded (clips included)
and checked with the tests' own jsonschema and frictionless validation; accessibility (axe-core)
and a phone's width. On the review pages' site (tests/web/test_review_pages.py: H.264 clips)."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.camtrap_check import profile_errors, table_errors
from tests.web.conftest import screenshot, sign_in
from tests.web.test_accounts_pages import _axe
from tests.web.test_review_pages import EVENTS, Review, review_site

__all__ = ["review_site"]
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(scope="module")
def exported(review_site: Review) -> Review:
    """The review site with a deployment over its camera's events, a validated observation on
    the newest event and a proposed one on the next."""
    site, ids = review_site
    with psycopg.connect(site.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO deployments (camera_id, location_name, lat, lon, start_ts, created_by)"
            " VALUES ('etang-nord', 'Étang nord', 49.4123, 2.8234, %s, 'nina')",
            (datetime.now(UTC) - timedelta(days=10),),
        )
        for event_id, status, validator in ((ids[0], "validated", "oscar"), (ids[1], "proposed", None)):
            conn.execute(
                "INSERT INTO observations (event_id, scientific_name, in_species_list, classified_by, status,"
                " validated_by) VALUES (%s, 'Capreolus capreolus', true, 'nina', %s, %s)",
                (event_id, status, validator),
            )
    return review_site


def test_choose_see_the_counts_download_and_validate(page: Page, exported: Review, tmp_path: Path) -> None:
    site, _ = exported
    sign_in(page, site, "nina")
    page.goto(f"{site.url}/revue")
    page.get_by_role("link", name="Export Camtrap DP").click()
    expect(page).to_have_url(f"{site.url}/revue/export")
    today = datetime.now(PARIS).date()
    page.get_by_label("Du").fill((today - timedelta(days=1)).isoformat())
    page.get_by_label("Au (inclus)").fill(today.isoformat())
    # The deployment and the clips' choice, with the keyboard.
    page.get_by_label("Étang nord", exact=False).focus()
    page.keyboard.press("Space")
    expect(page.get_by_label("Étang nord", exact=False)).to_be_checked()
    page.get_by_label("clips inclus dans le zip", exact=False).focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Voir ce qui sera exporté").focus()
    page.keyboard.press("Enter")
    figures = page.locator("#apercu")
    expect(figures).to_contain_text("1 déploiement")
    expect(figures).to_contain_text(f"{EVENTS} clips")
    expect(figures).to_contain_text("2 observations")
    screenshot(page, "revue-export")

    with page.expect_download() as info:
        page.get_by_role("link", name="Télécharger le paquet Camtrap DP (zip)").click()
    zip_path = tmp_path / "export.zip"
    info.value.save_as(zip_path)
    folder = tmp_path / "pkg"
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.testzip() is None
        zf.extractall(folder)
    assert profile_errors(json.loads((folder / "datapackage.json").read_text())) == []
    assert table_errors(folder) == []
    assert len(list((folder / "media").iterdir())) == EVENTS
    with (folder / "observations.csv").open(encoding="utf-8") as f:
        assert sum(1 for _ in f) - 1 == 2


def test_a_refused_range_is_said_and_nothing_is_offered(page: Page, exported: Review) -> None:
    site, _ = exported
    sign_in(page, site, "nina")
    page.goto(f"{site.url}/revue/export")
    page.get_by_label("Du").fill("2026-12-02")
    page.get_by_label("Au (inclus)").fill("2026-12-01")
    page.get_by_role("button", name="Voir ce qui sera exporté").click()
    expect(page.get_by_role("alert")).to_contain_text("même jour que « du » ou après")
    expect(page.get_by_role("link", name="Télécharger le paquet Camtrap DP (zip)")).to_have_count(0)


def test_export_page_is_accessible_and_fits_a_phone(browser: Browser, exported: Review) -> None:
    site, _ = exported
    context = browser.new_context(
        viewport={"width": 360, "height": 800}, is_mobile=True, has_touch=True, bypass_csp=True,
        locale="fr-FR", timezone_id="Europe/Paris",
    )  # fmt: skip
    p = context.new_page()
    sign_in(p, site, "nina")
    p.goto(f"{site.url}/revue/export?voir=1")
    expect(p.locator("#apercu")).to_be_visible()
    bad = [v for v in _axe(p) if v["impact"] in ("serious", "critical")]
    assert bad == [], json.dumps(bad, ensure_ascii=False, indent=1)
    assert p.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(p, "revue-export-360px")
    context.close()
