"""The firmware's payload.py and storeforward.py under CPython against docs/mqtt.md.

The same modules run under the real MicroPython in test_micropython.py (same bytes, power cuts)."""

from __future__ import annotations

import importlib.util
import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from simulators.gauges.model import SentReading, encode, reading_fields
from tests.simulators.contract import DOC, fields, payload_errors

GAUGE = Path(__file__).resolve().parents[2] / "firmware" / "gauge"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"firmware_{name}", GAUGE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


payload = _load("payload")
storeforward = _load("storeforward")

_EXAMPLE = re.compile(r"<!-- example: (?P<head>[^>]*?) -->\s*```json\n(?P<body>.*?)```", re.S)


def doc_example(name: str) -> Any:
    for m in _EXAMPLE.finditer(DOC.read_text()):
        if m["head"].split()[0] == name:
            return json.loads(m["body"])
    raise AssertionError(f"no example {name!r} in docs/mqtt.md")


def epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def test_single_reading_is_the_documented_example() -> None:
    doc = doc_example("single")
    r = payload.reading(
        seq=1842, ts=epoch(doc["ts"]), tips=3, interval_s=300, battery_mv=3710, rssi=-87, fw="1.4.2"
    )
    assert json.loads(payload.encode(r)) == doc
    assert payload.encode(r) == json.dumps(doc, separators=(",", ":"))


def test_batch_is_the_documented_example() -> None:
    doc = doc_example("batch")
    items = [
        payload.encode(
            payload.reading(
                seq=r["seq"],
                ts=epoch(r["ts"]),
                tips=r["tips"],
                interval_s=r["interval_s"],
                battery_mv=None if "battery_v" not in r else round(r["battery_v"] * 1000),
            )
        )
        for r in doc["readings"]
    ]
    (body,) = payload.batches(items)
    assert json.loads(body) == doc
    assert payload_errors(body.encode()) == []


def test_counter_readings_follow_the_contract() -> None:
    r = payload.reading(seq=10, ts=1795852800, counter=120, interval_s=300)
    assert json.loads(payload.encode(r)) == {
        "seq": 10,
        "ts": "2026-11-28T08:00:00Z",
        "counter": 120,
        "interval_s": 300,
    }


def test_every_field_is_documented_and_in_range() -> None:
    rng = random.Random(5)
    documented = set(fields())
    for _ in range(500):
        r = payload.reading(
            seq=rng.randint(0, 10**9),
            ts=rng.randint(0, 4_000_000_000),
            tips=rng.randint(0, 500),
            counter=rng.randint(0, 10**9),
            interval_s=rng.randint(1, 86400),
            battery_mv=rng.randint(0, 20000),
            rssi=rng.randint(-200, 0),
            fw="2.0.1-rc1",
            min_gap_ms=rng.randint(0, 100000),
        )
        text = payload.encode(r)
        assert set(json.loads(text)) <= documented
        assert payload_errors(text.encode()) == [], text


def test_iso8601_matches_the_standard_library() -> None:
    rng = random.Random(1)
    for ts in [0, 951782400, 4102444799, *(rng.randint(0, 4_000_000_000) for _ in range(2000))]:
        assert payload.iso8601(ts) == datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_simulator_and_firmware_send_the_same_bytes() -> None:
    rng = random.Random(9)
    for i in range(300):
        sent = SentReading(rng.randint(1_700_000_000, 1_900_000_000), rng.randint(0, 40), i, 300)
        centi = rng.randint(330, 420)
        rssi = rng.randint(-125, -30)
        gap = rng.choice([None, rng.randint(0, 5000)])
        sim = encode(reading_fields(sent, battery_v=centi / 100, rssi=rssi, fw="sim-1.0", min_gap=gap))
        fw = payload.encode(
            payload.reading(
                seq=i,
                ts=sent.ts,
                tips=sent.tips,
                interval_s=300,
                battery_mv=centi * 10,
                rssi=rssi,
                fw="sim-1.0",
                min_gap_ms=gap,
            )
        )
        assert sim == fw.encode()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # neither tips nor counter
        {"tips": -1},
        {"tips": 1.5},
        {"tips": True},
        {"tips": "3"},
        {"tips": 1, "battery_mv": float("nan")},
        {"tips": 1, "battery_mv": 3.7},  # volts where millivolts are due: no float accepted
        {"tips": 1, "battery_mv": 25000},
        {"tips": 1, "rssi": 5},
        {"tips": 1, "rssi": -201},
        {"tips": 1, "interval_s": 0},
        {"tips": 1, "interval_s": 86401},
        {"tips": 1, "fw": "x" * 33},
        {"tips": 1, "fw": 'a"b'},
        {"tips": 1, "min_gap_ms": -5},
        {"tips": 1, "seq_override": -1},
    ],
)
def test_out_of_contract_readings_are_refused(kwargs: dict[str, Any]) -> None:
    seq = kwargs.pop("seq_override", 1)
    with pytest.raises(ValueError):
        payload.reading(seq=seq, ts=1795852800, **kwargs)


