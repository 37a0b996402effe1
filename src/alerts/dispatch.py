"""The notifier's dispatcher: incident_changes (outbox) -> deliveries -> Apprise, exactly once.

Three steps, each its own short transaction, all state in the database:

1. **Expand.** Each notify=true incident change not yet in notification_progress becomes one
   pending delivery per matching subscriber channel, written in ONE transaction with its
   notification_progress row (INSERT … ON CONFLICT DO NOTHING on both), so expansion happens
   once even with two dispatchers or a crash half-way.
2. **Claim.** Due pending rows are taken with FOR UPDATE SKIP LOCKED, together with the other
   pending rows of the same subscriber channel due within the grouping hold (they go out as ONE
   message), and marked 'sending' with a lease; then the transaction commits.
3. **Send and record.** A thread pool sends through Apprise, then records one delivery_attempts
   row per delivery and the new state (accepted / refused / pending again with backoff /
   given_up). A lease that expires (sender killed) puts the rows back to pending: a crash exactly
   between the provider's acceptance and our commit resends once — see docs/alerts.md.

Woken by NOTIFY vigie_incident_change / vigie_delivery, with a fallback poll; reconnects with
backoff when the database goes away; never dies.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg_pool import ConnectionPool

from alerts import messages as msg
from alerts.channels import CHANNEL_KINDS, ChannelSender, Outcome, SendResult
from vigie import exercises, instructions, notify, urls
from vigie.db import APP_NOTIFIER, connect, make_pool
from vigie.heartbeat import Heartbeat
from vigie.listen import ListenLoop
from vigie.logs import redact
from vigie.settings import AlertsSettings, Settings

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
LISTEN_CHANNELS = (notify.INCIDENT_CHANGE, notify.DELIVERY)
PURPOSE_BY_KIND = {
    "opened": "alert",
    "escalated": "alert",
    "deescalated": "alert",
    "reminder": "reminder",
    "resolved": "end",
}
_RANK = {"yellow": 1, "orange": 2, "red": 3}
PARIS = ZoneInfo("Europe/Paris")
EXPAND_BATCH = 200
# A change committed with a smaller id than one already expanded is looked for this far back
# (ids are taken at INSERT, so commit order can differ), without scanning the whole outbox.
EXPAND_ID_MARGIN = 10_000
MAX_GROUP = 20


def utcnow() -> datetime:
    """The wall clock, in UTC; tests inject their own."""
    return datetime.now(UTC)


# -- policy: pure functions ---------------------------------------------------------------------
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return PARIS


def quiet_until(now: datetime, start: time | None, end: time | None, tz: str) -> datetime | None:
    """End of the subscriber's quiet period if now falls in it (may span midnight), else None."""
    if start is None or end is None or start == end:
        return None
    zone = _zone(tz)
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    day = local.date()
    if start < end:
        inside, end_day = start <= t < end, day
    elif t >= start:
        inside, end_day = True, day + timedelta(days=1)
    else:
        inside, end_day = t < end, day
    if not inside:
        return None
    return datetime.combine(end_day, end.replace(tzinfo=None), tzinfo=zone).astimezone(UTC)


def is_immediate(kind: str, level: str) -> bool:
    """The first message of an orange/red incident, an escalation to orange/red and any red
    alert or reminder never wait for grouping."""
    if kind in ("opened", "escalated") and level in ("orange", "red"):
        return True
    return level == "red" and kind != "resolved"


def ignores_quiet_hours(kind: str, level: str) -> bool:
    """Red wakes people up; everything else waits for the end of their quiet hours."""
    return level == "red" and kind != "resolved"


