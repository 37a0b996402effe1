"""The reading fields of docs/mqtt.md, parsed from its table, to check payloads against."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "mqtt.md"
_ROW = re.compile(r"^\| `(?P<name>\w+)` \| (?P<type>[^|]+) \| (?P<req>[^|]+) \|", re.M)
_SPAN = re.compile("(?P<lo>[\u2212-]?\\d+)\u2013(?P<hi>[\u2212-]?\\d+)")
MAX_PAYLOAD = 64 * 1024
MAX_BATCH = 10_000


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # integer | number | string | timestamp
    low: float | None
    high: float | None
    required: bool


def _num(text: str) -> float:
    return float(text.replace("\u2212", "-"))


@cache
def fields() -> dict[str, Field]:
    """The documented reading fields, from the table under '## A reading'."""
    text = DOC.read_text()
    section = text.split("## A reading", 1)[1].split("\n## ", 1)[0]
    out: dict[str, Field] = {}
    for m in _ROW.finditer(section):
        type_text = m["type"].strip()
        kind = "timestamp" if type_text.startswith("ISO") else type_text.split()[0]
        low = high = None
        if span := _SPAN.search(type_text):
            low, high = _num(span["lo"]), _num(span["hi"])
        elif ge := re.search(r"≥ (\d+)", type_text):
            low = float(ge[1])
        elif le := re.search(r"≤ (\d+)", type_text):
            high = float(le[1])
        out[m["name"]] = Field(m["name"], kind, low, high, m["req"].strip() == "yes")
    return out


def reading_errors(reading: dict[str, Any]) -> list[str]:
    """Why a reading breaks the documented contract (empty list: it does not)."""
    errors = []
    known = fields()
    for name in reading:
        if name not in known:
            errors.append(f"undocumented field {name}")
    for f in known.values():
        if f.required and f.name not in reading:
            errors.append(f"missing {f.name}")
    if "tips" not in reading and "counter" not in reading:
        errors.append("neither tips nor counter")
    for name, value in reading.items():
        found = known.get(name)
        if found is None:
            continue
        f = found
        if f.kind == "timestamp":
            if isinstance(value, str):
                if datetime.fromisoformat(value).tzinfo is None:
                    errors.append("ts without offset")
            elif not isinstance(value, int | float) or isinstance(value, bool):
                errors.append("ts of wrong type")
            continue
        if f.kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
            errors.append(f"{name} not an integer")
            continue
        if f.kind == "number" and (
            not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value)
        ):
            errors.append(f"{name} not a finite number")
            continue
        size = len(value) if f.kind == "string" else value
        if f.low is not None and size < f.low:
            errors.append(f"{name} below {f.low}")
        if f.high is not None and size > f.high:
            errors.append(f"{name} above {f.high}")
    return errors


def payload_errors(payload: bytes) -> list[str]:
    """Contract errors of one `up` payload: a reading or a batch."""
    if len(payload) > MAX_PAYLOAD:
        return ["payload over 64 KiB"]
    body = json.loads(payload)
    if isinstance(body, dict) and set(body) == {"readings"}:
        readings = body["readings"]
        if not isinstance(readings, list) or not 1 <= len(readings) <= MAX_BATCH:
            return ["bad batch size"]
        return [e for r in readings for e in reading_errors(r)]
    return reading_errors(body)
