"""The naturalists' review pages in Chromium, on H.264 clips the camera worker's ClipWriter
encodes from the simulated webcam's scenes: play and seek (the motion boxes follow the video's
time), tag a species with the keyboard only, validate as a second naturalist, mark a false
positive, bulk-tag three events, accessibility (axe-core), tablet and phone widths, escaping."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from camera.clips import ClipOptions, ClipWriter
from simulators.webcam.scene import Scene, SceneConfig
from tests.api.review_support import make_camera, make_event
from tests.factories import make_user
from tests.support import create_database, db_url, drop_database
from tests.web.conftest import PASSWORD, Site, screenshot, serve, sign_in
from tests.web.test_accounts_pages import XSS, _axe

FPS = 5.0
# The motion boxes of each clip: one per analysed instant, moving right (normalised 0-1).
BOX_TIMES = (0.4, 1.2, 2.0, 2.8, 3.6, 4.4)
EVENTS = 8


def _boxes() -> list[dict[str, float]]:
    return [{"t": t, "x": 0.05 + 0.1 * i, "y": 0.3, "w": 0.2, "h": 0.3} for i, t in enumerate(BOX_TIMES)]


def _clip(media: Path, camera: str, start: datetime, seed: int) -> tuple[str, str | None, str | None]:
    """A clip as the worker writes it: the simulator's frames through ClipWriter (H.264)."""
    scene = Scene(SceneConfig(seconds=5.0, fps=FPS, width=320, height=180, first_animal_s=0.5, seed=seed))
    ts = start.timestamp()
    writer = ClipWriter(media, camera, f"sim-{seed}", ts, fps=FPS, options=ClipOptions())
    for i in range(scene.config.frames):
        writer.add(scene.render(i), ts + i / FPS, score=float(i == 10))
    files = writer.close()
    assert files.clip_path
    return files.clip_path, files.snapshot_path, files.thumbnail_path


@pytest.fixture(scope="module")
def review_site(template_db: str) -> Iterator[Review]:
    """`vigie api` with its media directory, two naturalists, a viewer, and EVENTS events with
    clips, the newest first (ids[0] is the newest)."""
    name = create_database(template=template_db)
    url = db_url(name)
    media = Path(tempfile.mkdtemp(prefix="vigie-review-media-"))
    now = datetime.now(UTC).replace(microsecond=0)
    ids: list[int] = []
    with psycopg.connect(url, autocommit=True) as conn:
        make_user(conn, "nina", ["naturalist"], password=PASSWORD, display_name="Nina Naturaliste")
        make_user(conn, "oscar", ["naturalist"], password=PASSWORD, display_name="Oscar Naturaliste")
        make_user(conn, "victor", ["viewer"], password=PASSWORD, display_name="Victor Élu")
        make_camera(conn, "etang-nord")
        for i in range(EVENTS):
            start = now - timedelta(minutes=10 * (i + 1))
            clip, snap, thumb = _clip(media, "etang-nord", start, seed=i + 1)
            ids.append(
                make_event(
                    conn,
                    "etang-nord",
                    start=start,
                    duration_s=5.0,
                    clip=clip,
                    snapshot=snap,
                    thumbnail=thumb,
                    boxes=_boxes(),
                    confidence=0.25 if i == 3 else 1.0,
                    doubt_guard="light_change" if i == 3 else None,
                )
            )
    with serve(url, {"VIGIE_CAMERA__MEDIA_DIR": str(media)}) as site:
        yield site, ids
    drop_database(name)


