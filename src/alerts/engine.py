"""The evaluation pass: rules -> per-(rule, scope) hysteresis state -> incidents -> outbox rows.

One pass runs in ONE transaction under an advisory lock: it reads the rain of the stations it is
told about (plus, in the minute sweep, whatever is in progress), steps each rule's state machine,
opens / escalates / de-escalates / resolves incidents, writes their incident_changes rows (the
outbox) and NOTIFYs 'vigie_incident_change' before commit. Every bit of state lives in the
database, so a crash rolls the whole pass back and the next pass redoes it exactly once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from pydantic import ValidationError

from alerts.engine_errors import AlertsConfigError, AlertsInputError
from alerts.hydrology import is_growing_season
from alerts.rules import KINDS, Measurement, Needs, RuleKind, Scope, fr_number, window_fr
from alerts.snapshot import (
    Directory,
    load_directory,
    load_snapshot,
    load_status,
    load_window_sums,
)
from vigie.alert_rules import LEVEL_FR, LEVELS, SCOPE_ALL, RuleParams, group_key, parse_params
from vigie.notify import INCIDENT_CHANGE
from vigie.settings import AlertsSettings

log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
# Serialises passes of every engine process on one database (a second engine is a hot spare).
_LOCK_KEY = 0x76696769_65000100
_RANK = {lvl: i + 1 for i, lvl in enumerate(LEVELS)}
WATERMARK_KEY = "device_status.last_seen"
CATCH_UP_MARGIN = timedelta(seconds=5)


def utcnow() -> datetime:
    """The wall clock, in UTC; tests inject their own."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class LoadedRule:
    """A stored rule with its params parsed and its kind resolved."""

    id: int
    name: str
    kind: RuleKind
    params: RuleParams
    scope_kind: str
    scope_id: str
    level: str
    audience: str
    group_key: str
    measure_key: str = ""

    def applies_to(self, scope_kind: str, scope_id: str) -> bool:
        """True when this rule watches that concrete scope."""
        return self.scope_kind == scope_kind and self.scope_id in (SCOPE_ALL, scope_id)



def measure_key(kind: str, params: RuleParams) -> str:
    """Rules with the same key measure the same thing (thresholds aside)."""
    raw = params.model_dump(by_alias=True, exclude={"raise_", "clear", "for_min"})
    return kind + json.dumps(raw, sort_keys=True, default=str)


def load_rules(conn: Conn) -> list[LoadedRule]:
    """Enabled rules; a stored rule that no longer validates is skipped and logged, never fatal."""
    rules = []
    for rid, name, kind, sk, sid, level, params, audience in conn.execute(
        "SELECT id, name, kind, scope_kind, scope_id, level, params, audience FROM rules"
        " WHERE enabled ORDER BY id"
    ):
        try:
            rk = KINDS[str(kind)]
            p = parse_params(str(kind), params)
        except (KeyError, ValueError, ValidationError) as exc:
            log.warning("rule %s (%s) ignored: %s", rid, name, str(exc).splitlines()[0])
            continue
        rules.append(
            LoadedRule(int(rid), str(name), rk, p, str(sk), str(sid), str(level), str(audience),
                       group_key(rk.name, p), measure_key(rk.name, p))
        )
    return rules


@dataclass
class RuleState:
    """Hysteresis / 'for' state of one rule at one scope."""

    active: bool = False
    raise_since: datetime | None = None
    clear_since: datetime | None = None
    last_value: float | None = None

    def idle(self) -> bool:
        """Nothing in progress: the row can be deleted."""
        return not self.active and self.raise_since is None and self.clear_since is None


def step(state: RuleState, value: float | None, p: RuleParams, now: datetime) -> RuleState:
    """Advance one rule's state: raise after the raise condition held for_min, clear likewise."""
    hold = timedelta(minutes=p.for_min)
    if value is None:
        raising, clearing = False, True
    elif p.is_below():
        raising, clearing = value <= p.raise_, value > p.clear
    else:
        raising, clearing = value >= p.raise_, value < p.clear
    if not raising and state.idle():
        return state  # the common case: nothing going on, nothing to write
    s = replace(state, last_value=value)
    if not s.active:
        s.clear_since = None
        if raising:
            s.raise_since = s.raise_since or now
            if now - s.raise_since >= hold:
                s.active, s.raise_since = True, None
        else:
            s.raise_since = None
    else:
        s.raise_since = None
        if clearing:
            s.clear_since = s.clear_since or now
            if now - s.clear_since >= hold:
                s.active, s.clear_since = False, None
        else:
            s.clear_since = None
    return s


