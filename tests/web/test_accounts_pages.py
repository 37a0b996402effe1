"""The accounts pages in a real browser: sign-in, a wrong password, sign-out, admin pages,
accessibility (axe-core), escaping of hostile names (XSS), and the pages' screenshots."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from tests.factories import make_user
from tests.web.conftest import AXE, Site, screenshot, sign_in

XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)>'


def test_sign_in_wrong_password_and_sign_out(page: Page, site: Site) -> None:
    sign_in(page, site, "david", "pas le bon mot de passe")
    expect(page.get_by_role("alert")).to_have_text("Identifiant ou mot de passe incorrect.")
    expect(page.get_by_label("Identifiant")).to_have_value("david")  # kept, the password is not
    screenshot(page, "connexion-erreur")

    sign_in(page, site, "david")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour David Astreinte")
    expect(page.locator(".site-header__who")).to_have_text("David Astreinte")
    # The duty officer's navigation has no admin entry.
    nav = page.get_by_role("navigation", name="Navigation principale")
    expect(nav.get_by_role("link", name="Administration")).to_have_count(0)
    expect(nav.get_by_role("link", name="Mon compte")).to_be_visible()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["vigie_session"]["httpOnly"] is True and cookies["vigie_session"]["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("vigie_session") == -1  # scripts cannot read it

    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("status")).to_have_text("Vous êtes déconnecté.")
    page.goto(f"{site.url}/compte")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion requise")


def test_sign_in_returns_to_the_page_asked_for(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/admin/journal")
    page.get_by_role("link", name="Se connecter").last.click()
    page.get_by_label("Identifiant").fill("claire")
    page.get_by_label("Mot de passe").fill("une phrase de passe assez longue")
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(f"{site.url}/admin/journal")
    expect(page.get_by_role("heading", level=1)).to_have_text("Journal d'audit")


def test_admin_creates_a_user_who_signs_in_and_sets_a_password(
    browser: Browser, page: Page, site: Site
) -> None:
    sign_in(page, site, "claire")
    page.goto(f"{site.url}/admin/utilisateurs")
    page.get_by_label("Identifiant").fill("emile")
    page.get_by_label("Nom affiché").fill("Émile Technicien")
    page.get_by_label("technicien").check()
    page.get_by_role("button", name="Créer le compte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Compte emile créé")
    one_time = page.locator("#secret").inner_text().strip()
    assert len(one_time) == 16
    screenshot(page, "admin-compte-cree")

    other = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    sign_in(other, site, "emile", one_time)
    expect(other).to_have_url(f"{site.url}/compte")  # a one-time password must be changed
    new = "ma phrase de passe à moi, bien longue"
    other.get_by_label("Mot de passe actuel").fill(one_time)
    other.get_by_label("Nouveau mot de passe", exact=False).first.fill(new)
    other.get_by_label("Nouveau mot de passe, à nouveau").fill(new)
    other.get_by_role("button", name="Changer le mot de passe").click()
    expect(other.get_by_role("status")).to_contain_text("Mot de passe changé")
    other.context.close()

    page.goto(f"{site.url}/admin/journal")
    rows = page.locator("table tbody tr")
    expect(rows.first).to_contain_text("mot de passe changé")
    expect(page.get_by_role("table")).to_contain_text("compte créé")


def test_admin_token_is_shown_once_and_revoked(page: Page, site: Site) -> None:
    sign_in(page, site, "claire")
    page.goto(f"{site.url}/admin/jetons")
    page.get_by_label("À quoi sert-il ?").fill("Supervision préfecture")
    page.get_by_label("technicien").check()
    page.get_by_role("button", name="Créer le jeton").click()
    secret = page.locator("#secret").inner_text().strip()
    assert secret.startswith("vigie_")
    screenshot(page, "admin-jeton-affiche")
    page.get_by_role("link", name="Retour aux jetons").click()
    expect(page.get_by_role("table")).to_contain_text("Supervision préfecture")
    assert secret not in page.content()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Révoquer le jeton Supervision préfecture").click()
    expect(page.get_by_role("status")).to_have_text("Jeton révoqué.")
    expect(page.get_by_role("table")).to_contain_text("révoqué")
    page.goto(f"{site.url}/admin/journal?action=token")
    expect(page.locator("table tbody tr").last).to_contain_text("rôles : technicien ; titulaire : claire")
    expect(page.locator("table tbody tr").first).to_contain_text("jeton révoqué")


# Every page of this foundation, as (screenshot name, path, who); "nobody" is signed out.
PAGES = [
    ("connexion", "/connexion", None),
    ("accueil-public", "/", None),
    ("accueil-admin", "/", "claire"),
    ("accueil-astreinte", "/", "david"),
    ("compte", "/compte", "david"),
    ("admin-utilisateurs", "/admin/utilisateurs", "claire"),
    ("admin-utilisateur", "/admin/utilisateurs/1", "claire"),
    ("admin-jetons", "/admin/jetons", "claire"),
    ("journal", "/admin/journal", "claire"),
    ("connexion-requise", "/admin/journal", None),
]


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    # axe is injected as an inline script, which the pages' CSP rightly refuses: bypass it here.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    yield context.new_page()
    context.close()


def _axe(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice']}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    assert isinstance(result, list)
    return result


@pytest.mark.parametrize(("name", "path", "who"), PAGES, ids=[p[0] for p in PAGES])
def test_pages_have_no_serious_accessibility_violation(
    axe_page: Page, site: Site, name: str, path: str, who: str | None
) -> None:
    if who:
        sign_in(axe_page, site, who)
    axe_page.goto(site.url + path)
    bad = [v for v in _axe(axe_page) if v["impact"] in ("serious", "critical")]
    assert bad == [], json.dumps(bad, ensure_ascii=False, indent=1)
    screenshot(axe_page, name)


PHONE_PAGES = [p for p in PAGES if p[0] in ("connexion", "accueil-astreinte", "compte")]


@pytest.mark.parametrize(("name", "path", "who"), PHONE_PAGES, ids=[p[0] for p in PHONE_PAGES])
def test_pages_fit_a_phone(phone: Page, site: Site, name: str, path: str, who: str | None) -> None:
    if who:
        sign_in(phone, site, who)
    phone.goto(site.url + path)
    # Nothing wider than the screen: no sideways scrolling of the page itself.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(phone, f"{name}-360px")


def test_keyboard_skip_link_and_visible_focus(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/connexion")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Aller au contenu")
    expect(skip).to_be_focused()
    assert skip.evaluate("e => getComputedStyle(e).top") != "-48px"  # shown when focused
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    field = page.get_by_label("Identifiant")
    expect(field).to_be_focused()
    outline = field.evaluate("e => getComputedStyle(e).outlineStyle + ' ' + getComputedStyle(e).outlineWidth")
    assert outline == "solid 3px"


def test_hostile_names_are_shown_as_text(browser: Browser, site: Site) -> None:
    """<script> in every name a user can type: display names, token names, the login of a failed
    sign-in (shown in the audit log). CSP is bypassed so that only escaping stands in the way."""
    with psycopg.connect(site.database_url, autocommit=True) as conn:
        uid = make_user(
            conn, "mallory", ["viewer"], display_name=XSS, token="vigie_xss-token-0123456789abcdef"
        )
        conn.execute("UPDATE api_tokens SET name = %s WHERE user_id = %s", (XSS, uid))
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    sign_in(page, site, XSS, "rien")  # goes into the audit log as the actor and the target
    sign_in(page, site, "claire")
    for path in ("/admin/utilisateurs", f"/admin/utilisateurs/{uid}", "/admin/jetons", "/admin/journal", "/"):
        page.goto(site.url + path)
        page.wait_for_load_state("load")
        scripts = page.evaluate("[...document.scripts].map(s => s.src.replace(location.origin, ''))")
        assert all(s.startswith("/static/vigie.js?v=") for s in scripts), (path, scripts)
        assert page.locator("img[src='x']").count() == 0, path
        if path != "/":
            assert XSS in page.inner_text("main"), path  # shown, as text
    assert dialogs == []
    context.close()


def test_the_incident_page_keeps_its_style_under_the_csp(page: Page, site: Site) -> None:
    """The page every SMS links to loads its stylesheet from /static (inline styles are refused)."""
    from tests.api.test_incidents import make_incident

    with psycopg.connect(site.database_url, autocommit=True) as conn:
        inc = make_incident(conn)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{site.url}/incidents/{inc}")
    badge = page.locator(".incident-state .badge").first
    expect(badge).to_have_text("Alerte orange")
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(240, 138, 0)"
    assert refused == []
    screenshot(page, "incident-public")