@pytest.mark.parametrize("ts", [-1, 1.5, "2026-11-28T14:05:00Z", None, True])
def test_bad_timestamps_are_refused(ts: object) -> None:
    with pytest.raises(ValueError):
        payload.reading(seq=1, ts=ts, tips=1)


def test_topics() -> None:
    assert payload.topic("thourotte-mairie") == "vigie/v1/gauges/thourotte-mairie/up"
    assert payload.topic("bailly-01", "status") == "vigie/v1/gauges/bailly-01/status"
    for bad in ("A", "x", "-abc", "a/b", "a+b", "é-t", "a" * 64):
        with pytest.raises(ValueError):
            payload.topic(bad)
    with pytest.raises(ValueError):
        payload.topic("bailly-01", "config")


def test_batches_stay_under_the_contract_limits() -> None:
    items = [
        payload.encode(
            payload.reading(
                seq=i,
                ts=1795852800 + 300 * i,
                tips=i % 7,
                interval_s=300,
                battery_mv=3700,
                rssi=-90,
                fw="1.4.2",
            )
        )
        for i in range(25_000)
    ]
    bodies = payload.batches(items)
    assert sum(len(json.loads(b)["readings"]) for b in bodies) == 25_000
    assert all(len(b.encode()) <= 60 * 1024 for b in bodies)
    assert [len(json.loads(b)["readings"]) for b in payload.batches(items[:25], max_readings=10)] == [
        10,
        10,
        5,
    ]
    with pytest.raises(ValueError):
        payload.batches(["x" * 100], max_bytes=50)


# --- store-and-forward ring buffer ----------------------------------------------------------


def texts(store: Any) -> list[str]:
    return [d.decode() for _, d in store.peek()]


def test_ring_store_keeps_order_across_restarts(tmp_path: Path) -> None:
    path = str(tmp_path / "readings.ring")
    store = storeforward.RingStore(path, capacity=10, slot=128)
    for i in range(7):
        store.push(f'{{"seq":{i}}}', {"seq": i})
    store.ack(2)  # record numbers 0..2 acknowledged
    again = storeforward.RingStore(path, capacity=10, slot=128)  # a reboot
    assert len(again) == 4 and again.meta == {"seq": 6}
    assert texts(again) == [f'{{"seq":{i}}}' for i in range(3, 7)]
    assert [d for _, d in again.peek(2)] == [b'{"seq":3}', b'{"seq":4}']


def test_ring_store_overwrites_the_oldest_when_full(tmp_path: Path) -> None:
    store = storeforward.RingStore(str(tmp_path / "r"), capacity=5, slot=64)
    for i in range(12):
        store.push(f'{{"seq":{i}}}')
    assert len(store) == 5 and store.dropped == 7
    assert [json.loads(x)["seq"] for x in texts(store)] == [7, 8, 9, 10, 11]
    # File size never grows: bounded flash use.
    assert (tmp_path / "r").stat().st_size == 5 * 64


def test_ring_store_replays_as_a_valid_batch(tmp_path: Path) -> None:
    store = storeforward.RingStore(str(tmp_path / "r"), capacity=100)
    for i in range(40):
        store.push(
            payload.encode(
                payload.reading(seq=i, ts=1795852800 + 300 * i, tips=i % 3, interval_s=300, battery_mv=3650)
            )
        )
    (body,) = payload.batches(texts(store))
    assert payload_errors(body.encode()) == []
    assert [r["seq"] for r in json.loads(body)["readings"]] == list(range(40))
    store.ack(39)
    assert len(store) == 0 and store.peek() == []


def test_ring_store_refuses_bad_input_and_survives_a_damaged_index(tmp_path: Path) -> None:
    path = str(tmp_path / "r")
    store = storeforward.RingStore(path, capacity=4, slot=40)
    for bad in ("x" * 40, "two\nlines"):
        with pytest.raises(ValueError):
            store.push(bad)
    store.push('{"seq":1}')
    store.push('{"seq":2}')
    with pytest.raises(ValueError):
        store.ack(5)
    with pytest.raises(ValueError):
        storeforward.RingStore(path, capacity=0)
    Path(path + ".idx").write_text("garbage")
    # The index is rebuilt from the slots' record numbers and CRCs: nothing is lost.
    recovered = storeforward.RingStore(path, capacity=4, slot=40)
    assert texts(recovered) == ['{"seq":1}', '{"seq":2}']
    # A torn slot (FAT, no copy-on-write) fails its CRC and is never sent.
    with open(path, "r+b") as f:
        f.seek(20)
        f.write(b"#")
    assert [d for _, d in storeforward.RingStore(path, capacity=4, slot=40).peek()] == [None, b'{"seq":2}']
