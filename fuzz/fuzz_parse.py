"""atheris (libFuzzer) target for ingest's MQTT parser: `make fuzz`, not part of `make test`.

Coverage-guided, so it reaches what the hypothesis suite's generators do not think of. Each
input picks a topic kind and a payload; parse_message must not raise and its outcome must hold
tests/fuzz/invariants.py. A failure is a crash file in FUZZ_ARTIFACTS (see the Makefile).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]  # no stubs

with atheris.instrument_imports(include=["ingest", "pydantic"]):
    from ingest.parse import parse_message

from tests.fuzz.invariants import check
from vigie.settings import IngestSettings

ROOT = "vigie/v1"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CFG = IngestSettings()
TOPICS = (
    f"{ROOT}/gauges/st-fuzz/up",
    f"{ROOT}/gauges/st-fuzz/status",
    "application/deux-vallees/device/0011223344556677/event/up",
)


def test_one_input(data: bytes) -> None:
    """One libFuzzer input: its first byte picks the topic, the rest is the payload.

    By hand rather than with FuzzedDataProvider, which takes integers from the end of the
    input: the seeds (fuzz/seeds, first byte = topic) stay readable and mutate sensibly."""
    if not data:
        return
    choice, payload = data[0] % (len(TOPICS) + 1), data[1:]
    if choice < len(TOPICS):
        topic = TOPICS[choice]
    else:  # an arbitrary topic: the payload's first 80 bytes, as paho would decode them
        topic, payload = payload[:80].decode("utf-8", "replace"), payload[80:]
    check(parse_message(topic, payload, NOW, CFG, ROOT))


def main() -> None:
    """Run libFuzzer with the command line's flags (-max_total_time, corpus dirs, -dict)."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
