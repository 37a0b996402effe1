"""CAP 1.2 (OASIS Common Alerting Protocol) messages for public incidents.

Two halves: `build_message`, a pure function from one incident change to one CAP <alert>, and
`CapWriter`, the loop that turns every public incident change into a `cap_messages` row (served by
the API as an Atom feed and one cap.xml per message; see docs/cap.md).

The XML is built with the standard library's ElementTree, so the service needs no lxml; the tests
validate every message against the OASIS XSD with lxml (a dev dependency).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from alerts.engine_errors import AlertsError
from alerts.rules import fr_number, window_fr
from vigie import exercises, instructions, notify, urls
from vigie.alert_rules import LEVEL_FR
from vigie.db import APP_CAP, connect
from vigie.heartbeat import Heartbeat
from vigie.listen import ListenLoop
from vigie.settings import Settings

log = logging.getLogger(__name__)

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
# CAP's sender and identifier must hold no spaces, commas, '<' or '&' (CAP 1.2, 3.2.1): a URN is
# globally unique without us owning a domain name, and stays valid if the site's URL changes.
DEFAULT_SENDER = "urn:vigie:deux-vallees"
ID_PREFIX = "urn:vigie:deux-vallees"
SENDER_NAME = "Communauté de communes des Deux Vallées — réseau de pluviomètres Vigie"
DEFAULT_BASE_URL = "http://localhost:8000"
HEADLINE_MAX = 160  # CAP 1.2: "SHOULD be less than 160 characters"
# An incident that oscillates for days must not produce an unbounded <references>: the first
# message (what consumers key the incident on) plus the most recent ones.
MAX_REFERENCES = 50
_CAP_TOKEN = re.compile(r"^[^\s,<&]+$")
_INSEE = re.compile(r"^[0-9][0-9AB][0-9]{3}$")
# Characters XML 1.0 cannot carry at all, escaped or not: ElementTree would write them as-is and
# produce a document no parser accepts.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class CapBuildError(AlertsError):
    """This incident change cannot (or must not) become a CAP message; the message says why."""


# msgType per timeline kind. The CAP vocabulary:
# - 'opened' starts a new situation: Alert.
# - 'escalated'/'deescalated' change the level of that same situation: Update, which supersedes
#   the earlier messages listed in <references> (consumers replace, not add).
# - 'resolved' is the end of the situation: Cancel, so that consumers drop it from their list
#   of active alerts at once. CAP's text reserves Cancel for "cancel the earlier message(s)"; an
#   all-clear could also be an Update with responseType AllClear. We send Cancel (the issue asks
#   for it) AND give it responseType AllClear and urgency Past with a French "Fin d'alerte" text,
#   so that consumers which display cancellations show an all-clear rather than an error.
# Acknowledgements and reminders are internal follow-up; they change nothing for the public.
MSG_TYPE_BY_KIND: Mapping[str, str] = {
    "opened": "Alert",
    "escalated": "Update",
    "deescalated": "Update",
    "resolved": "Cancel",
}
PUBLISHED_KINDS: tuple[str, ...] = tuple(MSG_TYPE_BY_KIND)


@dataclass(frozen=True)
class LevelCap:
    """How one vigilance level reads in CAP, and what residents should do."""

    level: str
    label_fr: str
    urgency: str
    severity: str
    certainty: str
    response: str


# Levels follow Météo-France's vigilance colours as Meteoalarm maps them to CAP severity (yellow
# Moderate, orange Severe, red Extreme). Certainty is Observed at every level: an incident opens
# when OUR gauges have MEASURED rain (or runoff computed from it) above a threshold; CAP's
# certainty is about the subject event, not its consequences. Urgency: at yellow, residents have
# time to get ready (Expected, "within the next hour"); at orange and red, water may already be
# running (Immediate). The end message uses Past / Minor: no action needed any more.
LEVEL_CAP: Mapping[str, LevelCap] = {
    lc.level: lc
    for lc in (
        LevelCap(
            "yellow",
            "jaune",
            "Expected",
            "Moderate",
            "Observed",
            "Monitor",
        ),
        LevelCap(
            "orange",
            "orange",
            "Immediate",
            "Severe",
            "Observed",
            "Prepare",
        ),
        LevelCap(
            "red",
            "rouge",
            "Immediate",
            "Extreme",
            "Observed",
            "Avoid",
        ),
    )
}
END_CAP = LevelCap(
    "end",
    "fin",
    "Past",
    "Minor",
    "Observed",
    "AllClear",
)

# CAP <event> per incident kind (rules.py KINDS); anything else is still rain-related.
EVENT_BY_KIND: Mapping[str, str] = {
    "accumulation": "Fortes pluies",
    "intensity": "Pluie intense",
    "return_period": "Pluie d'intensité exceptionnelle",
    "runoff": "Ruissellement et inondation",
}
DEFAULT_EVENT = "Pluie et ruissellement"


@dataclass(frozen=True)
class Commune:
    """A commune of the area, by INSEE code."""

    insee: str
    name: str


@dataclass(frozen=True)
class IncidentInfo:
    """What the builder reads from `incidents` (and the catchment's name)."""

    id: int
    kind: str
    title: str
    audience: str
    opened_at: datetime
    catchment_id: str | None = None
    catchment_name: str | None = None


@dataclass(frozen=True)
class ChangeInfo:
    """What the builder reads from one `incident_changes` row."""

    id: int
    kind: str
    at: datetime
    level: str
    previous_level: str | None = None
    value: float | None = None
    window_min: int | None = None
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Reference:
    """An earlier message of the same incident, as CAP's "sender,identifier,sent" triple."""

    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True)
