"""Exercise mode: play the due steps of exercises as incident changes of exercise incidents.

Each step, when due, becomes exactly what the engine would have written (an incident row for
'opened', then an incident_changes row with notify and a NOTIFY vigie_incident_change), so the
notifier and the CAP writer treat an exercise like a storm, with three differences they read
from incidents.exercise_id: only subscribers who opted into exercises hear of it, every text
starts with EXERCICE, and CAP says <status>Exercise</status>. The engine never judges these
incidents (no rule drives them).

ExerciseRunner (a vigie.listen.ListenLoop) runs in `vigie alerts`; `vigie exercise start` can
also play an exercise in the foreground. Two players at once are safe: an exercise is played
under its row lock (SKIP LOCKED).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from vigie import exercises as ex
from vigie import notify
from vigie.db import APP_ALERTS_EXERCISE, connect
from vigie.heartbeat import Heartbeat
from vigie.levels import RANK
from vigie.listen import ListenLoop

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


def utcnow() -> datetime:
    """The wall clock, in UTC; tests inject their own."""
    return datetime.now(UTC)


def create(conn: Conn, body: ex.ExerciseIn, by: str, now: datetime) -> int:
    """Plan and store an exercise (sync twin of vigie.exercises_queries.create); returns its id."""
    with conn.transaction():
        if body.incident_id is not None:
            with conn.cursor(row_factory=dict_row) as cur:
                incident = cur.execute(ex.SOURCE_INCIDENT_SQL, (body.incident_id,)).fetchone()
                if incident is None:
                    raise ValueError(f"incident public inconnu : {body.incident_id}")
                changes = cur.execute(ex.SOURCE_CHANGES_SQL, (body.incident_id,)).fetchall()
            plan = ex.plan_replay(incident, changes, body.speed)
        else:
            assert body.synthetic is not None
            plan = ex.plan_synthetic(body.synthetic, body.speed)
        row = conn.execute(ex.INSERT_EXERCISE_SQL, ex.exercise_params(body, plan, by)).fetchone()
        assert row is not None
        exercise_id = int(row[0])
        conn.execute(ex.INSERT_STEPS_SQL, ex.steps_params(exercise_id, ex.start_time(now, body), plan.steps))
        conn.execute("SELECT pg_notify(%s, %s)", (notify.EXERCISE, str(exercise_id)))
    return exercise_id


_DUE_EXERCISES = """
SELECT e.id FROM exercises e
 WHERE e.finished_at IS NULL
   AND EXISTS (SELECT 1 FROM exercise_steps s WHERE s.exercise_id = e.id AND s.done_at IS NULL
               AND s.due_at <= %s)
 ORDER BY e.id
   FOR UPDATE SKIP LOCKED