def due_time(
    now: datetime,
    kind: str,
    level: str,
    hold_s: float,
    quiet: tuple[time | None, time | None, str] | None,
) -> datetime:
    """When a new delivery may first go out: now, after the grouping hold, or after quiet hours."""
    due = now if is_immediate(kind, level) else now + timedelta(seconds=hold_s)
    if quiet is not None and not ignores_quiet_hours(kind, level):
        until = quiet_until(due, *quiet)
        if until is not None and until > due:
            due = until
    return due


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential backoff after the attempts-th failed attempt: base, 2·base, 4·base … max."""
    return float(min(max_s, base_s * 2 ** max(0, attempts - 1)))


# -- expansion ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Change:
    id: int
    incident_id: int
    kind: str
    level: str
    at: datetime
    audience: str
    communes: list[str]
    catchment_id: str | None
    exercise: bool = False  # only subscribers who opted into exercises hear of it


@dataclass(frozen=True)
class _Target:
    subscriber_id: int
    channel_index: int
    channel_kind: str
    quiet: tuple[time | None, time | None, str]


_MATCH_SQL = """
WITH RECURSIVE down(id) AS (
    SELECT %(catchment)s::text WHERE %(catchment)s::text IS NOT NULL
    UNION
    SELECT c.id FROM catchments c JOIN down ON down.id = ANY (c.upstream)
)
SELECT s.id, s.channels, s.quiet_start, s.quiet_end, s.timezone
  FROM subscribers s
 WHERE s.active AND s.audience = %(audience)s
   AND (NOT %(exercise)s OR s.exercises)
   AND CASE s.min_level WHEN 'yellow' THEN 1 WHEN 'orange' THEN 2 ELSE 3 END <= %(rank)s
   AND ((cardinality(s.communes) = 0 AND cardinality(s.catchments) = 0)
        OR s.communes && %(communes)s::text[]
        OR s.catchments && ARRAY(SELECT id FROM down))
 ORDER BY s.id
"""

_WARNED_SQL = """
SELECT DISTINCT s.id, d.channel_index, s.channels, s.quiet_start, s.quiet_end, s.timezone
  FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
 WHERE d.incident_id = %s AND d.state = 'accepted' AND d.purpose IN ('alert', 'reminder')
   AND s.active AND (NOT %s OR s.exercises)
 ORDER BY s.id, d.channel_index
"""


def _channel_kind(channels: Any, index: int) -> str | None:
    if not isinstance(channels, list) or index >= len(channels):
        return None
    ch = channels[index]
    kind = ch.get("kind") if isinstance(ch, dict) else None
    return kind if kind in CHANNEL_KINDS else None


def match_targets(conn: Conn, ch: _Change) -> list[_Target]:
    """Subscriber channels that must hear about this change (geography, audience, level)."""
    if PURPOSE_BY_KIND[ch.kind] == "end":
        rows = conn.execute(_WARNED_SQL, (ch.incident_id, ch.exercise)).fetchall()
        return [
            _Target(int(sid), int(idx), kind, (qs, qe, str(tz)))
            for sid, idx, chans, qs, qe, tz in rows
            if (kind := _channel_kind(chans, int(idx))) is not None
        ]
    rows = conn.execute(
        _MATCH_SQL,
        {
            "catchment": ch.catchment_id,
            "audience": ch.audience,
            "rank": _RANK.get(ch.level, 3),
            "communes": ch.communes,
            "exercise": ch.exercise,
        },
    ).fetchall()
    out = []
    for sid, chans, qs, qe, tz in rows:
        for idx in range(len(chans) if isinstance(chans, list) else 0):
            kind = _channel_kind(chans, idx)
            if kind is None:
                log.warning("abonné %s, canal %d : type de canal inconnu, ignoré", sid, idx)
                continue
            out.append(_Target(int(sid), idx, kind, (qs, qe, str(tz))))
    return out


def _candidates(conn: Conn) -> list[_Change]:
    row = conn.execute("SELECT coalesce(max(incident_change_id), 0) FROM notification_progress").fetchone()
    floor = int(row[0]) - EXPAND_ID_MARGIN if row else 0
    rows = conn.execute(
        "SELECT c.id, c.incident_id, c.kind, c.level, c.at, i.audience, i.communes,"
        " i.catchment_id, i.exercise_id IS NOT NULL"
        " FROM incident_changes c JOIN incidents i ON i.id = c.incident_id"
        " WHERE c.notify AND c.id > %s AND NOT EXISTS"
        " (SELECT 1 FROM notification_progress p WHERE p.incident_change_id = c.id)"
        " ORDER BY c.id LIMIT %s",
        (floor, EXPAND_BATCH),
    ).fetchall()
    return [
        _Change(int(r[0]), int(r[1]), str(r[2]), str(r[3]), r[4], str(r[5]), list(r[6]), r[7], bool(r[8]))
        for r in rows
    ]


def _end_must_wait(conn: Conn, ch: _Change) -> bool:
    """An end goes only to those actually warned: wait while warnings are still on their way."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE incident_id = %s"
        " AND purpose IN ('alert', 'reminder') AND state IN ('pending', 'sending'))",
        (ch.incident_id,),
    ).fetchone()
    return bool(row and row[0])


