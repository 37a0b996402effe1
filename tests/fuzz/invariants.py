"""What every outcome of ingest's parser must hold, for the hypothesis suite and the atheris
target alike: storable, documented, never a silent nothing."""

from __future__ import annotations

import math

from ingest.parse import DEAD_LETTER_PAYLOAD_BYTES, Parsed

# docs/mqtt.md, "What is refused": the reasons parse can give (the writer adds its own).
PARSE_REASONS = {
    "payload_too_large", "malformed_json", "too_deep", "batch_too_large", "invalid_reading",
    "non_finite", "negative_tips", "control_character", "ts_in_future", "ts_too_old",
    "topic_mismatch", "bad_status",
}  # fmt: skip
INT_RANGES = {
    "seq": (0, 2**63 - 1),
    "tips": (0, 2**31 - 1),
    "counter": (0, 2**63 - 1),
    "interval_s": (1, 2**31 - 1),
    "rssi": (-(2**15), 2**15 - 1),
}


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _printable_field(text: str) -> bool:
    return _storable(text) and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def check(parsed: Parsed) -> Parsed:
    """The invariants every outcome of parse_message must hold."""
    for d in parsed.dead:
        assert d.reason in PARSE_REASONS, d.reason
        assert _storable(d.topic) and _storable(d.detail), (d.topic, d.detail)
        assert len(d.payload) <= DEAD_LETTER_PAYLOAD_BYTES and d.payload_size >= len(d.payload)
    for s in parsed.readings:
        r = s.reading
        assert r.ts.tzinfo is not None
        assert r.tips is not None or r.counter is not None
        for name, (lo, hi) in INT_RANGES.items():
            value = getattr(r, name)
            assert value is None or (type(value) is int and lo <= value <= hi), (name, value)
        assert r.battery_v is None or (math.isfinite(r.battery_v) and 0 <= r.battery_v <= 20)
        for text in (r.fw, r.station, s.topic, s.dev_eui):
            assert text is None or _printable_field(text), text
    return parsed
