"""Async queries of camera_health, which each camera worker upserts (src/camera/store.py), with
the disk its events' files use (their media_bytes) for /api/v1/cameras/{id}/health."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from vigie.db import AsyncConn
from vigie.errors import NotFoundError


async def all_cameras(conn: AsyncConn) -> list[dict[str, Any]]:
    """Every enabled camera's last reported health, with the age of that report in seconds."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT c.id AS camera_id, h.state, h.fps_in, h.fps_processed, h.frames_in,"
            " h.frames_dropped, h.reconnects, h.disk_state,"
            " extract(epoch FROM now() - h.updated_at) AS report_age_s"
            " FROM cameras c LEFT JOIN camera_health h ON h.camera_id = c.id"
            " WHERE c.enabled ORDER BY c.id"
        )
        return await cur.fetchall()


async def health(conn: AsyncConn, camera_id: str) -> dict[str, Any]:
    """The camera's last reported health and the disk its events' files use; NotFoundError."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT c.id AS camera_id, h.state, h.last_frame_at, coalesce(h.fps_in, 0) AS fps_in,"
            " coalesce(h.fps_processed, 0) AS fps_processed, coalesce(h.frames_in, 0) AS frames_in,"
            " coalesce(h.frames_dropped, 0) AS frames_dropped, coalesce(h.reconnects, 0) AS reconnects,"
            " h.width, h.height, coalesce(h.disk_state, 'ok') AS disk_state, h.last_error,"
            " h.updated_at AS reported_at, extract(epoch FROM now() - h.updated_at)::float8 AS report_age_s,"
            " coalesce(e.bytes, 0)::bigint AS disk_used_bytes, coalesce(e.clips, 0)::int AS clips"
            " FROM cameras c LEFT JOIN camera_health h ON h.camera_id = c.id"
            " LEFT JOIN LATERAL (SELECT sum(media_bytes) AS bytes,"
            "   count(*) FILTER (WHERE clip_path IS NOT NULL OR snapshot_path IS NOT NULL) AS clips"
            "   FROM camera_events WHERE camera_id = c.id) e ON true"
            " WHERE c.id = %s",
            (camera_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"caméra inconnue : {camera_id}")
    return row


async def health_of_all(conn: AsyncConn) -> dict[str, dict[str, Any]]:
    """Each camera's state, frame rate, last frame and disk used, by id (the admin list)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT c.id, h.state, h.last_frame_at, coalesce(h.fps_in, 0) AS fps_in,"
            " coalesce(h.frames_dropped, 0) AS frames_dropped, coalesce(h.reconnects, 0) AS reconnects,"
            " coalesce(e.bytes, 0)::bigint AS disk_used_bytes"
            " FROM cameras c LEFT JOIN camera_health h ON h.camera_id = c.id"
            " LEFT JOIN (SELECT camera_id, sum(media_bytes) AS bytes FROM camera_events"
            "   GROUP BY camera_id) e ON e.camera_id = c.id"
        )
        return {str(r["id"]): r for r in await cur.fetchall()}