"""


def _play_step(conn: Conn, e: dict[str, Any], s: dict[str, Any], now: datetime) -> int:
    """Write one step; returns the incident change id."""
    incident_id = e["incident_id"]
    if s["kind"] == "opened" or incident_id is None:
        row = conn.execute(
            "INSERT INTO incidents (kind, group_key, scope_kind, scope_id, level, state, audience,"
            " communes, catchment_id, title, opened_at, updated_at, level_since, max_level,"
            " last_value, window_min, exercise_id) VALUES (%s, %s, %s, %s, %s, 'open', 'public',"
            " %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                e["kind"],
                f"exercise:{e['id']}",
                e["scope_kind"],
                e["scope_id"],
                s["level"],
                e["communes"],
                e["catchment_id"],
                ex.title(e["title"]),
                now,
                now,
                now,
                s["level"],
                s["value"],
                s["window_min"],
                e["id"],
            ),
        ).fetchone()
        assert row is not None
        incident_id = e["incident_id"] = int(row[0])
        conn.execute("UPDATE exercises SET incident_id = %s WHERE id = %s", (incident_id, e["id"]))
    elif s["kind"] == "resolved":
        conn.execute(
            "UPDATE incidents SET state = 'resolved', resolved_at = %s, updated_at = %s WHERE id = %s",
            (now, now, incident_id),
        )
    else:
        conn.execute(
            "UPDATE incidents SET level = %s, level_since = %s, updated_at = %s, last_value = %s,"
            " max_level = CASE WHEN %s > (CASE max_level WHEN 'yellow' THEN 1 WHEN 'orange' THEN 2"
            " ELSE 3 END) THEN %s ELSE max_level END WHERE id = %s",
            (s["level"], now, now, s["value"], RANK[s["level"]], s["level"], incident_id),
        )
    detail = {"summary": s["summary"], "unit": s["unit"], "exercise": e["id"]}
    row = conn.execute(
        "INSERT INTO incident_changes (incident_id, at, kind, level, previous_level, value,"
        " window_min, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            incident_id,
            now,
            s["kind"],
            s["level"],
            s["previous_level"],
            s["value"],
            s["window_min"],
            Jsonb(detail),
        ),
    ).fetchone()
    assert row is not None
    change_id = int(row[0])
    conn.execute(
        "UPDATE exercise_steps SET done_at = %s, incident_change_id = %s WHERE exercise_id = %s AND seq = %s",
        (now, change_id, e["id"], s["seq"]),
    )
    conn.execute("SELECT pg_notify('vigie_incident_change', %s)", (str(change_id),))
    return change_id


def play_due(conn: Conn, now: datetime) -> list[int]:
    """Play every step due by `now`, in order, one transaction per exercise; the change ids."""
    out: list[int] = []
    with conn.transaction():
        ids = [int(r[0]) for r in conn.execute(_DUE_EXERCISES, (now,)).fetchall()]
    for exercise_id in ids:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            e = cur.execute(
                "SELECT * FROM exercises WHERE id = %s AND finished_at IS NULL FOR UPDATE SKIP LOCKED",
                (exercise_id,),
            ).fetchone()
            if e is None:
                continue  # another player has it
            steps = cur.execute(
                "SELECT * FROM exercise_steps WHERE exercise_id = %s AND done_at IS NULL"
                " AND due_at <= %s ORDER BY seq",
                (exercise_id, now),
            ).fetchall()
            for s in steps:
                out.append(_play_step(conn, e, s, now))
            left = cur.execute(
                "SELECT count(*) AS n FROM exercise_steps WHERE exercise_id = %s AND done_at IS NULL",
                (exercise_id,),
            ).fetchone()
            if left is not None and left["n"] == 0:
                conn.execute("UPDATE exercises SET finished_at = %s WHERE id = %s", (now, exercise_id))
                log.info("exercice %d terminé", exercise_id)
    return out


def next_due(conn: Conn) -> datetime | None:
    """When the next step of an unfinished exercise is due."""
    row = conn.execute(
        "SELECT min(s.due_at) FROM exercise_steps s JOIN exercises e ON e.id = s.exercise_id"
        " WHERE s.done_at IS NULL AND e.finished_at IS NULL"
    ).fetchone()
    return row[0] if row else None


class ExerciseRunner:
    """LISTEN vigie_exercise (vigie.listen.ListenLoop) and play due steps at their time."""

    def __init__(
        self,
        url: str,
        poll_s: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
        only: int | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.url = url
        self.poll_s = poll_s
        self.clock = clock
        self.only = only  # foreground play of one exercise: stop when it is finished
        self.stop_event = threading.Event()
        self._next: datetime | None = None
        self.loop = ListenLoop(
            "exercise runner",
            lambda: connect(self.url, application_name=APP_ALERTS_EXERCISE, autocommit=True),
            [notify.EXERCISE],
            self,
            stop_event=self.stop_event,
            heartbeat=heartbeat,
        )

    def stop(self) -> None:
        """Ask run() to return."""
        self.stop_event.set()

    def run(self) -> None:
        """Until stopped: play what is due, then sleep until the next step, a NOTIFY or poll_s."""
        self.loop.run()

    # --- ListenHandler ---------------------------------------------------------------------------
    def on_connect(self, conn: Conn) -> None:
        """Whatever fell due while nobody was playing."""
        self._pass(conn)

    def timeout_s(self) -> float:
        """Until the next step is due (at most poll_s: a new exercise also NOTIFYs)."""
        if self._next is None:
            return self.poll_s
        return max(0.01, min(self.poll_s, (self._next - self.clock()).total_seconds()))

    def on_wake(self, conn: Conn, payloads: list[str]) -> None:
        """Play what is due; the payloads only wake us."""
        self._pass(conn)

    def _pass(self, conn: Conn) -> None:
        play_due(conn, self.clock())
        if self.only is not None and self._finished(conn):
            self.stop_event.set()
        self._next = next_due(conn)

    def _finished(self, conn: Conn) -> bool:
        row = conn.execute(
            "SELECT finished_at IS NOT NULL FROM exercises WHERE id = %s", (self.only,)
        ).fetchone()
        return row is None or bool(row[0])
