"""The navigation of the layout: one table of entries, each shown to the roles that may use it."""

from __future__ import annotations

from dataclasses import dataclass

from api.accounts.roles import Role

ANYONE_SIGNED_IN: frozenset[Role] = frozenset(
    {Role.ADMIN, Role.TECHNICIAN, Role.DUTY, Role.NATURALIST, Role.VIEWER}
)


@dataclass(frozen=True)
class NavEntry:
    """One link of the header's navigation."""

    label: str
    href: str
    roles: frozenset[Role]  # Role.PUBLIC in it: shown to everyone


# Pages add themselves here when they exist; the home page lists the same entries per role.
ENTRIES: tuple[NavEntry, ...] = (
    NavEntry("Accueil", "/", frozenset({Role.PUBLIC})),
    NavEntry("Vigilance", "/vigilance", frozenset({Role.PUBLIC})),
    NavEntry("Utilisateurs", "/admin/utilisateurs", frozenset({Role.ADMIN})),
    NavEntry("Jetons d'API", "/admin/jetons", frozenset({Role.ADMIN})),
    NavEntry("Journal d'audit", "/admin/journal", frozenset({Role.ADMIN})),
    NavEntry("Mon compte", "/compte", ANYONE_SIGNED_IN),
    # web-stations
    NavEntry("Carte", "/carte", frozenset({Role.TECHNICIAN, Role.DUTY, Role.VIEWER, Role.ADMIN})),
    NavEntry("Maintenance", "/maintenance", frozenset({Role.TECHNICIAN, Role.DUTY, Role.ADMIN})),
    # web-admin: one entry for the admin pages of the network and residents (their hub lists them)
    NavEntry("Administration", "/admin", frozenset({Role.ADMIN, Role.TECHNICIAN})),
    # review-web: the naturalists' review (elected officials read it from their home page)
    NavEntry("Revue", "/revue", frozenset({Role.NATURALIST, Role.ADMIN})),
)


def entries_for(roles: frozenset[Role]) -> list[NavEntry]:
    """The entries these roles may see, in table order."""
    return [e for e in ENTRIES if Role.PUBLIC in e.roles or not e.roles.isdisjoint(roles)]