def _status(site: Site, event_id: int) -> tuple[Any, ...]:
    with psycopg.connect(site.database_url) as conn:
        row = conn.execute(
            "SELECT status, favourite, ARRAY(SELECT scientific_name || ':' || status FROM observations"
            " WHERE event_id = e.id ORDER BY id) FROM camera_events e WHERE id = %s",
            (event_id,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def _ready(page: Page) -> None:
    page.wait_for_function("() => document.getElementById('clip').readyState >= 2", timeout=15000)


Review = tuple[Site, list[int]]


def test_the_clip_plays_seeks_and_the_boxes_follow_its_time(page: Page, review_site: Review) -> None:
    site, ids = review_site
    sign_in(page, site, "nina")
    page.goto(f"{site.url}/revue/evenements/{ids[0]}")
    _ready(page)
    video = page.locator("#clip")
    canvas = page.locator("[data-boxes-canvas]")
    duration = video.evaluate("v => v.duration")
    assert 4.0 <= duration <= 5.5, duration  # 25 frames at 5 fps, as encoded

    # Play: the time moves on by itself.
    video.evaluate("v => v.play()")
    page.wait_for_function("() => document.getElementById('clip').currentTime > 0.5", timeout=10000)
    video.evaluate("v => v.pause()")

    # Seek: the boxes drawn are those of the instant the video shows.
    for at, expected in ((1.3, 1.2), (2.9, 2.8), (0.1, None), (4.5, 4.4)):
        video.evaluate(f"v => {{ v.currentTime = {at}; }}")
        page.wait_for_function(
            f"() => Math.abs(document.getElementById('clip').currentTime - {at}) < 0.01"
            f" && document.querySelector('[data-boxes-canvas]').dataset.currentTime.startsWith('{at:.1f}')",
            timeout=5000,
        )
        drawn = canvas.get_attribute("data-box-t")
        assert drawn == ("" if expected is None else str(expected)), (at, drawn)
        assert canvas.get_attribute("data-box-count") == ("0" if expected is None else "1")

    # The box is really painted where it says: orange pixels on the box's left edge at 2.8 s.
    video.evaluate("v => { v.currentTime = 2.9; }")
    page.wait_for_function("() => document.querySelector('[data-boxes-canvas]').dataset.boxT === '2.8'")
    painted = canvas.evaluate(
        """c => { const ctx = c.getContext('2d'); const v = document.getElementById('clip');
        const s = Math.min(v.clientWidth / v.videoWidth, v.clientHeight / v.videoHeight);
        const ox = (v.clientWidth - v.videoWidth * s) / 2, oy = (v.clientHeight - v.videoHeight * s) / 2;
        const r = window.devicePixelRatio || 1;
        const x = Math.round((ox + 0.35 * v.videoWidth * s) * r);
        const y0 = Math.round((oy + 0.3 * v.videoHeight * s) * r);
        let hits = 0; for (let y = y0; y < y0 + 40 * r; y += 1) { const p = ctx.getImageData(x, y, 1, 1).data;
        if (p[3] > 0 && p[0] > 200 && p[1] > 120 && p[2] < 80) hits += 1; } return hits; }"""
    )
    assert painted > 5, painted

    # Frame steps (, and .) move by one frame and pause; the speed changes playbackRate.
    page.locator("body").focus()
    before = video.evaluate("v => v.currentTime")
    page.keyboard.press(".")
    page.wait_for_function(f"() => document.getElementById('clip').currentTime > {before} + 0.05")
    after = video.evaluate("v => v.currentTime")
    assert 0.05 < after - before <= 0.21, (before, after)
    page.keyboard.press(",")
    page.wait_for_function(f"() => Math.abs(document.getElementById('clip').currentTime - {before}) < 0.02")
    page.get_by_label("Vitesse").select_option("0.25")
    assert video.evaluate("v => v.playbackRate") == 0.25
    screenshot(page, "revue-visionneuse-cadres")


def test_tag_a_species_with_the_keyboard_only_then_a_second_naturalist_validates(
    browser: Browser, page: Page, review_site: Review
) -> None:
    site, ids = review_site
    event = ids[1]
    sign_in(page, site, "nina")
    page.goto(f"{site.url}/revue/evenements/{event}")
    page.locator("body").focus()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Raccourcis clavier")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Raccourcis clavier")).to_be_hidden()

    page.keyboard.press("/")
    expect(page.get_by_role("combobox", name="Espèce")).to_be_focused()
    page.keyboard.type("CHEVREUIL")  # accents and case do not matter
    option = page.get_by_role("listbox", name="Espèces trouvées").get_by_role("option").first
    expect(option).to_contain_text("Capreolus capreolus")
    page.keyboard.press("Enter")  # picks the highlighted taxon
    expect(page.get_by_role("combobox", name="Espèce")).to_have_value("Capreolus capreolus")
    page.keyboard.press("Enter")  # sends the form
    expect(page.get_by_role("status")).to_have_text("Observation ajoutée.")
    expect(page.locator(".review-observation").first).to_contain_text("Chevreuil")
    # Quick species: key 2 is the second of the list (nina's last species first: Capreolus).
    page.locator("body").focus()
    second = page.locator('[data-quick="2"]').inner_text()
    page.keyboard.press("2")
    expect(page.get_by_role("status")).to_have_text("Observation ajoutée.")
    assert _status(site, event)[2] == ["Capreolus capreolus:proposed", "Sus scrofa:proposed"], second
    # The author cannot validate their own: no button for her.
    expect(page.get_by_role("button", name="Valider (Entrée)")).to_have_count(0)

    other = browser.new_context(viewport={"width": 1280, "height": 800})
    p2 = other.new_page()
    sign_in(p2, site, "oscar")
    p2.goto(f"{site.url}/revue/evenements/{event}")
    p2.locator("body").focus()
    p2.keyboard.press("Enter")
    expect(p2.get_by_role("status")).to_have_text("Observation validée.")
    other.close()
    assert _status(site, event)[2] == ["Capreolus capreolus:validated", "Sus scrofa:proposed"]