class CapContext:
    """Who sends, where the public reads more, in which time zone, and the CAP status."""

    sender: str = DEFAULT_SENDER
    base_url: str = DEFAULT_BASE_URL
    timezone: str = "Europe/Paris"
    status: str = "Actual"


@dataclass(frozen=True)
class CapMessage:
    """One built message, with the fields stored beside its XML."""

    identifier: str
    sender: str
    msg_type: str
    sent: datetime
    headline: str
    xml: bytes


# ---- small pure helpers -----------------------------------------------------------------------


def public_base_url(settings: Settings) -> str:
    """The public URL of the site, without a trailing slash."""
    return urls.public_base_url(settings) or DEFAULT_BASE_URL


def context_from_settings(settings: Settings) -> CapContext:
    """The CapContext these settings describe."""
    return CapContext(sender=DEFAULT_SENDER, base_url=public_base_url(settings), timezone=settings.timezone)


def incident_page(base_url: str, incident_id: int) -> str:
    """The web app's page of an incident: the same link the e-mails and SMS carry."""
    return urls.incident_page_url(base_url, incident_id)


def identifier_for(incident_id: int, change_id: int) -> str:
    """The CAP identifier of one incident change: stable, unique, no space, comma, '<' or '&'."""
    return f"{ID_PREFIX}:incident:{incident_id}:change:{change_id}"


def cap_datetime(dt: datetime, timezone: str = "Europe/Paris") -> str:
    """CAP dateTime: local time with its offset, whole seconds, never 'Z' (UTC is '-00:00')."""
    if dt.tzinfo is None:
        raise CapBuildError("date sans fuseau horaire")
    text = dt.astimezone(ZoneInfo(timezone)).replace(microsecond=0).isoformat()
    # CAP 1.2, 3.3.2: UTC MUST be written "-00:00"; isoformat() writes "+00:00".
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def truncate_to_second(dt: datetime) -> datetime:
    """dt without its fraction: what `sent` says, so stored and printed times agree."""
    return dt.replace(microsecond=0)


def clean_text(text: str) -> str:
    """Text with the characters XML 1.0 cannot carry removed (markup is escaped by ET)."""
    return _NOT_XML.sub("", text)


