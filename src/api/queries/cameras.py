"""Async queries of the cameras the API manages (table `cameras`, migration 200; the camera
worker owns its health and events and writes them from src/camera/store.py).

The API writes `source_url` and never reads it: it reads `source_url_safe`, the URL with its
password masked (410_camera_admin.sql; the grants give it nothing else). Every change NOTIFYs
vigie_camera_config in its transaction, so the camera service applies it at once.
"""

from __future__ import annotations

from typing import Any

from psycopg import errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vigie.db import AsyncConn
from vigie.errors import ConflictError, NotFoundError
from vigie.notify import CAMERA_CONFIG

COLUMNS = (
    "id, name, source_kind, source_url_safe AS source_url, snapshot_interval_s, retention_days,"
    " enabled, coalesce(motion_config -> 'masks', '[]'::jsonb) AS masks, created_at, updated_at"
)
# What a client may change; source_url is written, never read back.
WRITABLE = ("name", "source_kind", "source_url", "snapshot_interval_s", "retention_days", "enabled")


def unknown(camera_id: str) -> NotFoundError:
    """The French 404 of a camera id that names none."""
    return NotFoundError(f"caméra inconnue : {camera_id}")


async def _notify(conn: AsyncConn, camera_id: str) -> None:
    await conn.execute("SELECT pg_notify(%s, %s)", (CAMERA_CONFIG, camera_id))


async def all_cameras(conn: AsyncConn) -> list[dict[str, Any]]:
    """Every camera, by id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {COLUMNS} FROM cameras ORDER BY id")  # noqa: S608  # constants
        return await cur.fetchall()


async def get(conn: AsyncConn, camera_id: str) -> dict[str, Any]:
    """One camera, or NotFoundError."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {COLUMNS} FROM cameras WHERE id = %s", (camera_id,))  # noqa: S608
        row = await cur.fetchone()
    if row is None:
        raise unknown(camera_id)
    return row


async def create(conn: AsyncConn, values: dict[str, Any]) -> dict[str, Any]:
    """Insert a camera (already validated); ConflictError if its id is taken."""
    names = ["id", *WRITABLE]
    cols = ", ".join(names)
    marks = ", ".join(f"%({k})s" for k in names)
    try:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"INSERT INTO cameras ({cols}) VALUES ({marks}) RETURNING {COLUMNS}",  # noqa: S608
                {k: values[k] for k in names},
            )
            row = await cur.fetchone()
            await _notify(conn, values["id"])
    except errors.UniqueViolation:
        raise ConflictError(f"caméra refusée : l'identifiant {values['id']} existe déjà") from None
    assert row is not None
    return row


async def update(conn: AsyncConn, camera_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """Change the given fields of a camera (already validated); NotFoundError if it is gone."""
    names = [k for k in WRITABLE if k in values]
    sets = ", ".join([*(f"{k} = %({k})s" for k in names), "updated_at = now()"])
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"UPDATE cameras SET {sets} WHERE id = %(camera_id)s RETURNING {COLUMNS}",  # noqa: S608
            {**{k: values[k] for k in names}, "camera_id": camera_id},
        )
        row = await cur.fetchone()
        if row is None:
            raise unknown(camera_id)
        await _notify(conn, camera_id)
    return row


async def set_masks(conn: AsyncConn, camera_id: str, masks: list[dict[str, Any]]) -> dict[str, Any]:
    """Replace the masks in the camera's motion config (its other settings stay)."""
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE cameras SET motion_config = jsonb_set(motion_config, '{masks}', %s),"
            " updated_at = now() WHERE id = %s RETURNING id AS camera_id, motion_config -> 'masks' AS masks,"
            " updated_at",
            (Jsonb(masks), camera_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise unknown(camera_id)
        await _notify(conn, camera_id)
    return row


async def delete(conn: AsyncConn, camera_id: str) -> None:
    """Delete a camera that never recorded anything; ConflictError if it has events or
    deployments (the naturalists' data would go with it: disable it instead)."""
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(
            "SELECT (SELECT count(*) FROM camera_events WHERE camera_id = %(id)s),"
            " (SELECT count(*) FROM deployments WHERE camera_id = %(id)s)",
            {"id": camera_id},
        )
        counted = await cur.fetchone()
        assert counted is not None
        events, deployments = int(counted[0]), int(counted[1])
        if events or deployments:
            raise ConflictError(
                f"caméra {camera_id} gardée : elle a {events} événement(s) et {deployments}"
                " déploiement(s) ; désactivez-la plutôt (enabled: false)"
            )
        await cur.execute("DELETE FROM cameras WHERE id = %s", (camera_id,))
        if cur.rowcount == 0:
            raise unknown(camera_id)
        await _notify(conn, camera_id)