def test_mark_a_false_positive_and_a_favourite_by_keyboard(page: Page, review_site: Review) -> None:
    site, ids = review_site
    event = ids[2]
    sign_in(page, site, "nina")
    page.goto(f"{site.url}/revue/evenements/{event}")
    page.locator("body").focus()
    page.keyboard.press("f")
    expect(page.get_by_role("status")).to_have_text("Événement marqué faux positif.")
    page.locator("body").focus()
    page.keyboard.press("s")
    expect(page.get_by_role("status")).to_have_text("Ajouté aux favoris.")
    assert _status(site, event)[:2] == ("false_positive", True)
    # The gallery's filter finds it; "mark as not reviewed" is there to undo.
    page.goto(f"{site.url}/revue?statut=faux")
    expect(page.locator("[data-tile]")).to_have_count(1)
    expect(page.locator("[data-tile]")).to_contain_text("faux positif")
    page.goto(f"{site.url}/revue/evenements/{event}")
    page.get_by_role("button", name="Ce n'est pas un faux positif (F)").click()
    expect(page.get_by_role("status")).to_have_text("Ce n'est plus un faux positif.")
    assert _status(site, event)[0] == "reviewed"
    page.get_by_role("button", name="Marquer comme non vu").click()
    expect(page.get_by_role("status")).to_have_text("Événement marqué comme non vu.")
    assert _status(site, event)[0] == "new"
    # Per user: an event nina has seen (ids[1]) is not among hers to review. The module's other
    # tests may or may not have run before this one on the same site (make test deals tests to
    # two workers), so she is given ids[1] here and the count is read from the database.
    with psycopg.connect(site.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO event_reviews (event_id, user_id) SELECT %s, id FROM users WHERE login = 'nina'"
            " ON CONFLICT DO NOTHING",
            (ids[1],),
        )
        row = conn.execute(
            "SELECT count(*) FROM camera_events e WHERE NOT EXISTS (SELECT 1 FROM event_reviews r"
            " JOIN users u ON u.id = r.user_id WHERE r.event_id = e.id AND u.login = 'nina')"
        ).fetchone()
    assert row is not None and 0 < row[0] < EVENTS
    page.goto(f"{site.url}/revue?moi=1")
    expect(page.locator("#compte")).to_contain_text(f"{row[0]} événement")
    expect(page.locator(f'a[href="/revue/evenements/{ids[1]}"]')).to_have_count(0)