@dataclass
class PassResult:
    """What one pass did."""

    evaluated: int = 0
    changes: list[int] = field(default_factory=list)
    stations: int = 0


@dataclass
class _Incident:
    id: int
    level: str
    rule_id: int | None
    last_value: float | None
    acknowledged: bool


class Engine:
    """Evaluates rules; holds only a short-lived cache of station metadata, never state."""

    def __init__(self, settings: AlertsSettings, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self._directory: Directory | None = None

    # -- directory cache ------------------------------------------------------------------------
    def directory(self, conn: Conn, stations: Iterable[str] = ()) -> Directory:
        """Station metadata, reloaded when stale or when an unknown station shows up."""
        d = self._directory
        fresh = d is not None and time.monotonic() - d.loaded_at < self.settings.station_cache_s
        if d is None or not fresh or any(s not in d.stations for s in stations):
            d = self._directory = load_directory(conn)
        return d

    # -- scopes ---------------------------------------------------------------------------------
    def _scope(self, d: Directory, kind: str, sid: str) -> Scope:
        if kind == "station":
            meta = d.stations.get(sid)
            if meta is None:
                return Scope(kind, sid, (), (), None, sid)
            commune = d.communes.get(meta.commune, meta.commune)
            return Scope(kind, sid, (sid,), (meta.commune,), None, f"{meta.name}, {commune}")
        if kind == "commune":
            return Scope(kind, sid, tuple(d.by_commune.get(sid, ())), (sid,), None,
                         d.communes.get(sid, sid))
        cat = d.catchments.get(sid)
        if cat is None:
            return Scope(kind, sid, (), (), sid, sid)
        communes = cat.communes or tuple(
            sorted({d.stations[s].commune for s in cat.weights if s in d.stations})
        )
        return Scope(kind, sid, tuple(cat.weights), communes, sid, f"bassin {cat.name}")

    @staticmethod
    def _scopes_touched(d: Directory, touched: Iterable[str]) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for s in touched:
            meta = d.stations.get(s)
            if meta is None:
                continue
            out.add(("station", s))
            out.add(("commune", meta.commune))
            for c in d.by_catchment_station.get(s, ()):
                out.add(("catchment", c))
        return out

    # -- the pass -------------------------------------------------------------------------------
    def evaluate(
        self,
        conn: Conn,
        stations: Iterable[str] | None = None,
        *,
        now: datetime | None = None,
        sweep: bool = False,
    ) -> PassResult:
        """One pass in one transaction: the touched stations, plus in-progress scopes on a sweep.

        stations=None means "whichever stations reported since the last catch-up" (read from
        device_status.last_seen against a watermark kept in engine_state); sweeps do that too.
        """
        now = now or self.clock()
        touched = set(stations or ())
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            return self._pass(conn, now, touched, sweep, catch_up=sweep or stations is None)

    def _pass(
        self, conn: Conn, now: datetime, touched: set[str], sweep: bool, catch_up: bool
    ) -> PassResult:
        rules = load_rules(conn)
        new_mark: datetime | None = None
        if catch_up:
            mark = conn.execute(
                "SELECT at FROM engine_state WHERE key = %s", (WATERMARK_KEY,)
            ).fetchone()
            since = mark[0] if mark else None
            row = conn.execute(
                "SELECT array_agg(station_id), max(last_seen) FROM device_status"
                " WHERE %(since)s::timestamptz IS NULL OR last_seen > %(since)s",
                {"since": since},
            ).fetchone()
            if row and row[0]:
                touched |= {str(s) for s in row[0]}
                # Ingest batches commit out of order by up to their duration (well under 1 s): keep a
                # margin so a late commit with a slightly older last_seen is still caught.
                candidate = row[1] - CATCH_UP_MARGIN
                if since is None or candidate > since:
                    new_mark = candidate
        d = self.directory(conn, touched)
        by_group: dict[str, list[LoadedRule]] = {}
        for r in rules:
            by_group.setdefault(r.group_key, []).append(r)

        cands = self._candidates(conn, d, rules, touched, sweep)
        scopes = {(sk, sid): self._scope(d, sk, sid) for _, sk, sid in cands}
        needs = Needs()
        needed: set[str] = set()
        antecedent: set[int] = set()
        lookbacks: set[int] = set()
        clog: set[tuple[str, float, int]] = set()
        status_ids: set[str] = set()
        for gk, sk, sid in cands:
            scope = scopes[(sk, sid)]
            for r in by_group.get(gk, ()):
                if not r.applies_to(sk, sid):
                    continue
                n = r.kind.needs(r.params)
                # Silence, battery and clock need no rain: a sweep over every gauge stays cheap.
                (needed if n.rain else status_ids).update(scope.stations)
                needs = Needs(
                    long_windows=needs.long_windows or n.long_windows,
                    intensity_lookback_min=max(needs.intensity_lookback_min,
                                               n.intensity_lookback_min),
                    intensity_span_min=max(needs.intensity_span_min, n.intensity_span_min),
                    stuck=needs.stuck or n.stuck,
                    status=needs.status or n.status,
                )
                if n.antecedent_window:
                    antecedent.add(n.antecedent_window)
                if n.intensity_lookback_min:
                    lookbacks.add(n.intensity_lookback_min)
                if n.neighbours_km:
                    clog.update((s, n.neighbours_km, n.neighbours_window) for s in scope.stations)
        snap = load_snapshot(
            conn, d, now, needed,
            growing_season=is_growing_season(now, self.settings.growing_season_months),
            long_windows=needs.long_windows,
            antecedent_windows=antecedent,
            intensity_lookback_min=needs.intensity_lookback_min,
            intensity_lookbacks=lookbacks,
            intensity_span_min=needs.intensity_span_min,
            stuck_readings=self.settings.stuck_readings if needs.stuck else 0,
            status=False,
        )
        # Neighbours matter only to a gauge that reported and got nothing: read their one window.
        extra: dict[int, set[str]] = {}
        for s, radius, w in clog:
            if s in d.stations and snap.counts.get(s, {}).get(w, 0) > 0 and snap.depth(s, w) == 0:
                extra.setdefault(w, set()).update(d.neighbours(s, radius))
        for w, ids in extra.items():
            load_window_sums(conn, snap, ids, w)
        if needs.status:
            # The sweep judges silence of every station: one small table, read whole.
            snap.status = load_status(conn, None if sweep else sorted(needed | status_ids))

        states = self._load_states(conn, cands, by_group)
        incidents = self._load_incidents(conn, {c[0] for c in cands})
        result = PassResult(stations=len(needed))
        state_writes: list[tuple[int, str, str, RuleState]] = []
        cache: dict[tuple[str, str, str], Measurement] = {}
        for gk, sk, sid in sorted(cands):
            scope = scopes[(sk, sid)]
            applicable = [r for r in by_group.get(gk, ()) if r.applies_to(sk, sid)]
            measured: dict[int, Measurement] = {}
            active: list[LoadedRule] = []
            for r in applicable:
                key = (r.measure_key, sk, sid)
                if key not in cache:
                    try:
                        cache[key] = r.kind.evaluate(snap, r.params, scope)
                    except (ValueError, AlertsConfigError) as exc:
                        log.warning("rule %s at %s/%s not evaluated: %s", r.id, sk, sid, exc)
                        cache[key] = Measurement(None, summary="évaluation impossible")
                m = measured[r.id] = cache[key]
                stored = states.get((r.id, sk, sid))
                old = stored or RuleState()
                new = step(old, m.value, r.params, now)
                # Idle and not stored: nothing to write (the common case, kept cheap).
                if (stored is not None or not new.idle()) and new != old:
                    state_writes.append((r.id, sk, sid, new))
                if new.active:
                    active.append(r)
                result.evaluated += 1
            inc = incidents.get((gk, sk, sid))
            change = self._incident(conn, now, gk, scope, applicable, active, measured, inc)
            if change is not None:
                result.changes.append(change)
        self._write_states(conn, now, state_writes)
        result.changes.extend(self._reminders(conn, now))
        if new_mark is not None:
            conn.execute(
                "INSERT INTO engine_state (key, at, updated_at) VALUES (%s, %s, now())"
                " ON CONFLICT (key) DO UPDATE SET at = excluded.at, updated_at = now()",
                (WATERMARK_KEY, new_mark),
            )
        return result

    def _candidates(
        self, conn: Conn, d: Directory, rules: list[LoadedRule], touched: set[str], sweep: bool
    ) -> set[tuple[str, str, str]]:
        """(group, scope_kind, scope_id) to evaluate: touched scopes, plus on a sweep whatever
        is in progress, whatever is open, and the checks judged everywhere (silence)."""
        cands: set[tuple[str, str, str]] = set()
        for sk, sid in self._scopes_touched(d, touched):
            for r in rules:
                if r.applies_to(sk, sid):
                    cands.add((r.group_key, sk, sid))
        if not sweep:
            return cands
        by_id = {r.id: r for r in rules}
        for rid, sk, sid in conn.execute("SELECT rule_id, scope_kind, scope_id FROM rule_state"):
            found = by_id.get(int(rid))
            if found is not None:
                cands.add((found.group_key, str(sk), str(sid)))
        for gk, sk, sid in conn.execute(
            # Exercise incidents are played by alerts.exercise, never judged by rules.
            "SELECT group_key, scope_kind, scope_id FROM incidents WHERE state = 'open'"
            " AND exercise_id IS NULL"
        ):
            cands.add((str(gk), str(sk), str(sid)))
        for r in rules:
            if r.kind.needs(r.params).every_sweep:
                cands.update(
                    (r.group_key, "station", sid) for sid in d.stations
                    if r.applies_to("station", sid)
                )
        return cands

    # -- state I/O ------------------------------------------------------------------------------
    @staticmethod
    def _load_states(
        conn: Conn, cands: set[tuple[str, str, str]], by_group: dict[str, list[LoadedRule]]
    ) -> dict[tuple[int, str, str], RuleState]:
        wanted = {
            (r.id, sk, sid)
            for gk, sk, sid in cands
            for r in by_group.get(gk, ())
            if r.applies_to(sk, sid)
        }
        if not wanted:
            return {}
        # rule_state only holds what is in progress: read by scope id, filter here.
        rows = conn.execute(
            "SELECT rule_id, scope_kind, scope_id, active, raise_since, clear_since, last_value"
            " FROM rule_state WHERE scope_id = ANY(%s)",
            (sorted({k[2] for k in wanted}),),
        )
        out = {}
        for r in rows:
            key = (int(r[0]), str(r[1]), str(r[2]))
            if key in wanted:
                out[key] = RuleState(bool(r[3]), r[4], r[5], r[6])
        return out

    @staticmethod
    def _write_states(
        conn: Conn, now: datetime, writes: list[tuple[int, str, str, RuleState]]
    ) -> None:
        upserts = [(rid, sk, sid, s.active, s.raise_since, s.clear_since, s.last_value, now)
                   for rid, sk, sid, s in writes if not s.idle()]
        deletes = [(rid, sk, sid) for rid, sk, sid, s in writes if s.idle()]
        with conn.cursor() as cur:
            if upserts:
                cur.executemany(
                    "INSERT INTO rule_state (rule_id, scope_kind, scope_id, active, raise_since,"
                    " clear_since, last_value, evaluated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
                    " ON CONFLICT (rule_id, scope_kind, scope_id) DO UPDATE SET"
                    " active = excluded.active, raise_since = excluded.raise_since,"
                    " clear_since = excluded.clear_since, last_value = excluded.last_value,"
                    " evaluated_at = excluded.evaluated_at",
                    upserts,
                )
            if deletes:
                cur.executemany(
                    "DELETE FROM rule_state WHERE rule_id = %s AND scope_kind = %s"
                    " AND scope_id = %s",
                    deletes,
                )

    @staticmethod
    def _load_incidents(
        conn: Conn, groups: set[str]
    ) -> dict[tuple[str, str, str], _Incident]:
        if not groups:
            return {}
        return {
            (str(gk), str(sk), str(sid)): _Incident(int(i), str(lvl), rid, val, ack is not None)
            for i, gk, sk, sid, lvl, rid, val, ack in conn.execute(
                "SELECT id, group_key, scope_kind, scope_id, level, rule_id, last_value,"
                " acknowledged_at FROM incidents WHERE state = 'open' AND exercise_id IS NULL"
                " AND group_key = ANY(%s)",
                (sorted(groups),),
            )
        }

    # -- incidents ------------------------------------------------------------------------------
    def _incident(
        self,
        conn: Conn,
        now: datetime,
        gk: str,
        scope: Scope,
        applicable: list[LoadedRule],
        active: list[LoadedRule],
        measured: dict[int, Measurement],
        inc: _Incident | None,
    ) -> int | None:
        driving = max(active, key=lambda r: _RANK[r.level]) if active else None
        if driving is None and inc is None:
            return None
        if driving is not None:
            m = measured[driving.id]
            if inc is None:
                return self._open(conn, now, gk, scope, driving, m)
            if driving.level != inc.level:
                kind = "escalated" if _RANK[driving.level] > _RANK[inc.level] else "deescalated"
                return self._move(conn, now, inc, driving, m, kind)
            if m.value is not None and m.value != inc.last_value:
                conn.execute(
                    "UPDATE incidents SET last_value = %s, rule_id = %s WHERE id = %s",
                    (m.value, driving.id, inc.id),
                )
            return None
        assert inc is not None
        # Resolved: report against the lowest rule of the group (its clear threshold held).
        lowest = min(applicable, key=lambda r: _RANK[r.level]) if applicable else None
        last = measured.get(lowest.id) if lowest else None
        return self._resolve(conn, now, inc, lowest, last or Measurement(None))

    @staticmethod
    def _detail(r: LoadedRule, m: Measurement, scope: Scope, summary: str) -> dict[str, Any]:
        return {
            "summary": summary,
            "measure": m.summary,
            "rule_id": r.id,
            "rule_name": r.name,
            "kind": r.kind.name,
            "unit": r.params.unit,
            "raise": r.params.raise_,
            "clear": r.params.clear,
            "for_min": r.params.for_min,
            "window_min": m.window_min,
            "station_id": m.station_id,
            "scope": {"kind": scope.kind, "id": scope.id, "label": scope.label},
            "inputs": m.inputs,
        }

    @staticmethod
    def _threshold_text(r: LoadedRule) -> str:
        unit = f" {r.params.unit}" if r.params.unit else ""
        return f"seuil {LEVEL_FR[r.level]} {fr_number(r.params.raise_)}{unit}"

    def _change(
        self, conn: Conn, inc_id: int, now: datetime, kind: str, level: str, previous: str | None,
        m: Measurement, detail: dict[str, Any], notify: bool = True,
    ) -> int:
        row = conn.execute(
            "INSERT INTO incident_changes (incident_id, at, kind, level, previous_level, value,"
            " window_min, detail, notify) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
            (inc_id, now, kind, level, previous, m.value, m.window_min,
             json.dumps(detail, default=str), notify),
        ).fetchone()
        assert row is not None
        change_id = int(row[0])
        conn.execute("SELECT pg_notify(%s, %s)", (INCIDENT_CHANGE, str(change_id)))
        return change_id

    def _open(
        self, conn: Conn, now: datetime, gk: str, scope: Scope, r: LoadedRule, m: Measurement
    ) -> int:
        title = f"{r.kind.title(r.params)} — {scope.label}"
        row = conn.execute(
            "INSERT INTO incidents (rule_id, kind, group_key, scope_kind, scope_id, level, state,"
            " audience, communes, catchment_id, title, opened_at, updated_at, level_since,"
            " max_level, last_value, window_min) VALUES (%s,%s,%s,%s,%s,%s,'open',%s,%s,%s,%s,"
            " %s,%s,%s,%s,%s,%s) RETURNING id",
            (r.id, r.kind.name, gk, scope.kind, scope.id, r.level, r.audience,
             list(scope.communes), scope.catchment_id, title, now, now, now, r.level, m.value,
             m.window_min),
        ).fetchone()
        assert row is not None
        summary = f"Vigilance {LEVEL_FR[r.level]} — {title} : {m.summary} ({self._threshold_text(r)})"
        return self._change(conn, int(row[0]), now, "opened", r.level, None, m,
                            self._detail(r, m, scope, summary))

    def _move(
        self, conn: Conn, now: datetime, inc: _Incident, r: LoadedRule, m: Measurement, kind: str
    ) -> int:
        # A worse situation is a new situation: the acknowledgement no longer covers it.
        row = conn.execute(
            "UPDATE incidents SET level = %(lvl)s, rule_id = %(rid)s, last_value = %(val)s,"
            " window_min = %(win)s, updated_at = %(now)s, level_since = %(now)s,"
            " max_level = CASE WHEN %(esc)s THEN %(lvl)s ELSE max_level END,"
            " acknowledged_at = CASE WHEN %(esc)s THEN NULL ELSE acknowledged_at END,"
            " last_reminder_at = NULL"
            " WHERE id = %(id)s RETURNING title, scope_kind, scope_id",
            {"lvl": r.level, "rid": r.id, "val": m.value, "win": m.window_min, "now": now,
             "esc": kind == "escalated", "id": inc.id},
        ).fetchone()
        assert row is not None
        verb = "passe" if kind == "escalated" else "redescend"
        summary = (
            f"{row[0]} : {verb} de {LEVEL_FR[inc.level]} à {LEVEL_FR[r.level]} — {m.summary}"
            f" ({self._threshold_text(r)})"
        )
        scope = Scope(str(row[1]), str(row[2]), (), (), None, str(row[0]))
        return self._change(conn, inc.id, now, kind, r.level, inc.level, m,
                            self._detail(r, m, scope, summary))

    def _resolve(
        self, conn: Conn, now: datetime, inc: _Incident, r: LoadedRule | None, m: Measurement
    ) -> int:
        row = conn.execute(
            "UPDATE incidents SET state = 'resolved', resolved_at = %s, updated_at = %s,"
            " last_value = %s WHERE id = %s RETURNING title, scope_kind, scope_id",
            (now, now, m.value, inc.id),
        ).fetchone()
        assert row is not None
        scope = Scope(str(row[1]), str(row[2]), (), (), None, str(row[0]))
        if r is None:
            detail: dict[str, Any] = {"summary": f"Fin d'alerte — {row[0]} (règle supprimée)"}
        else:
            held = f" depuis {r.params.for_min} min" if r.params.for_min else ""
            unit = f" {r.params.unit}" if r.params.unit else ""
            summary = (
                f"Fin d'alerte — {row[0]} : {m.summary}, sous le seuil de fin "
                f"{fr_number(r.params.clear)}{unit}{held}"
            )
            detail = self._detail(r, m, scope, summary)
        return self._change(conn, inc.id, now, "resolved", inc.level, inc.level, m, detail)

    def _reminders(self, conn: Conn, now: datetime) -> list[int]:
        """Red and unacknowledged: a reminder row (notify) every reminder_interval_min."""
        every = timedelta(minutes=self.settings.reminder_interval_min)
        due = conn.execute(
            "SELECT id, level, last_value, window_min, title, level_since FROM incidents"
            " WHERE state = 'open' AND level = 'red' AND acknowledged_at IS NULL AND exercise_id IS NULL"
            " AND coalesce(last_reminder_at, level_since) <= %s FOR UPDATE",
            (now - every,),
        ).fetchall()
        out = []
        for iid, level, value, window, title, since in due:
            minutes = int((now - since).total_seconds() // 60)
            w = f" sur {window_fr(int(window))}" if window else ""
            detail = {"summary": f"Rappel — {title} : vigilance rouge non prise en compte depuis "
                                 f"{minutes} min{w}"}
            conn.execute("UPDATE incidents SET last_reminder_at = %s WHERE id = %s", (now, iid))
            out.append(self._change(conn, int(iid), now, "reminder", str(level), str(level),
                                    Measurement(value, window), detail))
        return out


def acknowledge(conn: Conn, incident_id: int, by: str, comment: str = "") -> int | None:
    """Acknowledge an open incident (UPDATE + 'acknowledged' timeline row); None if not open."""
    if not by.strip() or len(by) > 200 or len(comment) > 2000:
        raise AlertsInputError("acquittement refusé : auteur requis (200 car. max), "
                                "commentaire 2000 car. max")
    with conn.transaction():
        row = conn.execute(
            "SELECT vigie_acknowledge_incident(%s, %s, %s)", (incident_id, by, comment)
        ).fetchone()
    return None if row is None or row[0] is None else int(row[0])
