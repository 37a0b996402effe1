"""The header's navigation: who sees which entry, and which one is marked as the current page."""

from __future__ import annotations

from api.accounts.roles import Role
from api.web.nav import ENTRIES, entries_for, is_current


def _labels(*roles: Role) -> list[str]:
    return [e.label for e in entries_for(frozenset(roles))]


def test_each_role_sees_its_own_entries_and_one_administration_entry() -> None:
    assert _labels() == ["Accueil", "Vigilance"]
    assert _labels(Role.VIEWER) == ["Accueil", "Vigilance", "Astreinte", "Carte", "Mon compte"]
    assert "Administration" not in _labels(Role.DUTY)
    admin = _labels(Role.ADMIN)
    assert admin.count("Administration") == 1 and len(admin) <= 9  # one line on a laptop


def test_an_entry_is_current_on_its_page_and_the_pages_below_it_only() -> None:
    by_label = {e.label: e for e in ENTRIES}
    admin, home = by_label["Administration"], by_label["Accueil"]
    assert is_current(admin, "/admin") and is_current(admin, "/admin/utilisateurs/3")
    assert not is_current(admin, "/administrateurs") and not is_current(admin, "/")
    assert is_current(home, "/") and not is_current(home, "/carte")


def test_every_home_section_has_links_or_says_why_not() -> None:
    """A section built from another table can silently end up empty (the admin's once did)."""
    from api.web.routes.account import HOME

    for section in HOME:
        assert section.links or section.empty, section.title
    admin = next(s for s in HOME if s.role == Role.ADMIN and s.title == "Administration")
    assert {link.href for link in admin.links} >= {"/admin/utilisateurs", "/admin/jetons", "/admin/journal"}