def test_gallery_keyboard_selection_and_bulk_tag_of_three(page: Page, review_site: Review) -> None:
    site, ids = review_site
    sign_in(page, site, "nina")
    page.goto(f"{site.url}/revue?tri=ancien")
    expect(page.locator("#compte")).to_contain_text(f"{EVENTS} événements")
    tiles = page.locator("[data-tile-link]")
    tiles.first.focus()
    # Space ticks the oldest; Shift+Right ticks the next two.
    page.keyboard.press("Space")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator("[data-selected-count]")).to_have_text("(3 choisis)")
    expect(tiles.nth(2)).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(tiles.nth(1)).to_be_focused()
    oldest = ids[-3:]
    page.get_by_label("Action").select_option("tag")
    page.get_by_label("Espèce (pour « Noter une espèce »)").fill("Vulpes vulpes")
    page.get_by_role("button", name="Appliquer à la sélection").click()
    expect(page.get_by_role("status")).to_have_text("Action faite sur la sélection.")
    for event in oldest:
        assert _status(site, event)[2] == ["Vulpes vulpes:proposed"], event
    assert all("Vulpes vulpes:proposed" not in _status(site, e)[2] for e in ids[:-3])
    # The filter on the species finds exactly those three; Enter opens a tile.
    page.goto(f"{site.url}/revue?espece=renard+roux")
    expect(page.locator("#compte")).to_contain_text("3 événements avec « Vulpes vulpes »")
    page.locator("[data-tile-link]").first.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{site.url}/revue/evenements/{oldest[0]}")  # newest of the three first
    screenshot(page, "revue-visionneuse-renard")


def test_calendar_marks_today_and_the_viewer_reads_only(page: Page, review_site: Review) -> None:
    site, _ = review_site
    sign_in(page, site, "victor")
    page.goto(f"{site.url}/revue")
    today = page.locator(".review-month__todo")
    expect(today.first).to_contain_text("à revoir")
    expect(page.locator("[data-select]")).to_have_count(0)  # no selection, no bulk form
    expect(page.get_by_role("button", name="Appliquer à la sélection")).to_have_count(0)
    page.goto(f"{site.url}/revue/evenements/{review_site[1][0]}")
    expect(page.get_by_role("button", name="Faux positif (F)")).to_have_count(0)
    nav = page.get_by_role("navigation", name="Navigation principale")
    expect(nav.get_by_role("link", name="Revue")).to_have_count(0)  # theirs is on the home page
    page.goto(f"{site.url}/")
    expect(page.get_by_role("link", name="Revue des webcams")).to_have_attribute("href", "/revue")


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, bypass_csp=True, locale="fr-FR", timezone_id="Europe/Paris"
    )
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("which", ["galerie", "visionneuse", "statistiques"])
def test_review_pages_have_no_serious_accessibility_violation(
    axe_page: Page, review_site: Review, which: str
) -> None:
    site, ids = review_site
    sign_in(axe_page, site, "nina")
    paths = {
        "galerie": "/revue",
        "visionneuse": f"/revue/evenements/{ids[1]}",
        "statistiques": "/revue/statistiques",
    }
    axe_page.goto(site.url + paths[which])
    bad = [v for v in _axe(axe_page) if v["impact"] in ("serious", "critical")]
    assert bad == [], json.dumps(bad, ensure_ascii=False, indent=1)
    screenshot(axe_page, f"revue-{which}")


@pytest.mark.parametrize("width", [768, 360])
def test_review_pages_fit_a_tablet_and_a_phone(
    browser: Browser, review_site: Review, width: int
) -> None:
    site, ids = review_site
    context = browser.new_context(
        viewport={"width": width, "height": 900},
        is_mobile=width < 500,
        has_touch=True,
        locale="fr-FR",
        timezone_id="Europe/Paris",
    )
    p = context.new_page()
    sign_in(p, site, "nina")
    for name, path in (
        ("galerie", "/revue"),
        ("visionneuse", f"/revue/evenements/{ids[1]}"),
        ("statistiques", "/revue/statistiques"),
    ):
        p.goto(site.url + path)
        assert p.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        if name == "galerie":
            # A filter's check box stays a box beside its words: a full-width box pushed
            # "favoris seulement" into a narrow column (seen on a phone).
            for words in ("favoris seulement", "pas encore vus par moi"):
                box = p.get_by_label(words).bounding_box()
                assert box is not None and box["width"] <= 32, (words, width, box)
            # The page's own buttons do not touch the form below them.
            buttons = p.locator(".page-header__actions").bounding_box()
            form = p.locator("form.review-filters").bounding_box()
            assert buttons and form and form["y"] - (buttons["y"] + buttons["height"]) >= 12
        if name == "visionneuse":
            # The page's four buttons share rows (one row each pushed the clip below a phone's
            # first screen).
            tops = p.locator(".page-header__actions .button").evaluate_all(
                "bs => bs.map(b => Math.round(b.getBoundingClientRect().top))"
            )
            assert len(tops) == 4 and len(set(tops)) < 4, (width, tops)
        screenshot(p, f"revue-{name}-{width}px")
    context.close()