def _coord(value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CapBuildError(f"coordonnée non numérique : {value!r}")
    x = float(value)
    if not math.isfinite(x) or not low <= x <= high:
        raise CapBuildError(f"coordonnée hors limites : {value!r}")
    return x


def _ring_to_cap(ring: Any) -> str:
    if not isinstance(ring, list):
        raise CapBuildError("anneau de polygone invalide")
    points: list[tuple[float, float]] = []
    for pos in ring:
        if not isinstance(pos, list) or len(pos) < 2:
            raise CapBuildError("position GeoJSON invalide")
        # GeoJSON is [lon, lat]; CAP wants "lat,lon".
        points.append((_coord(pos[1], -90, 90), _coord(pos[0], -180, 180)))
    if points and points[0] != points[-1]:
        points.append(points[0])  # CAP: "the first and last pairs of coordinates MUST be the same"
    if len(points) < 4:
        raise CapBuildError("un polygone CAP demande au moins 4 points")
    return " ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in points)


def polygons_from_geojson(geometry: Any) -> list[str]:
    """CAP <polygon> strings from a GeoJSON Polygon or MultiPolygon (outer rings only)."""
    # CAP has no holes: an area is the union of its polygons. Dropping a hole makes the warned
    # area a bit larger, never smaller, which is the safe side for a flood warning.
    if isinstance(geometry, str):
        try:
            geometry = json.loads(geometry)
        except ValueError as exc:
            raise CapBuildError("polygone GeoJSON illisible") from exc
    if not isinstance(geometry, dict):
        raise CapBuildError("polygone GeoJSON invalide")
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if not isinstance(coords, list) or not coords:
        raise CapBuildError("polygone GeoJSON sans coordonnées")
    if kind == "Polygon":
        return [_ring_to_cap(coords[0])]
    if kind == "MultiPolygon":
        out = []
        for poly in coords:
            if not isinstance(poly, list) or not poly:
                raise CapBuildError("MultiPolygon GeoJSON invalide")
            out.append(_ring_to_cap(poly[0]))
        return out
    raise CapBuildError(f"géométrie GeoJSON non prise en charge : {str(kind)[:40]}")


def _local(dt: datetime, timezone: str) -> str:
    where = "heure de Paris" if timezone == "Europe/Paris" else timezone
    return f"{dt.astimezone(ZoneInfo(timezone)):%d/%m/%Y à %H:%M} ({where})"


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(float(x)):
        return None
    return float(x)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _headline(incident: IncidentInfo, change: ChangeInfo) -> str:
    level = LEVEL_FR[change.level]
    # An exercise's title carries the EXERCICE prefix: it goes first in the headline too.
    title = exercises.strip_title(incident.title)
    first = exercises.TITLE_PREFIX if title != incident.title else ""
    if change.kind == "opened":
        text = f"Vigilance {level} — {title}"
    elif change.kind == "escalated":
        text = f"Passage en vigilance {level} — {title}"
    elif change.kind == "deescalated":
        text = f"Retour en vigilance {level} — {title}"
    else:
        text = f"Fin d'alerte — {title}"
    return _shorten(first + text, HEADLINE_MAX)


def _area_desc(incident: IncidentInfo, communes: Sequence[Commune]) -> str:
    parts = []
    if incident.catchment_name:
        parts.append(f"Bassin versant {incident.catchment_name}")
    if communes:
        parts.append(", ".join(c.name for c in communes))
    return " — ".join(parts) or "Territoire des Deux Vallées"


def _description(incident: IncidentInfo, change: ChangeInfo, communes: Sequence[Commune], tz: str) -> str:
    detail = change.detail or {}
    level = LEVEL_FR[change.level]
    lines = []
    summary = detail.get("summary")
    if isinstance(summary, str) and summary.strip():
        lines.append(summary.strip())
    # What: the level and its move.
    if change.kind == "resolved":
        lines.append(f"Fin de la vigilance {level}.")
    elif change.previous_level in LEVEL_FR and change.previous_level != change.level:
        lines.append(f"Niveau : vigilance {level} (auparavant {LEVEL_FR[change.previous_level]}).")
    else:
        lines.append(f"Niveau : vigilance {level}.")
    # How much, over which window.
    value = _number(change.value)
    unit = detail.get("unit") if isinstance(detail.get("unit"), str) else ""
    unit_sp = f" {unit}" if unit else ""
    window = f" sur {window_fr(change.window_min)}" if change.window_min else ""
    if value is not None:
        measured = f"Valeur mesurée : {fr_number(value)}{unit_sp}{window}"
        threshold = _number(detail.get("clear" if change.kind == "resolved" else "raise"))
        if threshold is not None:
            which = "seuil de fin" if change.kind == "resolved" else f"seuil {level}"
            measured += f" ({which} : {fr_number(threshold)}{unit_sp})"
        lines.append(measured + ".")
    elif change.window_min:
        lines.append(f"Fenêtre de mesure : {window_fr(change.window_min)}.")
    # Where.
    if incident.catchment_name:
        lines.append(f"Bassin versant : {incident.catchment_name}.")
    if communes:
        lines.append("Communes concernées : " + ", ".join(c.name for c in communes) + ".")
    # When.
    lines.append(f"Début de l'épisode : {_local(incident.opened_at, tz)}.")
    if change.kind == "resolved":
        lines.append(f"Fin de l'épisode : {_local(change.at, tz)}.")
    elif change.kind != "opened":
        lines.append(f"Changement de niveau : {_local(change.at, tz)}.")
    lines.append(
        "Message automatique du réseau de pluviomètres Vigie des Deux Vallées, établi à partir "
        "de mesures non validées."
    )
    return "\n".join(lines)


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = clean_text(text)
    return el


# ---- the builder ------------------------------------------------------------------------------


def build_message(
    incident: IncidentInfo,
    change: ChangeInfo,
    communes: Sequence[Commune],
    *,
    polygons: Sequence[str] = (),
    references: Sequence[Reference] = (),
    ctx: CapContext = CapContext(),  # frozen dataclass: immutable
    instruction: str | None = None,
) -> CapMessage:
    """One CAP 1.2 <alert> for one public incident change (pure: no I/O). `instruction` is
    the communes' consigne (vigie.instructions); the default wording of the level without it."""
    if incident.audience != "public":
        raise CapBuildError("incident réservé aux techniciens : pas de message CAP public")
    msg_type = MSG_TYPE_BY_KIND.get(change.kind)
    if msg_type is None:
        raise CapBuildError(f"changement « {change.kind[:40]} » non publié en CAP")
    if change.level not in LEVEL_CAP:
        raise CapBuildError(f"niveau inconnu : {change.level[:40]!r}")
    for token in (ctx.sender, *(r.sender for r in references), *(r.identifier for r in references)):
        if not _CAP_TOKEN.match(token):
            raise CapBuildError("émetteur ou identifiant CAP invalide (espace, virgule, < ou &)")
    level_cap = END_CAP if change.kind == "resolved" else LEVEL_CAP[change.level]
    identifier = identifier_for(incident.id, change.id)
    sent = truncate_to_second(change.at)
    tz = ctx.timezone
    headline = _headline(incident, change)

    # No namespace prefixes anywhere: a default xmlns on the root, which every child inherits,
    # and no global ET.register_namespace().
    alert = ET.Element("alert", {"xmlns": CAP_NS})
    _sub(alert, "identifier", identifier)
    _sub(alert, "sender", ctx.sender)
    _sub(alert, "sent", cap_datetime(sent, tz))
    _sub(alert, "status", ctx.status)
    _sub(alert, "msgType", msg_type)
    _sub(alert, "scope", "Public")
    if references:
        refs = list(references)
        if len(refs) > MAX_REFERENCES:
            refs = [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
        _sub(
            alert,
            "references",
            " ".join(f"{r.sender},{r.identifier},{cap_datetime(r.sent, tz)}" for r in refs),
        )
    _sub(alert, "incidents", f"{ID_PREFIX}:incident:{incident.id}")

    info = ET.SubElement(alert, "info")
    _sub(info, "language", "fr-FR")
    _sub(info, "category", "Met")
    _sub(info, "event", EVENT_BY_KIND.get(incident.kind, DEFAULT_EVENT))
    _sub(info, "responseType", level_cap.response)
    _sub(info, "urgency", level_cap.urgency)
    _sub(info, "severity", level_cap.severity)
    _sub(info, "certainty", level_cap.certainty)
    _sub(info, "effective", cap_datetime(sent, tz))
    _sub(info, "onset", cap_datetime(truncate_to_second(incident.opened_at), tz))
    _sub(info, "senderName", SENDER_NAME)
    _sub(info, "headline", headline)
    _sub(info, "description", _description(incident, change, communes, tz))
    key = instructions.key_for(change.kind, change.level)
    _sub(info, "instruction", instruction or instructions.DEFAULTS[key].text)
    _sub(info, "web", incident_page(ctx.base_url, incident.id))
    param = ET.SubElement(info, "parameter")
    _sub(param, "valueName", "vigilance")
    _sub(param, "value", LEVEL_FR[change.level])

    area = ET.SubElement(info, "area")
    _sub(area, "areaDesc", _area_desc(incident, communes))
    for polygon in polygons:
        _sub(area, "polygon", polygon)
    for commune in communes:
        if _INSEE.match(commune.insee):
            geocode = ET.SubElement(area, "geocode")
            _sub(geocode, "valueName", "INSEE")
            _sub(geocode, "value", commune.insee)

    ET.indent(alert)  # people read cap.xml too; whitespace between elements is insignificant
    xml = ET.tostring(alert, encoding="UTF-8", xml_declaration=True)
    return CapMessage(identifier, ctx.sender, msg_type, sent, headline, xml)


# ---- the writer -------------------------------------------------------------------------------

_PENDING = """
SELECT c.id FROM incident_changes c JOIN incidents i ON i.id = c.incident_id
 WHERE i.audience = 'public' AND c.kind = ANY(%(kinds)s)
   AND NOT EXISTS (SELECT 1 FROM cap_messages m WHERE m.incident_change_id = c.id)
   AND c.id <> ALL(%(skip)s)
 ORDER BY c.id LIMIT %(limit)s
"""

# NO KEY UPDATE + SKIP LOCKED: two writers split the work instead of building the same message
# twice, and the lock does not block the dispatcher's foreign-key checks (FOR KEY SHARE).
_LOAD = """
SELECT c.kind, c.at, c.level, c.previous_level, c.value, c.window_min, c.detail,
       i.id, i.kind, i.title, i.audience, i.opened_at, i.communes, i.catchment_id,
       k.name, k.polygon, i.exercise_id
  FROM incident_changes c JOIN incidents i ON i.id = c.incident_id
  LEFT JOIN catchments k ON k.id = i.catchment_id
 WHERE c.id = %s
   FOR NO KEY UPDATE OF c SKIP LOCKED
"""

# Earlier published changes of the incident. Their identifier and sent are deterministic (change
# id and time), so a reference is right even if that message is not written yet; a stored row
# wins, in case the sender was configured differently when it was written.
_PREVIOUS = """
SELECT c.id, c.at, m.sender, m.identifier, m.sent
  FROM incident_changes c LEFT JOIN cap_messages m ON m.incident_change_id = c.id
 WHERE c.incident_id = %s AND c.id < %s AND c.kind = ANY(%s)
 ORDER BY c.id
"""

_INSERT = """
INSERT INTO cap_messages (incident_id, incident_change_id, identifier, sender, msg_type, sent,
                          headline, xml)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""


def _write_one(conn: psycopg.Connection[Any], change_id: int, ctx: CapContext) -> bool:
    """Build and store the message of one change, in the caller's transaction."""
    row = conn.execute(_LOAD, (change_id,)).fetchone()
    if row is None:
        return False  # another writer holds it (or it was deleted)
    if conn.execute("SELECT 1 FROM cap_messages WHERE incident_change_id = %s", (change_id,)).fetchone():
        return False  # written by another writer since our pending query
    (
        kind,
        at,
        level,
        previous,
        value,
        window,
        detail,
        iid,
        ikind,
        title,
        audience,
        opened_at,
        codes,
        catchment_id,
        catchment_name,
        polygon,
        exercise_id,
    ) = row
    incident = IncidentInfo(
        int(iid), str(ikind), str(title), str(audience), opened_at, catchment_id, catchment_name
    )
    change = ChangeInfo(
        change_id,
        str(kind),
        at,
        str(level),
        previous,
        value,
        window,
        detail if isinstance(detail, dict) else {},
    )
    codes = [str(c) for c in (codes or [])]
    names = dict(conn.execute("SELECT insee, name FROM communes WHERE insee = ANY(%s)", (codes,)).fetchall())
    # Keep the incident's order; a code missing from `communes` still gets its geocode.
    communes = [Commune(c, str(names.get(c, c))) for c in dict.fromkeys(codes)]
    polygons: list[str] = []
    if polygon is not None:
        try:
            polygons = polygons_from_geojson(polygon)
        except CapBuildError as exc:
            # The alert matters more than its outline: publish it with the INSEE geocodes.
            log.warning("CAP: catchment %s polygon ignored: %s", catchment_id, exc)
    references = [
        Reference(str(s), str(ident), sent)
        if ident is not None
        else Reference(ctx.sender, identifier_for(incident.id, int(cid)), truncate_to_second(cat))
        for cid, cat, s, ident, sent in conn.execute(
            _PREVIOUS, (incident.id, change_id, list(PUBLISHED_KINDS))
        ).fetchall()
    ]
    key = instructions.key_for(change.kind, change.level)
    instruction = instructions.combined_text(
        instructions.load(conn, codes), [(c.insee, c.name) for c in communes], key
    )
    if exercise_id is not None:
        # CAP consumers must never take an exercise for a real warning: <status>Exercise</status>.
        ctx = replace(ctx, status=exercises.CAP_STATUS)
    msg = build_message(
        incident, change, communes, polygons=polygons, references=references, ctx=ctx,
        instruction=instruction,
    )
    cur = conn.execute(
        _INSERT,
        (
            incident.id,
            change_id,
            msg.identifier,
            msg.sender,
            msg.msg_type,
            msg.sent,
            msg.headline,
            msg.xml.decode("utf-8"),
        ),
    )
    return cur.rowcount == 1


def write_pending(
    conn: psycopg.Connection[Any],
    ctx: CapContext | None = None,
    *,
    skip: set[int] | None = None,
    batch: int = 200,
) -> int:
    """Write the CAP message of every public change that has none; returns how many were written.

    `conn` should be in autocommit mode: each message is then committed on its own.

    A change whose message cannot be built is logged, added to `skip` and left behind, so one
    bad row never stops the others (the caller keeps `skip` to log it once, not every poll)."""
    ctx = ctx or CapContext()
    bad = skip if skip is not None else set()
    seen: set[int] = set()
    written = 0
    while True:
        ids = [
            int(r[0])
            for r in conn.execute(
                _PENDING,
                {"kinds": list(PUBLISHED_KINDS), "skip": sorted(bad | seen), "limit": batch},
            ).fetchall()
        ]
        for change_id in ids:
            seen.add(change_id)
            try:
                with conn.transaction():
                    written += int(_write_one(conn, change_id, ctx))
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise  # the connection is gone: the caller reconnects
            except Exception as exc:  # one bad row must not stop the feed
                if conn.closed or conn.broken:
                    raise
                bad.add(change_id)
                log.error(
                    "CAP: incident change %s skipped: %s: %s", change_id, type(exc).__name__, str(exc)[:300]
                )
        if len(ids) < batch:
            return written


class CapWriter:
    """LISTEN vigie_incident_change (plus a poll and a catch-up) and fill cap_messages."""

    def __init__(
        self,
        settings: Settings,
        *,
        poll_s: float = 2.0,
        max_backoff_s: float = 30.0,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self._url = settings.database_url.get_secret_value()
        self.ctx = context_from_settings(settings)
        self.poll_s = poll_s
        self.stop_event = threading.Event()
        self.written = 0
        self.passes = 0
        self._bad: set[int] = set()
        self.loop = ListenLoop(
            "CAP writer",
            lambda: connect(self._url, application_name=APP_CAP, autocommit=True),
            [notify.INCIDENT_CHANGE],
            self,
            stop_event=self.stop_event,
            heartbeat=heartbeat,
            max_backoff_s=max_backoff_s,
        )

    @property
    def healthy(self) -> bool:
        """Connected and caught up."""
        return self.loop.healthy

    def stop(self) -> None:
        """Ask run() to return (within half a second)."""
        self.stop_event.set()

    def run(self) -> None:
        """Until stopped: (re)connect with backoff, catch up, then write on NOTIFY or poll."""
        self.loop.run()

    # --- ListenHandler: a pass on connect, on each NOTIFY and every poll_s ------------------------
    # (the fallback poll: a notification sent while we were reconnecting is lost)
    def on_connect(self, conn: psycopg.Connection[Any]) -> None:
        """Whatever was committed while no writer was listening."""
        self._pass(conn)

    def timeout_s(self) -> float:
        """The fallback poll."""
        return self.poll_s

    def on_wake(self, conn: psycopg.Connection[Any], payloads: list[str]) -> None:
        """Write whatever is pending; the payloads only wake us."""
        self._pass(conn)

    def _pass(self, conn: psycopg.Connection[Any]) -> None:
        n = write_pending(conn, self.ctx, skip=self._bad)
        self.written += n
        self.passes += 1
        if n:
            log.info("CAP: %d message(s) written", n)
