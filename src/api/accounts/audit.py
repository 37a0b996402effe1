"""The audit log (owner of `audit_log`): append-only; a trigger refuses UPDATE, DELETE, TRUNCATE."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

Conn = AsyncConnection[Any]

# What each action means, in French, for the audit page.
ACTIONS: dict[str, str] = {
    "signin.ok": "connexion",
    "signin.failed": "connexion refusée",
    "signin.limited": "connexion bloquée (trop d'essais)",
    "signout": "déconnexion",
    "password.changed": "mot de passe changé",
    "password.reset": "mot de passe réinitialisé",
    "user.created": "compte créé",
    "user.roles": "rôles modifiés",
    "user.disabled": "compte désactivé",
    "user.enabled": "compte réactivé",
    "token.created": "jeton créé",
    "token.revoked": "jeton révoqué",
    "incident.acknowledged": "incident pris en compte",
    "station.provisioned": "station créée (compte d'appareil)",
    "station.credentials.rotated": "mot de passe d'appareil renouvelé",
    "deleted": "suppression",
    "export": "export",
    # web-admin: the admin pages' actions
    "station.changed": "station modifiée",
    "rule.created": "règle créée",
    "rule.changed": "règle modifiée",
    "rule.enabled": "règle réactivée",
    "rule.disabled": "règle désactivée",
    "catchment.created": "bassin versant créé",
    "catchment.changed": "bassin versant modifié",
    "subscriber.created": "abonné ajouté",
    "subscriber.test": "envoi de test",
    "instruction.changed": "consigne modifiée",
    "instruction.reset": "consigne remise par défaut",
    "exercise.started": "exercice lancé",
    "events.deleted": "événements de caméra supprimés",
}


@dataclass(frozen=True)
class Actor:
    """Who did something, and from where."""

    id: int | None
    name: str
    ip: str | None


@dataclass(frozen=True)
class Entry:
    """One line of the audit log."""

    id: int
    at: datetime
    actor_id: int | None
    actor: str
    action: str
    target: str | None
    ip: str | None
    detail: dict[str, Any]


async def record(
    conn: Conn, actor: Actor, action: str, target: str | None = None, detail: dict[str, Any] | None = None
) -> None:
    """Append one entry (in the caller's transaction, so it commits with the action it records)."""
    await conn.execute(
        "INSERT INTO audit_log (actor_id, actor, action, target, ip, detail) VALUES (%s, %s, %s, %s, %s, %s)",
        (actor.id, actor.name[:200], action, target[:300] if target else None, actor.ip, Jsonb(detail or {})),
    )


async def entries(
    conn: Conn, *, limit: int = 100, before_id: int | None = None, action: str | None = None
) -> list[Entry]:
    """Entries newest first, paged by id; optionally one action or family."""
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    if before_id is not None:
        clauses.append("id < %s")
        params.append(before_id)
    if action:
        # 'signin' matches signin.ok, signin.failed and signin.limited.
        clauses.append("(action = %s OR split_part(action, '.', 1) = %s)")
        params += [action, action]
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, at, actor_id, actor, action, target, host(ip) AS ip, detail FROM audit_log"  # noqa: S608
            f" WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT %s",
            (*params, limit),
        )
        return [Entry(**r) for r in await cur.fetchall()]
