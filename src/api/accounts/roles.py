"""The roles a user or an API token may hold, and their French names for the pages."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from vigie.errors import ValidationFailed


class Role(StrEnum):
    """Who may call a route. PUBLIC admits everyone, signed in or not; the others are held."""

    PUBLIC = "public"
    ADMIN = "admin"
    TECHNICIAN = "technician"  # gauges, devices, rules
    DUTY = "duty"  # the person on duty (astreinte): acknowledges incidents, reads delivery logs
    NATURALIST = "naturalist"  # reviews what the cameras caught
    VIEWER = "viewer"  # read-only, for elected officials


# Roles a user can be given (PUBLIC is everyone's, never stored).
HELD: tuple[Role, ...] = (Role.ADMIN, Role.TECHNICIAN, Role.DUTY, Role.NATURALIST, Role.VIEWER)
# Any signed-in user, whatever their roles.
SIGNED_IN: tuple[Role, ...] = HELD

LABELS: dict[Role, str] = {
    Role.PUBLIC: "public",
    Role.ADMIN: "administrateur",
    Role.TECHNICIAN: "technicien",
    Role.DUTY: "astreinte",
    Role.NATURALIST: "naturaliste",
    Role.VIEWER: "élu (lecture seule)",
}


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """Roles from their names; an unknown name or 'public' is refused with a French message."""
    roles = set()
    for name in names:
        try:
            role = Role(name.strip())
        except ValueError:
            role = None
        if role is None or role not in HELD:
            allowed = ", ".join(r.value for r in HELD)
            raise ValidationFailed(f"rôle inconnu : {name[:40]!r} (rôles possibles : {allowed})")
        roles.add(role)
    return frozenset(roles)


def ordered(roles: Iterable[Role | str]) -> list[Role]:
    """Roles in their canonical order, for storage and display."""
    held = {Role(r) for r in roles}
    return [r for r in HELD if r in held]
