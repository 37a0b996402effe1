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
    NavEntry("Astreinte", "/astreinte", frozenset({Role.ADMIN, Role.TECHNICIAN, Role.DUTY, Role.VIEWER})),
    NavEntry("Carte", "/carte", frozenset({Role.TECHNICIAN, Role.DUTY, Role.VIEWER, Role.ADMIN})),
    NavEntry("Maintenance", "/maintenance", frozenset({Role.TECHNICIAN, Role.DUTY, Role.ADMIN})),
    # The naturalists' review (elected officials read it from their home page).
    NavEntry("Revue", "/revue", frozenset({Role.NATURALIST, Role.ADMIN})),
    # One entry for every admin page (users, tokens, audit, network, residents): the hub at
    # /admin lists them, so the header stays one line on a laptop.
    NavEntry("Administration", "/admin", frozenset({Role.ADMIN, Role.TECHNICIAN})),
    NavEntry("Mon compte", "/compte", ANYONE_SIGNED_IN),
)


def is_current(entry: NavEntry, path: str) -> bool:
    """Whether the header marks this entry as the current page: its own path or one below it."""
    return path == entry.href or (entry.href != "/" and path.startswith(entry.href + "/"))


def entries_for(roles: frozenset[Role]) -> list[NavEntry]:
    """The entries these roles may see, in table order."""
    return [e for e in ENTRIES if Role.PUBLIC in e.roles or not e.roles.isdisjoint(roles)]
