"""The NOTIFY channels the services share, and the one payload that is more than an id.

Writers and listeners live in different services (ingest notifies, the alerts engine listens;
the engine and SQL functions notify, the CAP writer and the notifier listen), so both sides take
the names and the readings payload's format from here.

| channel | sent by | payload | listened to by |
|---|---|---|---|
| `vigie_readings` | ingest, at each committed batch | `readings_payload()` | alerts engine |
| `vigie_incident_change` | alerts engine (and 100_alerts_core's SQL) | the change id | CAP writer, notifier |
| `vigie_delivery` | `vigie_request_test_send()` (140_alerts_notify) | the subscriber id | notifier |
| `vigie_station_status` | ingest, when a status message was stored | the worker | API live stream |
| `vigie_exercise` | the API, when an admin starts an exercise | the exercise id | exercise runner |
| `vigie_camera_config` | the API, when a camera or its masks change | the camera id | camera supervisor |
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

READINGS = "vigie_readings"
INCIDENT_CHANGE = "vigie_incident_change"
DELIVERY = "vigie_delivery"
EXERCISE = "vigie_exercise"
# A Last Will or an `online` that came alone, with no reading to wake the live stream.
STATION_STATUS = "vigie_station_status"

# NOTIFY payloads must stay under 8000 bytes; past this many stations we say "many" (null).
_NOTIFY_MAX_BYTES = 7900
_STATION_MAX = 63


def readings_payload(stations: list[str], wet: list[str], worker: str) -> str:
    """The vigie_readings payload: the stations touched, and those that got rain.

    "wet" lets the alert engine evaluate the stations that got rain at once and leave the dry
    ones (heartbeats, most of a big fleet's traffic) to a deferred pass. A list that would not
    fit in a NOTIFY (8000 bytes) becomes null, which means "many: catch up on everything".
    """
    payload: dict[str, Any] = {"stations": stations, "wet": wet, "worker": worker}
    for key in ("stations", "wet"):
        text = json.dumps(payload)
        if len(text.encode()) <= _NOTIFY_MAX_BYTES:
            return text
        payload[key] = None
    return json.dumps(payload)


@dataclass(frozen=True)
class ReadingsNotice:
    """What one vigie_readings notification asks of the engine."""

    # Evaluate these stations at once; None means "many, or unreadable: catch up on everything".
    now: frozenset[str] | None
    # Other stations got only dry readings: a catch-up pass may wait a few seconds for them.
    deferred: bool = False


def _station_list(value: object) -> frozenset[str] | None:
    if not isinstance(value, list):
        return None
    return frozenset(s for s in value if isinstance(s, str) and 0 < len(s) <= _STATION_MAX)


def parse_readings_payload(payload: str) -> ReadingsNotice:
    """Read a vigie_readings payload defensively; anything odd means "catch up now"."""
    if len(payload) > 64_000:
        return ReadingsNotice(None)
    try:
        data = json.loads(payload)
    except ValueError:
        return ReadingsNotice(None)
    if not isinstance(data, dict):
        return ReadingsNotice(None)
    stations = _station_list(data.get("stations"))
    if "wet" not in data:  # a writer that does not say which stations got rain
        return ReadingsNotice(stations)
    wet = _station_list(data["wet"])
    if wet is None:
        return ReadingsNotice(None)
    return ReadingsNotice(wet, deferred=stations is None or bool(stations - wet))


# A camera was added, changed or removed (its masks among the rest), by the API; the camera
# worker's supervisor wakes at once instead of at its next reload, and a running worker applies
# new masks without restarting. Payload: the camera id.
CAMERA_CONFIG = "vigie_camera_config"