def test_hostile_free_name_and_comment_are_shown_as_text(
    browser: Browser, review_site: Review
) -> None:
    site, ids = review_site
    # The CSP is bypassed so that only the escaping stands between the name and a script.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    p = context.new_page()
    dialogs: list[str] = []
    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    p.on("dialog", refuse)
    sign_in(p, site, "nina")
    event = ids[4]
    p.goto(f"{site.url}/revue/evenements/{event}")
    p.get_by_role("combobox", name="Espèce").fill(XSS)
    p.get_by_label("Commentaire").fill(XSS)
    p.get_by_role("button", name="Ajouter l'observation").click()
    expect(p.get_by_role("status")).to_contain_text("pas dans la liste des espèces")
    obs = p.locator(".review-observation").first
    expect(obs.locator(".review-observation__name")).to_contain_text(XSS)
    expect(obs.locator(".review-observation__comment")).to_have_text(XSS)
    assert p.locator(".review-observation img").count() == 0
    p.goto(f"{site.url}/revue?tri=ancien")
    expect(p.locator(".review-tile__species").first).to_be_visible()
    assert XSS in p.locator("main").inner_text()
    assert p.locator("main img[src='x']").count() == 0
    # A hostile species filter is text too, and an unknown one is said so.
    p.goto(f"{site.url}/revue?espece=" + "%3Cscript%3Ealert(2)%3C%2Fscript%3E")
    expect(p.locator("#compte")).to_contain_text("(nom hors de la liste)")
    assert dialogs == []
    context.close()


def test_flag_a_person_with_p_hides_it_from_the_viewer(
    page: Page, browser: Browser, review_site: Review
) -> None:
    site, ids = review_site
    event = ids[4]
    sign_in(page, site, "nina")
    page.goto(f"{site.url}/revue/evenements/{event}")
    page.locator("body").focus()
    page.keyboard.press("?")
    expect(page.locator("#raccourcis")).to_contain_text("une personne est dans l'image")
    page.keyboard.press("Escape")
    page.locator("body").focus()
    page.keyboard.press("p")
    expect(page.get_by_role("status")).to_contain_text("une personne est dans l'image")
    expect(page.locator(".review-player")).to_contain_text("personne : caché aux lecteurs")
    screenshot(page, "revue-personne")
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    viewer = context.new_page()
    try:
        sign_in(viewer, site, "victor")
        response = viewer.goto(f"{site.url}/revue/evenements/{event}")
        assert response is not None and response.status == 404
        viewer.goto(f"{site.url}/revue")
        expect(viewer.locator(f'a[href="/revue/evenements/{event}"]')).to_have_count(0)
        expect(viewer.locator(f'a[href="/revue/evenements/{ids[3]}"]')).to_have_count(1)
        # P again: no person; the viewer sees it again.
        page.locator("body").focus()
        page.keyboard.press("p")
        expect(page.get_by_role("status")).to_have_text(
            "Aucune personne : l'événement est de nouveau visible des lecteurs."
        )
        viewer.goto(f"{site.url}/revue")
        expect(viewer.locator(f'a[href="/revue/evenements/{event}"]')).to_have_count(1)
    finally:
        context.close()
    # The gallery's bulk form offers the flag.
    page.goto(f"{site.url}/revue")
    expect(page.get_by_label("Action").locator("option[value=person]")).to_have_count(1)
