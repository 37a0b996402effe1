"""Turn one MQTT message into staged readings, status updates and dead letters. Pure: no I/O.

Every rejection has a stable reason code (docs/mqtt.md); a bad reading in a batch rejects only
itself, never its neighbours.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ingest.contract import STATION_RE, Batch, ChirpstackUplink, Reading
from vigie.quality import CLOCK_SKEW, DOUBLE_TIP
from vigie.settings import IngestSettings

DEAD_LETTER_PAYLOAD_BYTES = 4096
# The contract's deepest message (a ChirpStack uplink) nests 4 levels. Deeper JSON is refused
# whole before anything recursive (validation, serialisation) walks it: a 3 KB run of brackets
# used to raise RecursionError in paho's thread and kill it (issue 13).
MAX_JSON_DEPTH = 32
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(slots=True)  # not frozen: frozen dataclasses are slow to build, and we build one per reading
class Staged:
    """A reading that passed the edge checks; station checks happen in SQL."""

    topic: str
    station_id: str | None
    dev_eui: str | None
    reading: Reading
    flags: int
    received_at: datetime
    live: bool  # a single live reading (not a replayed batch): its ts says something about the clock


@dataclass(frozen=True)
class StatusUpdate:
    """online/offline from a gauge's status topic (its Last Will says offline)."""

    topic: str
    station_id: str
    online: bool
    received_at: datetime
    raw: bytes
    # A retained status is replayed by the broker to every new subscription: for an unknown
    # station it is counted, not dead-lettered again and again.
    retained: bool = False


@dataclass(frozen=True)
class DeadLetter:
    """An input that could not be stored as data, with why."""

    topic: str
    payload: bytes
    payload_size: int
    reason: str
    detail: str
    received_at: datetime
    station_id: str | None = None
    exception: str | None = None  # the exception's class, for internal_error only


@dataclass(frozen=True)
class Flooded:
    """A message over its device's limit; the writer folds it into the device's minute row."""

    key: str  # the device: station id, devEUI, or the topic when it is none of ours
    topic: str
    station_id: str | None
    payload: bytes  # at most the first 4 KiB
    size: int
    minute: datetime  # received_at, truncated to the minute: the aggregate row's time
    keep: int  # how many payloads the row keeps at most
    detail: str
    reason: str = "too_many_messages"


def printable(text: str) -> str:
    """text safe for a PostgreSQL text column and a terminal: control characters and lone
    surrogates become escapes (dead-letter topics and details quote hostile input)."""
    if text.isprintable():
        return text
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", safe)


@dataclass
class Parsed:
    """What one message became."""

    readings: list[Staged] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    flooded: list[Flooded] = field(default_factory=list)  # over the device's limit (ingest.flood)


@dataclass(frozen=True)
class Route:
    """What a topic is: a gauge uplink, a gauge status, or a ChirpStack uplink."""

    kind: str
    station_id: str | None = None
    dev_eui: str | None = None


def route(topic: str, root: str) -> Route | None:
    """Classify a topic; None when it is none of ours."""
    parts = topic.split("/")
    root_parts = root.split("/")
    if parts[: len(root_parts)] == root_parts and len(parts) == len(root_parts) + 3:
        kind_word, station, kind = parts[len(root_parts) :]
        if kind_word == "gauges" and kind in ("up", "status") and STATION_RE.match(station):
            return Route(kind, station_id=station)
        return None
    if (
        len(parts) == 6
        and parts[0] == "application"
        and parts[2] == "device"
        and parts[4:] == ["event", "up"]
        and topic.isprintable()
    ):
        return Route("chirpstack", dev_eui=parts[3].lower())
    return None


def _walk(value: Any) -> Iterator[Any]:
    """Every value inside a parsed JSON document, without recursion."""
    stack = [value]
    while stack:
        v = stack.pop()
        yield v
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the document nests more than limit lists/objects; iterative, so it is safe on
    whatever json.loads managed to build."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return True
        children = v.values() if isinstance(v, dict) else v
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _has_non_finite(value: Any) -> bool:
    return any(isinstance(v, float) and not math.isfinite(v) for v in _walk(value))


