"""Async queries of deployments (Camtrap DP: a camera at a place for a period), owner of the
table. Two deployments of one camera cannot overlap (an exclusion constraint), so each event
belongs to at most one: the one whose [start, end) holds its start."""

from __future__ import annotations

from typing import Any

from psycopg import errors
from psycopg.rows import dict_row

from vigie.db import AsyncConn
from vigie.errors import ConflictError, NotFoundError, ValidationFailed

COLUMNS = (
    "id, camera_id, location_name, lat, lon, coordinate_uncertainty_m, habitat, feature_type,"
    " camera_height_m, camera_tilt_deg, camera_heading_deg, setup_by, comments, start_ts, end_ts,"
    " created_by, created_at, updated_at"
)
# What a client may set (the rest is the server's).
WRITABLE = (
    "camera_id",
    "location_name",
    "lat",
    "lon",
    "coordinate_uncertainty_m",
    "habitat",
    "feature_type",
    "camera_height_m",
    "camera_tilt_deg",
    "camera_heading_deg",
    "setup_by",
    "comments",
    "start_ts",
    "end_ts",
)


def _refused(exc: Exception) -> Exception:
    if isinstance(exc, errors.ExclusionViolation):
        return ConflictError(
            "déploiement refusé : il chevauche un autre déploiement de la même caméra"
            " (un événement n'appartient qu'à un déploiement)"
        )
    if isinstance(exc, errors.ForeignKeyViolation):
        return ValidationFailed("déploiement refusé : camera_id : caméra inconnue")
    return exc


async def page(
    conn: AsyncConn, *, camera_id: str | None, active_at: Any | None, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """(total, deployments newest start first), of one camera and/or active at a time."""
    where = (
        "(%(camera)s::text IS NULL OR camera_id = %(camera)s)"
        " AND (%(at)s::timestamptz IS NULL OR (start_ts <= %(at)s AND (end_ts IS NULL OR %(at)s < end_ts)))"
    )
    params = {"camera": camera_id, "at": active_at, "limit": limit, "offset": offset}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {COLUMNS} FROM deployments WHERE {where}"  # noqa: S608  # constants
            " ORDER BY start_ts DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        rows = await cur.fetchall()
        await cur.execute(f"SELECT count(*) AS n FROM deployments WHERE {where}", params)  # noqa: S608
        counted = await cur.fetchone()
    return (int(counted["n"]) if counted else 0), rows


async def get(conn: AsyncConn, deployment_id: int) -> dict[str, Any]:
    """One deployment, or NotFoundError."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {COLUMNS} FROM deployments WHERE id = %s", (deployment_id,))  # noqa: S608
        row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"déploiement inconnu : {deployment_id}")
    return row


async def find(conn: AsyncConn, deployment_id: int) -> dict[str, Any] | None:
    """One deployment, or None."""
    try:
        return await get(conn, deployment_id)
    except NotFoundError:
        return None


async def create(conn: AsyncConn, values: dict[str, Any], created_by: str) -> dict[str, Any]:
    """Insert a deployment; 409 if it overlaps another of its camera, 422 for an unknown camera."""
    names = [k for k in WRITABLE if k in values]
    cols = ", ".join([*names, "created_by"])
    marks = ", ".join(f"%({k})s" for k in [*names, "created_by"])
    try:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"INSERT INTO deployments ({cols}) VALUES ({marks}) RETURNING {COLUMNS}",  # noqa: S608
                {**values, "created_by": created_by},
            )
            row = await cur.fetchone()
    except (errors.ExclusionViolation, errors.ForeignKeyViolation) as exc:
        raise _refused(exc) from None
    assert row is not None
    return row


async def replace(conn: AsyncConn, deployment_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """Store the whole (already validated) deployment; NotFoundError if it is gone."""
    sets = ", ".join(f"{k} = %({k})s" for k in WRITABLE)
    params = {k: values.get(k) for k in WRITABLE} | {"id": deployment_id}
    try:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"UPDATE deployments SET {sets}, updated_at = now() WHERE id = %(id)s"  # noqa: S608
                f" RETURNING {COLUMNS}",
                params,
            )
            row = await cur.fetchone()
    except (errors.ExclusionViolation, errors.ForeignKeyViolation) as exc:
        raise _refused(exc) from None
    if row is None:
        raise NotFoundError(f"déploiement inconnu : {deployment_id}")
    return row


async def delete(conn: AsyncConn, deployment_id: int) -> None:
    """Delete a deployment (its events stay, with no deployment); NotFoundError if unknown."""
    cur = await conn.execute("DELETE FROM deployments WHERE id = %s", (deployment_id,))
    if cur.rowcount == 0:
        raise NotFoundError(f"déploiement inconnu : {deployment_id}")
