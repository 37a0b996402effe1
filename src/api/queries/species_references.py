"""Async queries of the species' reference frames (owner: the API's review, migration 432): a
frame of a clip (event, seconds into it) that a naturalist chose as a species' picture."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from vigie.db import AsyncConn

_COLUMNS = "scientific_name, event_id, at_s, chosen_by, chosen_at"


async def choose(
    conn: AsyncConn, scientific_name: str, event_id: int, at_s: float, by: str
) -> dict[str, Any]:
    """This frame is now the species' reference (it replaces the one before)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"INSERT INTO species_reference_frames ({_COLUMNS}) VALUES (%s, %s, %s, %s, now())"  # noqa: S608
            " ON CONFLICT (scientific_name) DO UPDATE SET event_id = EXCLUDED.event_id,"
            f" at_s = EXCLUDED.at_s, chosen_by = EXCLUDED.chosen_by, chosen_at = now() RETURNING {_COLUMNS}",
            (scientific_name, event_id, at_s, by),
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def for_names(conn: AsyncConn, names: list[str] | None) -> list[dict[str, Any]]:
    """The reference frames of these species (of all, for None), by name."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM species_reference_frames"  # noqa: S608
            " WHERE %(names)s::text[] IS NULL OR scientific_name = ANY(%(names)s) ORDER BY scientific_name",
            {"names": names},
        )
        return await cur.fetchall()
