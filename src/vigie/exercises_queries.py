"""Async queries of exercises and their steps (the API); the SQL is shared with the CLI's sync
twin in vigie.exercises."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from vigie import communes_queries, notify
from vigie import exercises as ex
from vigie.db import AsyncConn
from vigie.errors import NotFoundError, ValidationFailed


async def create(conn: AsyncConn, body: ex.ExerciseIn, by: str, now: datetime) -> tuple[int, int, datetime]:
    """Plan and store an exercise, and wake the alerts service; (id, steps, first step due)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        if body.incident_id is not None:
            await cur.execute(ex.SOURCE_INCIDENT_SQL, (body.incident_id,))
            incident = await cur.fetchone()
            if incident is None:
                raise NotFoundError(f"incident public inconnu : {body.incident_id}")
            await cur.execute(ex.SOURCE_CHANGES_SQL, (body.incident_id,))
            try:
                plan = ex.plan_replay(incident, await cur.fetchall(), body.speed)
            except ValueError as exc:
                raise ValidationFailed(f"exercice refusé : {exc}") from None
        else:
            assert body.synthetic is not None
            absent = await communes_queries.missing(conn, list(body.synthetic.communes))
            if absent:
                raise ValidationFailed(f"exercice refusé : commune(s) inconnue(s) : {', '.join(absent)}")
            plan = ex.plan_synthetic(body.synthetic, body.speed)
        await cur.execute(ex.INSERT_EXERCISE_SQL, ex.exercise_params(body, plan, by))
        row = await cur.fetchone()
        assert row is not None
        exercise_id = int(row["id"])
        start = ex.start_time(now, body)
        await cur.execute(ex.INSERT_STEPS_SQL, ex.steps_params(exercise_id, start, plan.steps))
        await cur.execute("SELECT pg_notify(%s, %s)", (notify.EXERCISE, str(exercise_id)))
    return exercise_id, len(plan.steps), start


async def report(conn: AsyncConn, exercise_id: int) -> dict[str, Any]:
    """The exercise report (vigie.exercises.report); NotFoundError when unknown."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ex.EXERCISE_SQL, (exercise_id,))
        exercise = await cur.fetchone()
        if exercise is None:
            raise NotFoundError(f"exercice inconnu : {exercise_id}")
        await cur.execute(ex.REPORT_SQL, (exercise_id,))
        steps = await cur.fetchall()
    return ex.report(exercise, steps)


async def recent(conn: AsyncConn, limit: int = 50) -> list[dict[str, Any]]:
    """The latest exercises, newest first: id, name, source, who started it, when, finished."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, name, source, source_incident_id, speed, created_by, created_at, finished_at"
            " FROM exercises ORDER BY id DESC LIMIT %s",
            (limit,),
        )
        return await cur.fetchall()
