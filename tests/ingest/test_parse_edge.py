"""The edge checks issue 13 added to the parser, one named test per new dead-letter reason
(the same classes also go through the real broker in test_hostile.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ingest.parse import MAX_JSON_DEPTH, internal_error, parse_message, printable
from vigie.settings import IngestSettings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
UP = "vigie/v1/gauges/st-edge/up"
GOOD = {"ts": "2026-12-01T11:55:00Z", "tips": 1}


def _reasons(payload: bytes, topic: str = UP) -> list[str]:
    parsed = parse_message(topic, payload, NOW, IngestSettings(), "vigie/v1")
    return [d.reason for d in parsed.dead] + ["stored"] * len(parsed.readings)


DEEP_40 = "[" * 40 + "]" * 40


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 3000 + b"]" * 3000,  # past json's recursion limit: RecursionError inside loads
        b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),  # loads fine, still too deep
        # a batch whose second reading is bad takes the item-by-item path, which checks depth
        ('{"readings": [' + json.dumps(GOOD) + ', {"tips": "x", "deep": ' + DEEP_40 + "}]}").encode(),
    ],
)
def test_too_deep_json_is_refused_whole(payload: bytes) -> None:
    assert _reasons(payload) == ["too_deep"]


def test_deep_ignored_field_of_a_valid_reading_is_stored() -> None:
    """pydantic's fast path (depth limit 200) ignores unknown fields: a valid reading with a
    deep extra field is stored, the field dropped. Documented in docs/mqtt.md."""
    payload = ('{"ts": "2026-12-01T11:55:00Z", "tips": 1, "deep": ' + DEEP_40 + "}").encode()
    assert _reasons(payload) == ["stored"]


def test_nesting_within_the_limit_is_parsed() -> None:
    doc = {"readings": [{**GOOD, "x": [[1]]}]}
    assert _reasons(json.dumps(doc).encode()) == ["stored"]


@pytest.mark.parametrize("text", ["1.4\x00", "\x07", "a\x1b[2J", "\x7f", "1.\x9b4", "\ud800"])
@pytest.mark.parametrize("field", ["fw", "station"])
def test_control_character_in_fw_or_station_is_refused(field: str, text: str) -> None:
    assert _reasons(json.dumps({**GOOD, field: text}).encode()) == ["control_character"]


def test_printable_text_is_kept_as_sent() -> None:
    assert _reasons(json.dumps({**GOOD, "fw": "v1.4.2-é✓"}).encode()) == ["stored"]


def test_internal_error_keeps_the_message_and_names_the_class() -> None:
    parsed = internal_error("vigie/v1/gauges/st-edge/up\x00", b"x" * 5000, KeyError("k\x00"), NOW)
    (d,) = parsed.dead
    assert (d.reason, d.exception) == ("internal_error", "KeyError")
    assert (d.payload_size, len(d.payload)) == (5000, 4096)
    assert "\x00" not in d.topic and "\x00" not in d.detail and d.detail.startswith("KeyError")


def test_printable_escapes_what_text_columns_refuse() -> None:
    assert printable("a\x00b\ud800\x9b") == "a\\x00b\\ud800\\x9b"
    assert printable("déjà vu") == "déjà vu"
