"""The vigie_readings payload that wakes the alert engine after each committed batch."""

from __future__ import annotations

import json

from vigie.notify import readings_payload as notify_payload


def test_payload_names_touched_and_wet_stations() -> None:
    data = json.loads(notify_payload(["a-1", "b-2"], ["b-2"], "w1"))
    assert data == {"stations": ["a-1", "b-2"], "wet": ["b-2"], "worker": "w1"}


def test_payload_always_fits_a_notify() -> None:
    # 300 stations of 63 characters: ~19 KB as a list, over PostgreSQL's 8000-byte NOTIFY limit.
    many = [f"s{i:03d}-" + "x" * 58 for i in range(300)]
    data = json.loads(notify_payload(many, many[:5], "w1"))
    assert data["stations"] is None and data["wet"] == many[:5]
    both = json.loads(notify_payload(many, many, "w1"))
    assert both["stations"] is None and both["wet"] is None
    assert len(notify_payload(many, many, "w1").encode()) < 8000
