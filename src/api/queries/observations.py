"""Async queries of observations on events and their history (owner of observations and
observation_history). Every change is written to the history in the same transaction, with
the observation as it stood after it (before it, for a deletion)."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from api.accounts.audit import Actor
from vigie.db import AsyncConn
from vigie.errors import ConflictError, NotFoundError

FIELDS = (
    "observation_type",
    "scientific_name",
    "in_species_list",
    "vernacular_name",
    "count",
    "life_stage",
    "sex",
    "behavior",
    "individual_id",
    "comments",
    "bbox_x",
    "bbox_y",
    "bbox_w",
    "bbox_h",
    "event_start_s",
    "event_end_s",
)
_COLUMNS = (
    "o.id, o.event_id, o.observation_type, o.scientific_name, o.in_species_list, o.vernacular_name,"
    " o.count, o.life_stage, o.sex, o.behavior, o.individual_id, o.comments, o.bbox_x, o.bbox_y,"
    " o.bbox_w, o.bbox_h, o.event_start_s, o.event_end_s,"
    " coalesce(e.clip_start_ts, e.start_ts) + make_interval(secs => o.event_start_s) AS event_start,"
    " coalesce(e.clip_start_ts, e.start_ts) + make_interval(secs => o.event_end_s) AS event_end,"
    " o.classified_by, o.classification_ts, o.status, o.validated_by, o.validated_at,"
    " o.validation_comment, o.corrects_id, o.version, o.created_at, o.updated_at, o.classified_by_id"
)
_DONE = {"validated": "validée", "rejected": "rejetée"}
_FROM = "observations o JOIN camera_events e ON e.id = o.event_id"


async def _history(conn: AsyncConn, obs_id: int, action: str, actor: Actor) -> None:
    await conn.execute(
        "INSERT INTO observation_history"
        " (observation_id, event_id, version, action, actor_id, actor, snapshot)"
        " SELECT o.id, o.event_id, o.version, %s, %s, %s, to_jsonb(o) FROM observations o WHERE o.id = %s",
        (action, actor.id, actor.name, obs_id),
    )


async def for_event(conn: AsyncConn, event_id: int) -> list[dict[str, Any]]:
    """An event's observations, oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.event_id = %s ORDER BY o.id",  # noqa: S608
            (event_id,),
        )
        return await cur.fetchall()


async def get(conn: AsyncConn, obs_id: int, *, lock: bool = False) -> dict[str, Any]:
    """One observation; NotFoundError if unknown."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE o.id = %s"  # noqa: S608
            + (" FOR UPDATE OF o" if lock else ""),
            (obs_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"observation inconnue : {obs_id}")
    return row


async def create(
    conn: AsyncConn, event_id: int, values: dict[str, Any], actor: Actor, **extra: Any
) -> dict[str, Any]:
    """Insert an observation classified by actor (in the caller's transaction)."""
    data = {k: values.get(k) for k in FIELDS} | extra
    data |= {"classified_by_id": actor.id, "classified_by": actor.name, "event_id": event_id}
    cols = ", ".join(data)
    marks = ", ".join(f"%({k})s" for k in data)
    cur = await conn.execute(
        f"INSERT INTO observations ({cols}) VALUES ({marks}) RETURNING id",  # noqa: S608  # names are FIELDS
        data,
    )
    row = await cur.fetchone()
    assert row is not None
    obs_id = int(row[0])
    await _history(conn, obs_id, "corrected" if extra.get("corrects_id") else "created", actor)
    return await get(conn, obs_id)


async def update(conn: AsyncConn, obs_id: int, values: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """Replace an observation's fields; it goes back to "proposed" (a change is validated anew)
    and is now classified by actor."""
    sets = ", ".join(f"{k} = %({k})s" for k in FIELDS)
    cur = await conn.execute(
        f"UPDATE observations SET {sets}, classified_by_id = %(actor_id)s, classified_by = %(actor)s,"  # noqa: S608
        " classification_ts = now(), status = 'proposed', validated_by_id = NULL, validated_by = NULL,"
        " validated_at = NULL, validation_comment = NULL, version = version + 1, updated_at = now()"
        " WHERE id = %(id)s",
        {k: values.get(k) for k in FIELDS} | {"id": obs_id, "actor_id": actor.id, "actor": actor.name},
    )
    if cur.rowcount == 0:
        raise NotFoundError(f"observation inconnue : {obs_id}")
    await _history(conn, obs_id, "updated", actor)
    return await get(conn, obs_id)


async def decide(
    conn: AsyncConn, obs_id: int, status: str, actor: Actor, comment: str | None
) -> dict[str, Any]:
    """A second naturalist's verdict: validated or rejected. The author cannot judge their own
    observation, and a verdict is given once (an edit puts it back to "proposed")."""
    current = await get(conn, obs_id, lock=True)
    if current["classified_by_id"] is not None and current["classified_by_id"] == actor.id:
        raise ConflictError(
            "validation refusée : une observation est validée par un second naturaliste, pas par son auteur"
        )
    if current["status"] != "proposed":
        raise ConflictError(
            f"validation refusée : observation déjà {_DONE[current['status']]}"
            " ; modifiez-la pour la proposer à nouveau"
        )
    await conn.execute(
        "UPDATE observations SET status = %s, validated_by_id = %s, validated_by = %s, validated_at = now(),"
        " validation_comment = %s, version = version + 1, updated_at = now() WHERE id = %s",
        (status, actor.id, actor.name, comment, obs_id),
    )
    await _history(conn, obs_id, status, actor)
    return await get(conn, obs_id)


async def delete(conn: AsyncConn, obs_id: int, actor: Actor) -> int:
    """Delete an observation (its history, with its last state, stays); return its event's id."""
    current = await get(conn, obs_id, lock=True)
    await _history(conn, obs_id, "deleted", actor)
    await conn.execute("DELETE FROM observations WHERE id = %s", (obs_id,))
    return int(current["event_id"])


async def history(conn: AsyncConn, obs_id: int) -> list[dict[str, Any]]:
    """Every change of an observation, oldest first (also after it was deleted)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, observation_id, event_id, version, action, actor, at, snapshot"
            " FROM observation_history WHERE observation_id = %s ORDER BY id",
            (obs_id,),
        )
        rows = await cur.fetchall()
    if not rows:
        raise NotFoundError(f"observation inconnue : {obs_id}")
    return rows