def expand_change(conn: Conn, ch: _Change, now: datetime, s: AlertsSettings) -> int | None:
    """Expand one change in one transaction; None when deferred or already done elsewhere."""
    purpose = PURPOSE_BY_KIND.get(ch.kind)
    with conn.transaction():
        if purpose == "end" and _end_must_wait(conn, ch):
            return None
        claimed = conn.execute(
            "INSERT INTO notification_progress (incident_change_id, expanded_at, deliveries)"
            " VALUES (%s, %s, 0) ON CONFLICT DO NOTHING RETURNING 1",
            (ch.id, now),
        ).fetchone()
        if claimed is None:
            return None  # another dispatcher expanded it
        if purpose is None:
            return 0
        if now - ch.at > timedelta(hours=s.max_change_age_h):
            log.warning("changement %d trop ancien (%s) : non envoyé", ch.id, ch.at.isoformat())
            return 0
        targets = match_targets(conn, ch)
        if not targets:
            return 0
        dues = [due_time(now, ch.kind, ch.level, s.group_hold_s, t.quiet) for t in targets]
        cur = conn.execute(
            "INSERT INTO deliveries (incident_change_id, incident_id, subscriber_id, channel_index,"
            " channel_kind, purpose, level, group_key, not_before, next_attempt_at)"
            " SELECT %s, %s, u.sid, u.idx, u.kind, %s, %s, %s || u.sid || ':' || u.idx, u.due, u.due"
            " FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::timestamptz[])"
            " AS u(sid, idx, kind, due)"
            " ON CONFLICT (incident_change_id, subscriber_id, channel_index) DO NOTHING",
            (
                ch.id,
                ch.incident_id,
                purpose,
                ch.level,
                # An exercise message must never be merged into a real one, nor the reverse.
                "x:" if ch.exercise else "",
                [t.subscriber_id for t in targets],
                [t.channel_index for t in targets],
                [t.channel_kind for t in targets],
                dues,
            ),
        )
        n = max(cur.rowcount, 0)
        conn.execute(
            "UPDATE notification_progress SET deliveries = %s WHERE incident_change_id = %s",
            (n, ch.id),
        )
        return n


def expand_pending(conn: Conn, now: datetime, s: AlertsSettings) -> int:
    """Expand every change waiting; returns how many deliveries were created."""
    created = 0
    while True:
        batch = _candidates(conn)
        progressed = 0
        for ch in batch:
            n = expand_change(conn, ch, now, s)
            if n is not None:
                progressed += 1
                created += n
        # Deferred ends stay in the candidate list: stop when a batch moved nothing new.
        if len(batch) < EXPAND_BATCH or progressed == 0:
            return created


# -- claiming -----------------------------------------------------------------------------------
@dataclass
class Group:
    """Deliveries going out as one message: the leader first, then the merged ones."""

    leader: int
    ids: list[int]
    subscriber_id: int
    channel_index: int
    lease: datetime