_TEXT_FIELDS = ("fw", "station")


def _reason(exc: ValidationError, fields: Any) -> str:
    if _has_non_finite(fields):
        return "non_finite"
    for err in exc.errors():
        field_name = err["loc"][0] if err["loc"] else None
        if err["type"] == "greater_than_equal" and field_name in ("tips", "counter"):
            return "negative_tips"
        if err["type"] == "string_unicode" or (
            err["type"] == "string_pattern_mismatch" and field_name in _TEXT_FIELDS
        ):
            return "control_character"
    return "invalid_reading"


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'reading'}: {e['msg']}" for e in exc.errors()[:5]
    )


def parse_message(
    topic: str,
    payload: bytes,
    received_at: datetime,
    settings: IngestSettings,
    root: str,
    retained: bool = False,
) -> Parsed:
    """Parse and validate one message; never raises for bad input."""
    out = Parsed()

    def dead(reason: str, detail: str, body: bytes = payload, station: str | None = None) -> None:
        out.dead.append(
            DeadLetter(
                printable(topic),
                body[:DEAD_LETTER_PAYLOAD_BYTES],
                len(body),
                reason,
                printable(detail[:500]),
                received_at,
                station,
            )
        )

    where = route(topic, root)
    if where is None:
        dead(
            "topic_mismatch",
            "topic is not vigie/v1/gauges/<station>/up|status nor a ChirpStack uplink",
        )
        return out
    if len(payload) > settings.max_payload_bytes:
        dead(
            "payload_too_large",
            f"{len(payload)} bytes > {settings.max_payload_bytes}",
            station=where.station_id,
        )
        return out

    if where.kind == "status":
        assert where.station_id is not None
        state = _status_state(payload)
        if state is None:
            dead("bad_status", "status must be 'online' or 'offline'", station=where.station_id)
        else:
            out.statuses.append(StatusUpdate(topic, where.station_id, state, received_at, payload, retained))
        return out

    if where.kind == "up" and _fast_path(payload, where, topic, received_at, settings, out, dead):
        return out

    try:
        document = json.loads(payload.decode("utf-8"))
    except RecursionError:
        dead("too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels", station=where.station_id)
        return out
    except (UnicodeDecodeError, ValueError) as exc:
        dead("malformed_json", str(exc)[:200], station=where.station_id)
        return out
    if too_deep(document):
        dead("too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels", station=where.station_id)
        return out

    if where.kind == "chirpstack":
        try:
            uplink = ChirpstackUplink.model_validate(document)
        except ValidationError as exc:
            dead(_reason(exc, document), _describe(exc))
            return out
        if uplink.deviceInfo.devEui.lower() != where.dev_eui:
            dead("topic_mismatch", "deviceInfo.devEui differs from the topic's devEUI")
            return out
        items: list[Any] = [uplink.reading_fields()]
        live = True
    elif isinstance(document, dict) and "readings" in document:
        batch = document["readings"]
        if not isinstance(batch, list):
            dead("invalid_reading", "'readings' must be a list", station=where.station_id)
            return out
        if len(batch) > settings.max_batch_readings:
            dead(
                "batch_too_large",
                f"{len(batch)} readings > {settings.max_batch_readings}",
                station=where.station_id,
            )
            return out
        items = batch
        live = False
    elif isinstance(document, dict):
        items = [document]
        live = True
    else:
        dead("invalid_reading", "payload must be a JSON object", station=where.station_id)
        return out

    for item in items:
        _stage_one(item, where, topic, received_at, live, settings, out, dead)
    return out


