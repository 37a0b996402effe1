"""Fault injection at chosen rates: a table of injectors applied to the stream of messages.

Faults never remove a good reading from the stream, so the ground truth stays exact: a
duplicate is an extra identical copy, a malformed payload is an extra corrupted copy sent
before the good one (a radio glitch, then the retry), an out-of-order message is held back
behind its station's next message, and clock skew moves a live reading's `ts` ahead.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from simulators.gauges.errors import SimulatorError
from simulators.gauges.model import Message, SentReading, iso

# Clock skew range, s: above ingest's 30 s flag, below its 5 min future limit.
SKEW_MIN_S, SKEW_MAX_S = 35, 240


@dataclass(frozen=True)
class Malformation:
    """One way to spoil a payload, and the dead-letter reason ingest must give it."""

    name: str
    reason: str
    corrupt: Callable[[dict[str, Any] | None, bytes], bytes]
    single_only: bool  # needs a single reading's fields


def _with(fields: dict[str, Any] | None, key: str, value: object) -> bytes:
    assert fields is not None
    return json.dumps({**fields, key: value}, separators=(",", ":")).encode()


MALFORMATIONS: tuple[Malformation, ...] = (
    Malformation("truncated", "malformed_json", lambda _f, p: p[: max(1, len(p) // 2)], False),
    Malformation("not_utf8", "malformed_json", lambda _f, p: b"\xff\xfe" + p, False),
    Malformation("wrong_type", "invalid_reading", lambda f, _p: _with(f, "tips", "beaucoup"), True),
    Malformation("nan", "non_finite", lambda f, _p: _with(f, "battery_v", math.nan), True),
    Malformation("negative", "negative_tips", lambda f, _p: _with(f, "tips", -3), True),
)


@dataclass(frozen=True)
class FaultRates:
    """Probability per eligible message of each fault."""

    duplicates: float = 0.0
    out_of_order: float = 0.0
    malformed: float = 0.0
    clock_skew: float = 0.0

    def __post_init__(self) -> None:
        for name in ("duplicates", "out_of_order", "malformed", "clock_skew"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise SimulatorError(f"fault rate {name} must be between 0 and 1, not {value!r}")


@dataclass
class FaultState:
    """What the injectors remember between messages, and what they did."""

    rng: random.Random
    live: bool  # clock skew only makes sense on readings sent as they happen
    held: dict[str, Message] = field(default_factory=dict)
    used_ts: dict[str, set[int]] = field(default_factory=dict)
    injected: dict[str, int] = field(default_factory=dict)
    eligible: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> None:
        self.injected[name] = self.injected.get(name, 0) + 1


def _single(_state: FaultState, message: Message) -> bool:
    return message.kind == "up" and not message.is_batch and len(message.readings) == 1


def _up(_state: FaultState, message: Message) -> bool:
    return message.kind == "up"


def _live_single(state: FaultState, message: Message) -> bool:
    return state.live and _single(state, message)


def _holdable(state: FaultState, message: Message) -> bool:
    return _single(state, message) and message.station not in state.held


def _duplicate(state: FaultState, message: Message) -> list[Message]:
    return [message, replace(message, fault="duplicate")]


def _malformed(state: FaultState, message: Message) -> list[Message]:
    choices = [m for m in MALFORMATIONS if _single(state, message) or not m.single_only]
    kind = state.rng.choice(choices)
    fields = json.loads(message.payload) if kind.single_only else None
    bad = Message(message.station, "up", kind.corrupt(fields, message.payload), fault=kind.name)
    state.dead_letters[kind.reason] = state.dead_letters.get(kind.reason, 0) + 1
    return [bad, message]


def _clock_skew(state: FaultState, message: Message) -> list[Message]:
    reading = message.readings[0]
    used = state.used_ts.setdefault(message.station, set())
    for _ in range(20):
        skew = state.rng.randint(SKEW_MIN_S, SKEW_MAX_S)
        ts = reading.ts + skew
        # Never land on another reading's ts: (station, ts) is the idempotency key.
        if skew % reading.interval_s and ts not in used:
            break
    else:
        return [message]
    used.add(ts)
    fields = json.loads(message.payload)
    fields["ts"] = iso(ts)
    skewed = SentReading(ts, reading.tips, reading.seq, reading.interval_s)
    payload = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    return [replace(message, payload=payload, readings=(skewed,), fault="clock_skew")]


def _out_of_order(state: FaultState, message: Message) -> list[Message]:
    # Held back: released right after this station's next message, which is newer.
    state.held[message.station] = replace(message, fault="out_of_order")
    return []


@dataclass(frozen=True)
class Fault:
    """One injector: its name, which messages it may touch and what it does to one."""

    name: str
    eligible: Callable[[FaultState, Message], bool]
    apply: Callable[[FaultState, Message], list[Message]]
    rate: Callable[[FaultRates], float]


FAULTS: tuple[Fault, ...] = (
    Fault("clock_skew", _live_single, _clock_skew, lambda r: r.clock_skew),
    Fault("out_of_order", _holdable, _out_of_order, lambda r: r.out_of_order),
    Fault("malformed", _up, _malformed, lambda r: r.malformed),
    Fault("duplicates", _up, _duplicate, lambda r: r.duplicates),
)


@dataclass
class FaultInjector:
    """Applies FAULTS to each message at the configured rates; seeded, so runs repeat."""

    rates: FaultRates
    rng: random.Random
    live: bool = True
    state: FaultState = field(init=False)

    def __post_init__(self) -> None:
        self.state = FaultState(self.rng, self.live)

    def process(self, message: Message) -> list[Message]:
        """The messages to publish in place of `message` (possibly none, for now)."""
        out = [message]
        for fault in FAULTS:
            rate = fault.rate(self.rates)
            if rate <= 0:
                continue
            nxt: list[Message] = []
            for m in out:
                if m.fault is None and fault.eligible(self.state, m):
                    self.state.eligible[fault.name] = self.state.eligible.get(fault.name, 0) + 1
                    if self.rng.random() < rate:
                        self.state.count(fault.name)
                        nxt.extend(fault.apply(self.state, m))
                        continue
                nxt.append(m)
            out = nxt
        held = self.state.held.pop(message.station, None) if out else None
        if held is not None and message.kind == "up":
            out.append(held)
        elif held is not None:
            self.state.held[message.station] = held
        return out

    def drain(self) -> list[Message]:
        """Messages still held back, at the end of a run."""
        held = list(self.state.held.values())
        self.state.held.clear()
        return held