_CLAIM_SQL = """
WITH lead AS (
    SELECT id FROM deliveries
     WHERE state = 'pending' AND next_attempt_at <= %(now)s AND not_before <= %(now)s
     ORDER BY CASE level WHEN 'red' THEN 0 WHEN 'orange' THEN 1 ELSE 2 END, next_attempt_at, id
     LIMIT %(n)s
       FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d SET state = 'sending', lease_until = %(lease)s
  FROM lead WHERE d.id = lead.id
RETURNING d.id, d.subscriber_id, d.channel_index, d.purpose, d.group_key,
          CASE d.level WHEN 'red' THEN 0 WHEN 'orange' THEN 1 ELSE 2 END, d.next_attempt_at
"""

_MATES_SQL = """
SELECT id, group_key FROM deliveries
 WHERE state = 'pending' AND purpose <> 'test' AND group_key = ANY (%(keys)s)
   AND next_attempt_at <= %(horizon)s AND not_before <= %(horizon)s
 ORDER BY next_attempt_at, id
   FOR UPDATE SKIP LOCKED
"""


def claim(conn: Conn, now: datetime, limit: int, s: AlertsSettings) -> list[Group]:
    """Take up to `limit` due deliveries (plus their group mates) for sending, under a lease."""
    if limit <= 0:
        return []
    lease = now + timedelta(seconds=s.lease_s)
    with conn.transaction():
        leads = conn.execute(_CLAIM_SQL, {"now": now, "n": limit, "lease": lease}).fetchall()
        if not leads:
            return []
        leads.sort(key=lambda r: (r[5], r[6], r[0]))
        groups: dict[str, Group] = {}
        out: list[Group] = []
        for did, sid, idx, purpose, key, *_ in leads:
            if purpose != "test" and key in groups and len(groups[key].ids) < MAX_GROUP:
                groups[key].ids.append(int(did))
                continue
            g = Group(int(did), [int(did)], int(sid), int(idx), lease)
            out.append(g)
            if purpose != "test":
                groups.setdefault(str(key), g)
        if groups:
            horizon = now + timedelta(seconds=s.group_hold_s)
            for did, key in conn.execute(_MATES_SQL, {"keys": list(groups), "horizon": horizon}).fetchall():
                g = groups[str(key)]
                if len(g.ids) < MAX_GROUP:
                    g.ids.append(int(did))
        merged = [(g.leader, m) for g in out for m in g.ids[1:]]
        if merged:
            conn.execute(
                "UPDATE deliveries d SET state = 'sending', lease_until = %s, grouped_into = u.lead"
                " FROM unnest(%s::bigint[], %s::bigint[]) AS u(lead, member) WHERE d.id = u.member",
                (lease, [a for a, _ in merged], [b for _, b in merged]),
            )
    return out


def recover_leases(conn: Conn, now: datetime) -> int:
    """Deliveries whose sender died while 'sending' go back to pending, with a log row."""
    with conn.transaction():
        cur = conn.execute(
            "WITH expired AS ("
            " UPDATE deliveries SET state = 'pending', lease_until = NULL, grouped_into = NULL,"
            " next_attempt_at = %(now)s, attempts = attempts + 1"
            " WHERE state = 'sending' AND lease_until < %(now)s RETURNING id)"
            " INSERT INTO delivery_attempts (delivery_id, at, outcome, detail)"
            " SELECT id, %(now)s, 'retry', 'envoi interrompu (notificateur arrêté pendant l''envoi)"
            " : nouvel essai' FROM expired",
            {"now": now},
        )
        return max(cur.rowcount, 0)


# -- building the message -----------------------------------------------------------------------
TEST_SEND_FAILED = (
    "échec de l'envoi de test : vérifiez l'adresse du canal (cause dans le journal du notificateur)"
)


def _generic_test_failure(g: Group, result: SendResult) -> SendResult:
    """A failed test send says one thing, whatever went wrong.

    An admin triggers test sends at will: "unreachable" against "HTTP 404" for a URL of their
    choosing would tell which ports answer on a host. The cause goes to the notifier's log.
    """
    log.warning("envoi de test %d (abonné %d) : %s", g.leader, g.subscriber_id, redact(result.detail))
    return SendResult(result.outcome, TEST_SEND_FAILED)


