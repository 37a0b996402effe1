"""The admin cameras pages in Chromium: reach them from the hub, add a camera (a refused URL is
explained beside its field and nothing typed is lost), draw masks on the current view with the
pointer and with the keyboard only, delete one, save, and find them stored in the camera's config;
phone width; screenshots."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from camera.clips import write_view
from simulators.webcam.scene import Scene, SceneConfig
from tests.factories import make_user
from tests.support import create_database, db_url, drop_database
from tests.web.conftest import PASSWORD, Site, screenshot, serve, sign_in
from tests.web.test_accounts_pages import _axe

Cameras = tuple[Site, Path]


@pytest.fixture(scope="module")
def cameras_site(template_db: str) -> Iterator[Cameras]:
    """`vigie api` with a media directory of its own, an admin and a naturalist."""
    name = create_database(template=template_db)
    url = db_url(name)
    media = Path(tempfile.mkdtemp(prefix="vigie-cameras-media-"))
    with psycopg.connect(url, autocommit=True) as conn:
        make_user(conn, "claire", ["admin"], password=PASSWORD, display_name="Claire Admin")
        make_user(conn, "nina", ["naturalist"], password=PASSWORD, display_name="Nina Naturaliste")
    with serve(url, {"VIGIE_CAMERA__MEDIA_DIR": str(media)}) as site:
        yield site, media
    drop_database(name)


def _stored(site: Site, camera_id: str) -> tuple[str, object]:
    with psycopg.connect(site.database_url) as conn:
        row = conn.execute(
            "SELECT source_url, motion_config -> 'masks' FROM cameras WHERE id = %s", (camera_id,)
        ).fetchone()
    assert row is not None
    return str(row[0]), row[1]


def _click_at(page: Page, x: float, y: float) -> None:
    box = page.locator("[data-mask-canvas]").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def test_add_a_camera_then_draw_masks_and_save_them(page: Page, cameras_site: Cameras) -> None:
    site, media = cameras_site
    sign_in(page, site, "claire")
    page.goto(site.url + "/admin")
    page.get_by_role("link", name="Caméras").click()
    expect(page.get_by_role("heading", name="Caméras", level=1)).to_be_visible()

    # A loopback URL is refused beside its field; what was typed stays.
    page.get_by_label("Identifiant").fill("lisiere-sud")
    page.locator("#champ-name").fill("Lisière sud, chemin des Marais")
    page.get_by_label("Type de flux").select_option("rtsp")
    page.get_by_label("URL du flux").fill("rtsp://vigie:motdepasse@[::1]:8554/flux")
    page.get_by_role("button", name="Ajouter la caméra").click()
    error = page.locator("#champ-source_url-erreur")
    expect(error).to_contain_text("adresse interne")
    expect(page.get_by_label("URL du flux")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Identifiant")).to_have_value("lisiere-sud")
    expect(page.locator("#champ-name")).to_have_value("Lisière sud, chemin des Marais")
    expect(page.get_by_label("URL du flux")).to_have_value("rtsp://vigie:motdepasse@[::1]:8554/flux")
    screenshot(page, "admin-cameras-erreur")

    page.get_by_label("URL du flux").fill("rtsp://vigie:motdepasse@93.184.216.34:554/flux")
    page.get_by_role("button", name="Ajouter la caméra").click()
    expect(page.get_by_role("status").first).to_contain_text("Caméra enregistrée")
    assert page.url.endswith("/admin/cameras/lisiere-sud?fait=camera")
    assert _stored(site, "lisiere-sud") == ("rtsp://vigie:motdepasse@93.184.216.34:554/flux", None)
    expect(page.get_by_text("rtsp://vigie:***@93.184.216.34:554/flux")).to_be_visible()
    assert "motdepasse" not in page.content()

    # The worker's current view (written as the worker writes it), then the page again.
    scene = Scene(SceneConfig(seconds=2.0, width=1280, height=720, seed=3))
    write_view(media, "lisiere-sud", scene.render(0), 80)
    page.reload()
    page.wait_for_function("() => document.querySelector('[data-mask-view]').naturalWidth > 0")

    # With the pointer: four clicks and Enter.
    for x, y in ((0.05, 0.05), (0.45, 0.05), (0.45, 0.30), (0.05, 0.30)):
        _click_at(page, x, y)
    page.keyboard.press("Enter")
    expect(page.locator("[data-mask-list] li")).to_have_count(1)
    expect(page.locator("[data-mask-status]")).to_contain_text("Masque 1 fermé")

    # With the keyboard only: the crosshair is where the last click was; arrows, Space, Enter.
    canvas = page.locator("[data-mask-canvas]")
    canvas.focus()
    page.keyboard.press("Space")  # (0.05, 0.30)
    for _ in range(4):
        page.keyboard.press("Shift+ArrowRight")  # +0.2
    page.keyboard.press("Space")  # (0.25, 0.30)
    for _ in range(4):
        page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Space")  # (0.25, 0.50)
    page.keyboard.press("Backspace")  # taken back
    for _ in range(4):
        page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Space")  # (0.05, 0.50)
    page.keyboard.press("Enter")
    expect(page.locator("[data-mask-list] li")).to_have_count(2)
    # A third one, dropped with Escape before it is closed.
    page.keyboard.press("Space")
    page.keyboard.press("Escape")
    expect(page.locator("[data-mask-list] li")).to_have_count(2)
    screenshot(page, "admin-camera-masques")

    # A polygon deleted by its button, then the first one kept and saved.
    page.get_by_role("button", name="Supprimer le masque 2").click()
    expect(page.locator("[data-mask-list] li")).to_have_count(1)
    page.keyboard.press("Tab")
    page.get_by_role("button", name="Enregistrer les masques").click()
    expect(page.get_by_role("status").first).to_contain_text("Masques enregistrés")
    _, masks = _stored(site, "lisiere-sud")
    assert isinstance(masks, list) and len(masks) == 1
    points = masks[0]["points"]
    assert len(points) == 4
    for (x, y), (ex, ey) in zip(
        points, ((0.05, 0.05), (0.45, 0.05), (0.45, 0.30), (0.05, 0.30)), strict=True
    ):
        assert abs(x - ex) < 0.01 and abs(y - ey) < 0.01
    # Shown again after the reload, drawn over the view and listed.
    expect(page.locator("[data-mask-list] li")).to_have_count(1)
    expect(page.locator("svg .mask-shape")).to_have_count(1)
    screenshot(page, "admin-camera")

    # A keyboard-only polygon, saved on its own: its points are where the arrows put them (the
    # crosshair starts in the middle of a fresh page).
    page.get_by_role("button", name="Supprimer le masque 1").click()
    canvas.focus()
    for key in ("Space", *["Shift+ArrowRight"] * 4, "Space", *["Shift+ArrowDown"] * 4, "Space", "Enter"):
        page.keyboard.press(key)
    page.get_by_role("button", name="Enregistrer les masques").click()
    expect(page.get_by_role("status").first).to_contain_text("Masques enregistrés")
    _, masks = _stored(site, "lisiere-sud")
    assert masks == [{"points": [[0.5, 0.5], [0.7, 0.5], [0.7, 0.7]]}]

    page.goto(site.url + "/admin/cameras")
    expect(page.get_by_role("link", name="lisiere-sud")).to_be_visible()
    screenshot(page, "admin-cameras")


def test_a_bad_masks_text_is_refused_and_kept(browser: Browser, cameras_site: Cameras) -> None:
    """Without JavaScript, the text area is the editor: a broken polygon is refused in French."""
    site, _ = cameras_site
    context = browser.new_context(java_script_enabled=False, locale="fr-FR")
    p = context.new_page()
    sign_in(p, site, "claire")
    p.goto(site.url + "/admin/cameras")
    p.get_by_label("Identifiant").fill("sans-js")
    p.locator("#champ-name").fill("Sans JavaScript")
    p.get_by_label("URL du flux").fill("http://93.184.216.34/video.mjpg")
    p.get_by_label("Type de flux").select_option("mjpeg")
    p.get_by_role("button", name="Ajouter la caméra").click()
    bad = '[{"points": [[0, 0], [1, 1], [1, 0], [0, 1]]}]'
    p.get_by_label("Masques (JSON)").fill(bad)
    p.get_by_role("button", name="Enregistrer les masques").click()
    expect(p.get_by_role("alert")).to_contain_text("se croise")
    expect(p.get_by_label("Masques (JSON)")).to_have_value(bad)
    assert _stored(site, "sans-js")[1] is None
    context.close()


def test_the_pages_are_admin_only_fit_a_phone_and_pass_axe(browser: Browser, cameras_site: Cameras) -> None:
    site, _ = cameras_site
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        is_mobile=True,
        has_touch=True,
        locale="fr-FR",
        bypass_csp=True,
    )
    p = context.new_page()
    sign_in(p, site, "nina")
    assert p.goto(site.url + "/admin/cameras").status == 403  # type: ignore[union-attr]
    p.context.clear_cookies()
    sign_in(p, site, "claire")
    for path in ("/admin/cameras", "/admin/cameras/lisiere-sud"):
        p.goto(site.url + path)
        assert p.evaluate("document.documentElement.scrollWidth") <= 360, path
        bad = [v for v in _axe(p) if v["impact"] in ("serious", "critical")]
        assert bad == [], (path, bad)
    screenshot(p, "admin-camera-360px")
    context.close()
