"""The MQTT parser and the ChirpStack mapping under generated hostile input.

Invariant: parse_message never raises, and what it returns is storable: each staged reading
fits its columns (no control character, no lone surrogate, integers in range), each dead letter
has a documented reason and text PostgreSQL accepts, and a message never silently becomes
nothing (an empty batch is the one message with nothing in it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ingest.parse import Parsed, parse_message
from tests.fuzz.invariants import check
from tests.fuzz.strategies import any_text, deep, dumps, huge_numbers, json_values, scalars
from vigie.settings import IngestSettings

ROOT = "vigie/v1"
STATION = "st-fuzz"
DEV_EUI = "0011223344556677"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CFG = IngestSettings()
TOPICS = {
    "up": f"{ROOT}/gauges/{STATION}/up",
    "status": f"{ROOT}/gauges/{STATION}/status",
    "chirpstack": f"application/deux-vallees/device/{DEV_EUI}/event/up",
}
FIELDS = ("ts", "seq", "tips", "counter", "interval_s", "battery_v", "rssi", "fw", "min_gap_ms", "station")


def parse(kind: str, payload: bytes) -> Parsed:
    return check(parse_message(TOPICS[kind], payload, NOW, CFG, ROOT))


def _empty_batch(payload: bytes) -> bool:
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and doc.get("readings") == []


def _something(parsed: Parsed, payload: bytes) -> None:
    if not (parsed.readings or parsed.statuses or parsed.dead):
        assert _empty_batch(payload), payload[:200]


KINDS = st.sampled_from(sorted(TOPICS))


@given(kind=KINDS, payload=st.binary(max_size=2048))
def test_arbitrary_bytes(kind: str, payload: bytes) -> None:
    _something(parse(kind, payload), payload)


@given(
    kind=KINDS,
    head=st.binary(max_size=64),
    size=st.integers(60_000, 70_000),
    fill=st.binary(min_size=1, max_size=4),
)
def test_arbitrary_large_bytes(kind: str, head: bytes, size: int, fill: bytes) -> None:
    # Built rather than drawn whole: around the 64 KiB limit, on both sides of it.
    payload = (head + fill * size)[:size]
    _something(parse(kind, payload), payload)


@given(topic=any_text, payload=st.binary(max_size=256))
def test_arbitrary_topics(topic: str, payload: bytes) -> None:
    parsed = check(parse_message(topic, payload, NOW, CFG, ROOT))
    _something(parsed, payload)


@given(kind=KINDS, value=json_values)
def test_arbitrary_json(kind: str, value: Any) -> None:
    payload = dumps(value)
    _something(parse(kind, payload), payload)


@given(kind=KINDS, payload=deep())
def test_deep_structures(kind: str, payload: bytes) -> None:
    parsed = parse(kind, payload)
    _something(parsed, payload)
    if payload.count(b"[") + payload.count(b"{") > 40 and kind != "status":
        assert not parsed.readings  # nothing that deep is a reading


def _good() -> dict[str, Any]:
    return {"seq": 7, "ts": "2026-12-01T11:55:00Z", "tips": 2, "interval_s": 300, "battery_v": 3.7,
            "rssi": -80, "fw": "1.4.2", "min_gap_ms": 900}  # fmt: skip


@given(field=st.sampled_from(FIELDS), value=st.one_of(scalars, json_values))
def test_every_field_type_swap(field: str, value: Any) -> None:
    reading = {**_good(), field: value}
    payload = dumps(reading)
    parsed = parse("up", payload)
    assert len(parsed.readings) + len(parsed.dead) == 1  # one reading in, one outcome out


@given(field=st.sampled_from(FIELDS), value=huge_numbers)
def test_huge_numbers_in_every_field(field: str, value: Any) -> None:
    parsed = parse("up", dumps({**_good(), field: value}))
    assert len(parsed.readings) + len(parsed.dead) == 1


@given(field=st.sampled_from(("fw", "station", "ts")), text=any_text)
def test_every_unicode_category_in_text_fields(field: str, text: str) -> None:
    parsed = parse("up", dumps({**_good(), field: text}))
    assert len(parsed.readings) + len(parsed.dead) == 1
    if parsed.readings and field == "fw":
        assert parsed.readings[0].reading.fw == text  # stored as sent, only when printable


@given(
    swaps=st.lists(
        st.tuples(st.sampled_from(FIELDS), st.one_of(scalars, json_values)), min_size=1, max_size=20
    )
)
def test_a_bad_reading_in_a_batch_rejects_only_itself(swaps: list[tuple[str, Any]]) -> None:
    ts = [f"2026-12-01T{i // 60:02d}:{i % 60:02d}:00Z" for i in range(len(swaps))]
    readings = [{**_good(), "ts": t, f: v} for t, (f, v) in zip(ts, swaps, strict=True)]
    parsed = parse("up", dumps({"readings": readings}))
    if parsed.dead and parsed.dead[0].reason in ("payload_too_large", "too_deep"):
        return  # refused whole, before any reading is looked at
    assert len(parsed.readings) + len(parsed.dead) == len(readings)


rx = st.fixed_dictionaries({}, optional={"rssi": scalars, "snr": scalars, "gatewayId": any_text})
uplinks = st.fixed_dictionaries(
    {
        "deviceInfo": st.one_of(
            st.fixed_dictionaries({"devEui": st.sampled_from([DEV_EUI, DEV_EUI.upper()]) | any_text}),
            json_values,
        ),
        "object": st.one_of(
            st.builds(lambda f, v: {**_good(), f: v}, st.sampled_from(FIELDS), scalars | json_values),
            json_values,
        ),
    },
    optional={
        "time": st.one_of(st.just("2026-12-01T11:50:00+00:00"), any_text, huge_numbers),
        "fCnt": st.one_of(huge_numbers, scalars),
        "rxInfo": st.one_of(st.lists(rx, max_size=70), json_values),
    },
)


@given(uplink=uplinks)
def test_chirpstack_mapping(uplink: dict[str, Any]) -> None:
    payload = dumps(uplink)
    parsed = parse("chirpstack", payload)
    assert len(parsed.readings) + len(parsed.dead) == 1
    for s in parsed.readings:
        assert s.dev_eui == DEV_EUI and s.station_id is None