@dataclass
class Plan:
    """What one group sends, and to where; `problem` set means refuse without sending."""

    kind: str
    url: Any
    subject: str | None
    body: str
    problem: str | None = None
    purposes: list[str] = field(default_factory=list)


_ROWS_SQL = """
SELECT d.id, d.purpose, d.requested_by, d.created_at, c.id, c.kind, c.level, c.previous_level,
       c.at, c.value, c.window_min, c.detail, i.id, i.title, i.communes, i.scope_kind,
       i.scope_id, i.level_since, i.exercise_id
  FROM deliveries d
  LEFT JOIN incident_changes c ON c.id = d.incident_change_id
  LEFT JOIN incidents i ON i.id = d.incident_id
 WHERE d.id = ANY (%s)
"""


def _split_title(title: str) -> tuple[str, str]:
    what, _, place = title.partition(" — ")
    return what.strip() or title, place.strip()


def _unit(conn: Conn, incident_id: int, detail: Any) -> str:
    if isinstance(detail, dict) and isinstance(detail.get("unit"), str):
        return str(detail["unit"])
    row = conn.execute(
        "SELECT detail ->> 'unit' FROM incident_changes WHERE incident_id = %s"
        " AND detail ? 'unit' ORDER BY id DESC LIMIT 1",
        (incident_id,),
    ).fetchone()
    return str(row[0]) if row and row[0] is not None else ""


def _timeline(conn: Conn, incident_id: int, upto: int, unit: str) -> tuple[msg.TimelineEntry, ...]:
    rows = conn.execute(
        "SELECT at, kind, level, value, coalesce(detail ->> 'summary', '') FROM incident_changes"
        " WHERE incident_id = %s AND id <= %s ORDER BY id LIMIT 50",
        (incident_id, upto),
    ).fetchall()
    return tuple(msg.TimelineEntry(r[0], str(r[1]), str(r[2]), r[3], unit, str(r[4])) for r in rows)


def _scope_stations(conn: Conn, scope_kind: str, scope_id: str) -> list[tuple[str, str]]:
    if scope_kind == "station":
        sql = "SELECT id, name FROM stations WHERE id = %s"
    elif scope_kind == "commune":
        sql = "SELECT id, name FROM stations WHERE commune_insee = %s AND active ORDER BY id LIMIT 6"
    else:
        sql = (
            "SELECT s.id, s.name FROM catchment_stations cs JOIN stations s ON s.id ="
            " cs.station_id WHERE cs.catchment_id = %s ORDER BY cs.weight DESC, s.id LIMIT 6"
        )
    return [(str(a), str(b)) for a, b in conn.execute(sql, (scope_id,)).fetchall()]


def rain_table(conn: Conn, scope_kind: str, scope_id: str, at: datetime, hours: int) -> msg.RainTable | None:
    """Hourly totals from rain_1h over the last `hours` hours before `at`, per station."""
    stations = _scope_stations(conn, scope_kind, scope_id)
    if not stations:
        return None
    last = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    starts = tuple(last - timedelta(hours=h) for h in range(hours - 1, -1, -1))
    got: dict[tuple[str, datetime], float] = {
        (str(sid), b): float(mm)
        for sid, b, mm in conn.execute(
            "SELECT station_id, bucket, mm FROM rain_1h WHERE station_id = ANY (%s)"
            " AND bucket >= %s AND bucket <= %s",
            ([s for s, _ in stations], starts[0], last),
        ).fetchall()
    }
    rows = tuple((name, tuple(got.get((sid, h)) for h in starts)) for sid, name in stations)
    return msg.RainTable(starts, rows)


def _commune_names(conn: Conn, codes: Sequence[str]) -> dict[str, str]:
    if not codes:
        return {}
    return {
        str(a): str(b)
        for a, b in conn.execute(
            "SELECT insee, name FROM communes WHERE insee = ANY (%s)", (list(codes),)
        ).fetchall()
    }


