"""Async queries of camera_health, which each camera worker upserts (src/camera/store.py)."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from vigie.db import AsyncConn


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
