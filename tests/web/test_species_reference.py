"""A species' reference picture in Chromium: on one clip a naturalist stops the video on a
frame and makes it the species' picture; on another clip of the species the viewer shows that
frame beside the video (the JPEG loads). On the review pages' site (H.264 clips)."""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import screenshot, sign_in
from tests.web.test_review_pages import Review, _ready, review_site

__all__ = ["review_site"]


@pytest.fixture(scope="module")
def badgers(review_site: Review) -> Review:
    """Two events of the site with a proposed badger each."""
    site, ids = review_site
    with psycopg.connect(site.database_url, autocommit=True) as conn:
        for event_id in (ids[0], ids[2]):
            conn.execute(
                "INSERT INTO observations (event_id, scientific_name, in_species_list, classified_by)"
                " VALUES (%s, 'Meles meles', true, 'oscar')",
                (event_id,),
            )
    return review_site


def test_a_frame_chosen_on_one_clip_shows_beside_another(page: Page, badgers: Review) -> None:
    site, ids = badgers
    sign_in(page, site, "nina")
    page.goto(f"{site.url}/revue/evenements/{ids[0]}")
    _ready(page)
    page.evaluate("() => { const v = document.getElementById('clip'); v.pause(); v.currentTime = 2; }")
    page.wait_for_function("() => Math.abs(document.getElementById('clip').currentTime - 2) < 0.01")
    page.get_by_role("button", name="Image affichée comme référence de l'espèce").click()
    expect(page.get_by_role("status")).to_contain_text("Image de référence de l'espèce choisie")
    with psycopg.connect(site.database_url) as conn:
        row = conn.execute(
            "SELECT event_id, at_s, chosen_by FROM species_reference_frames"
            " WHERE scientific_name = 'Meles meles'"
        ).fetchone()
    assert row is not None and row[0] == ids[0] and abs(row[1] - 2.0) < 0.01 and row[2] == "nina"

    page.goto(f"{site.url}/revue/evenements/{ids[2]}")
    picture = page.get_by_role("img", name="Image de référence de Meles meles")
    expect(picture).to_have_attribute("src", f"/api/v1/events/{ids[0]}/frame?t=2.000")
    picture.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => { const i = document.querySelector('.review-reference img');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    screenshot(page, "revue-visionneuse-reference")