def _fast_path(
    payload: bytes,
    where: Route,
    topic: str,
    received_at: datetime,
    settings: IngestSettings,
    out: Parsed,
    dead: Any,
) -> bool:
    """Validate a well-formed gauge payload straight from JSON with pydantic's parser.

    Returns False when anything is wrong, and the caller takes the slow path, which parses
    item by item to give each bad reading its precise reason without losing its neighbours.
    """
    try:
        if b'"readings"' in payload:
            batch = Batch.model_validate_json(payload)
            if len(batch.readings) > settings.max_batch_readings:
                return False
            for reading in batch.readings:
                _accept(reading, None, where, topic, received_at, False, settings, out, dead)
        else:
            reading = Reading.model_validate_json(payload)
            _accept(reading, payload.decode(), where, topic, received_at, True, settings, out, dead)
    except (ValidationError, UnicodeDecodeError):
        return False
    return True


def _stage_one(
    item: Any,
    where: Route,
    topic: str,
    received_at: datetime,
    live: bool,
    settings: IngestSettings,
    out: Parsed,
    dead: Any,
) -> None:
    raw = json.dumps(item, default=str, allow_nan=True)[:DEAD_LETTER_PAYLOAD_BYTES]
    try:
        reading = Reading.model_validate(item)
    except ValidationError as exc:
        dead(_reason(exc, item), _describe(exc), raw.encode(), where.station_id)
        return
    _accept(reading, raw, where, topic, received_at, live, settings, out, dead)


def _accept(
    reading: Reading,
    raw: str | None,
    where: Route,
    topic: str,
    received_at: datetime,
    live: bool,
    settings: IngestSettings,
    out: Parsed,
    dead: Any,
) -> None:
    """Checks that need the server clock or the topic; stage the reading with its flags.

    raw is the reading's own text for dead letters; None means "serialise it if rejected"."""

    def body() -> bytes:
        return raw.encode() if raw is not None else reading.model_dump_json(exclude_none=True).encode()

    if where.station_id and reading.station and reading.station != where.station_id:
        dead(
            "topic_mismatch",
            f"payload is for {reading.station!r}, topic for {where.station_id!r}",
            body(),
            where.station_id,
        )
        return
    # One datetime subtraction per reading, then float comparisons: at 50,000 readings/s each
    # aware-datetime operation (tz offsets on both sides) is a measurable share of the parse.
    ahead = (reading.ts - received_at).total_seconds()
    if ahead > settings.future_tolerance_s:
        dead("ts_in_future", f"ts is {ahead:.0f} s ahead of the server clock", body(), where.station_id)
        return
    if ahead < -86_400.0 * settings.raw_retention_days:
        dead(
            "ts_too_old",
            f"ts is older than the {settings.raw_retention_days}-day retention",
            body(),
            where.station_id,
        )
        return
    flags = 0
    if ahead > settings.clock_skew_flag_s:
        flags |= CLOCK_SKEW.bit
    if reading.min_gap_ms is not None and reading.min_gap_ms < settings.double_tip_gap_ms:
        flags |= DOUBLE_TIP.bit
    out.readings.append(Staged(topic, where.station_id, where.dev_eui, reading, flags, received_at, live))


def _status_state(payload: bytes) -> bool | None:
    text = payload.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            return None
        state = doc.get("state") if isinstance(doc, dict) else None
        # Only a string: str() of a deep list would recurse, and no firmware sends anything else.
        text = state if isinstance(state, str) else ""
    return {"online": True, "offline": False}.get(text.lower())


def internal_error(topic: str, payload: bytes, exc: BaseException, received_at: datetime) -> Parsed:
    """What a message becomes when handling it raised: a dead letter naming the exception's
    class, so that one message never stops the loop and nothing it carried is lost."""
    detail = f"{type(exc).__name__}: {str(exc)[:300]}"
    return Parsed(
        dead=[
            DeadLetter(
                printable(topic),
                payload[:DEAD_LETTER_PAYLOAD_BYTES],
                len(payload),
                "internal_error",
                printable(detail),
                received_at,
                exception=type(exc).__name__,
            )
        ]
    )