def _context(
    conn: Conn, r: Sequence[Any], s: AlertsSettings, own_communes: Sequence[str] = ()
) -> msg.IncidentContext:
    (
        _,
        _,
        _,
        _,
        cid,
        kind,
        level,
        prev,
        at,
        value,
        window,
        detail,
        iid,
        title,
        communes,
        scope_kind,
        scope_id,
        level_since,
        exercise_id,
    ) = r
    detail = detail if isinstance(detail, dict) else {}
    unit = _unit(conn, int(iid), detail)
    codes = [str(c) for c in communes or ()]
    names = _commune_names(conn, codes)
    what, place = _split_title(exercises.strip_title(str(title)))
    scope = detail.get("scope")
    if not place and isinstance(scope, dict) and isinstance(scope.get("label"), str):
        place = str(scope["label"])
    minutes = int((at - level_since).total_seconds() // 60) if kind == "reminder" else None
    change = msg.ChangeView(
        incident_id=int(iid),
        kind=str(kind),
        level=str(level),
        previous_level=prev,
        at=at,
        value=value,
        unit=unit,
        window_min=window,
        what=what,
        place=place,
        communes=tuple(names.get(c, c) for c in communes or ()),
        summary=str(detail.get("summary", "")),
        minutes_unacknowledged=minutes,
        exercise=exercise_id is not None,
    )
    # The recipient's own commune first: its consigne is the one they should read.
    ordered_codes = [c for c in own_communes if c in codes] + codes
    advice = instructions.for_communes(
        instructions.load(conn, codes), ordered_codes, instructions.key_for(str(kind), str(level))
    )
    return msg.IncidentContext(
        change=change,
        title=exercises.strip_title(str(title)),
        advice=advice,
        timeline=_timeline(conn, int(iid), int(cid), unit),
        rain=rain_table(conn, str(scope_kind), str(scope_id), at, s.rain_table_hours),
    )


def build_plan(conn: Conn, g: Group, s: AlertsSettings, public_url: str) -> Plan:
    """Load the group's rows and its subscriber, and write the message it sends."""
    sub = conn.execute(
        "SELECT s.name, s.channels, s.active, s.communes, r.token FROM subscribers s"
        " LEFT JOIN residents r ON r.subscriber_id = s.id AND r.state = 'active' WHERE s.id = %s",
        (g.subscriber_id,),
    ).fetchone()
    rows = {int(r[0]): r for r in conn.execute(_ROWS_SQL, (g.ids,)).fetchall()}
    ordered = [rows[i] for i in g.ids if i in rows]
    purposes = [str(r[1]) for r in ordered]
    if sub is None or not ordered:
        return Plan("sms", None, None, "", "abonné ou livraison supprimé", purposes)
    name, channels, active = str(sub[0]), sub[1], bool(sub[2])
    own_communes = [str(c) for c in sub[3] or ()]
    # A self-registered resident: every message says how to unsubscribe.
    footer = (
        msg.Footer(link=urls.unsubscribe_url(public_url, str(sub[4])), sms_keyword=True)
        if sub[4] is not None
        else None
    )
    ch = channels[g.channel_index] if isinstance(channels, list) and g.channel_index < len(channels) else None
    kind = str(ch.get("kind")) if isinstance(ch, dict) else ""
    url = ch.get("url") if isinstance(ch, dict) else None
    if ch is None:
        return Plan(kind, None, None, "", "canal supprimé de l'abonné", purposes)
    if not active and purposes != ["test"]:
        return Plan(kind, url, None, "", "abonné désactivé", purposes)
    lead = ordered[0]
    if lead[1] == "test":
        texts = msg.texts_for_test(name, lead[2], lead[3])
    else:
        contexts = [_context(conn, r, s, own_communes) for r in ordered if r[4] is not None]
        if not contexts:
            return Plan(kind, url, None, "", "changement d'incident supprimé", purposes)
        texts = msg.texts_for(contexts, public_url, name, footer)
    m = msg.message_for(kind, texts)
    return Plan(kind, url, m.subject, m.body, None, purposes)


# -- recording ----------------------------------------------------------------------------------
def record(
    conn: Conn, g: Group, plan: Plan, result: SendResult, now: datetime, s: AlertsSettings
) -> str | None:
    """Write the attempt rows and the new state of every delivery of the group; returns the
    final outcome, or None when our lease was lost (someone else owns the rows now)."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT id, attempts FROM deliveries WHERE id = ANY (%s) AND state = 'sending'"
            " AND lease_until = %s FOR UPDATE",
            (g.ids, g.lease),
        ).fetchall()
        if not rows:
            return None
        ids = [int(r[0]) for r in rows]
        n = max(int(r[1]) for r in rows) + 1
        outcome, detail = result.outcome.value, result.detail
        if result.outcome is Outcome.ACCEPTED:
            state, next_at = "accepted", None
        elif result.outcome is Outcome.REFUSED:
            state, next_at = "refused", None
        elif n >= s.max_attempts:
            state, next_at, outcome = "given_up", None, "given_up"
            detail = f"{detail} ; abandon après {n} essais"
        else:
            state = "pending"
            next_at = now + timedelta(seconds=backoff_s(n, s.retry_base_s, s.retry_max_s))
            detail = f"{detail} ; essai {n}/{s.max_attempts}, nouvel essai à {msg.hour_fr(next_at)}"
        conn.execute(
            "UPDATE deliveries SET state = %(state)s, attempts = attempts + 1, lease_until = NULL,"
            " subject = %(subject)s, message = %(message)s,"
            " sent_at = CASE WHEN %(state)s = 'accepted' THEN %(now)s ELSE sent_at END,"
            " next_attempt_at = coalesce(%(next)s, next_attempt_at),"
            " grouped_into = CASE WHEN %(state)s = 'pending' THEN NULL ELSE grouped_into END"
            " WHERE id = ANY (%(ids)s)",
            {
                "state": state,
                "subject": plan.subject,
                "message": plan.body or None,
                "now": now,
                "next": next_at,
                "ids": ids,
            },
        )
        details = [
            detail if i == g.leader else f"{detail} (message groupé avec la livraison {g.leader})"
            for i in ids
        ]
        conn.execute(
            "INSERT INTO delivery_attempts (delivery_id, at, outcome, detail)"
            " SELECT u.id, %s, %s, u.detail FROM unnest(%s::bigint[], %s::text[]) AS u(id, detail)",
            (now, outcome, ids, details),
        )
    return state


# -- the loop -----------------------------------------------------------------------------------
class Dispatcher:
    """LISTEN + poll; expands the outbox, claims due deliveries and fans them out to a pool."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        sender: ChannelSender | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.settings = settings.alerts
        self.public_url = settings.public_url
        self.url = settings.database_url.get_secret_value()
        self.clock = clock
        self.sender = sender or ChannelSender(
            self.settings.send_timeout_s,
            allow_private=settings.outbound.allow_private,
            allowed_networks=settings.outbound.allowed_networks,
        )
        self.stop_event = threading.Event()
        self.capacity = self.settings.workers * 2
        self._inflight = 0
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pool: ConnectionPool | None = None
        self._full = False
        self.loop = ListenLoop(
            "notifier",
            lambda: connect(self.url, application_name=APP_NOTIFIER, autocommit=True),
            LISTEN_CHANNELS,
            self,
            stop_event=self.stop_event,
            heartbeat=heartbeat,
        )

    def stop(self) -> None:
        """Ask run() to return (in-flight sends are finished and recorded first)."""
        self.stop_event.set()

    def run(self) -> None:
        """Until stopped: (re)connect, listen, expand, send; a failure never ends the loop."""
        # Was workers + 1 (17) with psycopg_pool's 10 min idle limit: a storm's concurrent sends
        # grew it to 11 connections that shrank by one every 10 min (issue 14's soak). A worker
        # uses its connection for milliseconds on each side of a send, so a few are enough.
        self._pool = make_pool(
            self.url,
            name=APP_NOTIFIER,
            min_size=1,
            max_size=min(self.settings.db_connections, self.settings.workers),
            autocommit=True,
            timeout_s=10,
            check=True,
            max_idle_s=self.settings.notifier_idle_s,
        )
        self._pool.open(wait=False)
        self._executor = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="notify")
        log.info("notifier ready (%d workers)", self.settings.workers)
        try:
            self.loop.run()
        finally:
            self._executor.shutdown(wait=True)
            self._pool.close()

    # --- ListenHandler: a pass, then wait for a NOTIFY or poll_s -----------------------------------
    def on_connect(self, conn: Conn) -> None:
        """Catch up at once: what was committed while nobody listened."""
        self._full = self.pass_once(conn)

    def timeout_s(self) -> float:
        """At capacity, come back soon: a worker finishing frees room for the backlog."""
        return 0.05 if self._full else self.settings.poll_s

    def on_wake(self, conn: Conn, payloads: list[str]) -> None:
        """The payloads only wake us: each pass reads the tables."""
        self._full = self.pass_once(conn)

    def pass_once(self, conn: Conn) -> bool:
        """Recover expired leases, expand new changes, claim and submit; True when at capacity."""
        now = self.clock()
        recovered = recover_leases(conn, now)
        if recovered:
            log.warning("%d livraison(s) reprise(s) après expiration du bail d'envoi", recovered)
        expand_pending(conn, now, self.settings)
        with self._lock:
            free = self.capacity - self._inflight
        groups = claim(conn, self.clock(), free, self.settings)
        for g in groups:
            self._submit(g)
        return len(groups) >= free > 0

    def _submit(self, g: Group) -> None:
        assert self._executor is not None
        with self._lock:
            self._inflight += 1
        self._executor.submit(self._deliver, g)

    def _deliver(self, g: Group) -> None:
        """In a worker: build, send, record. Never raises (a failure leaves the lease to expire)."""
        try:
            self._deliver_group(g)
        except Exception as exc:  # noqa: BLE001  # the lease brings the rows back
            log.error(
                "livraison %d : enregistrement impossible (%s), reprise à l'expiration du bail",
                g.leader,
                type(exc).__name__,
            )
        finally:
            with self._lock:
                self._inflight -= 1

    def _deliver_group(self, g: Group) -> None:
        assert self._pool is not None
        with self._pool.connection() as conn:
            try:
                plan = build_plan(conn, g, self.settings, self.public_url)
            except psycopg.OperationalError:
                raise  # the database is away: leave the rows to the lease
            except Exception as exc:  # noqa: BLE001  # a bad row must not block its recipient
                plan = Plan("", None, None, "", f"message impossible à composer ({type(exc).__name__})")
        if plan.problem is not None:
            result = SendResult(Outcome.REFUSED, plan.problem)
        else:
            result = self.sender.send(plan.kind, plan.url, plan.subject, plan.body)
        if plan.purposes == ["test"] and result.outcome is not Outcome.ACCEPTED:
            result = _generic_test_failure(g, result)
        # The provider has answered: giving up on a busy pool now would leave the rows to the
        # lease, and an accepted message would go out twice. Wait up to half the lease instead.
        with self._pool.connection(timeout=self.settings.lease_s / 2) as conn:
            state = record(conn, g, plan, result, self.clock(), self.settings)
        if state is None:
            log.warning("livraison %d : bail perdu avant l'enregistrement (déjà reprise)", g.leader)
            return
        level = logging.INFO if state in ("accepted", "pending") else logging.WARNING
        log.log(
            level,
            "livraison %d (%d message(s), abonné %d, canal %d %s) : %s — %s",
            g.leader,
            len(g.ids),
            g.subscriber_id,
            g.channel_index,
            plan.kind,
            state,
            result.detail,
        )
