"""make bench-firmware: the gauge firmware under MicroPython's Unix port with the simulated board.

Energy proxies (wake-ups and radio-on seconds per day, dry / typical rainy / stormy), the battery
life they give with the model of firmware/README.md, RAM during a 500-reading replay, and the
time to replay 24 h of buffered readings to a real Mosquitto. Prints one JSON line and records
it in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.firmware.micropython import run_json  # noqa: E402
from tests.support import free_port  # noqa: E402
from vigie.broker import LocalBroker  # noqa: E402

# The energy model (firmware/README.md cites the sources).
SLEEP_UA = 10 + 2 + 4  # ESP32 deep sleep (RTC timer + memory) + LDO quiescent + 1 MΩ divider
AWAKE_MA = 40  # CPU awake without radio (modem-sleep range of the datasheet)
RADIO_MA = 120  # Wi-Fi on: association, TCP, MQTT (RX 95-100 mA, TX bursts 180-240 mA)
SELF_DISCHARGE_PER_MONTH = 0.02  # Li-ion 18650
CAPACITY_MAH = 3000
USABLE = 0.85  # low-battery cut-off and cold
RAINY_DAYS, DAYS = 120, 365
OISE_MM = 650
# An ESP32 without PSRAM leaves ~110 KiB to Python with 4-byte pointers; the Unix port on
# x86_64 has 8-byte ones, so its objects are up to twice as big: 96 KiB here is the tighter case.
HEAP = "96K"


def mah_per_day(d: dict[str, float]) -> float:
    sleep_h = 24 - (d["awake_s"] + d["radio_s"]) / 3600
    return (
        SLEEP_UA / 1000 * sleep_h
        + AWAKE_MA * d["awake_s"] / 3600
        + RADIO_MA * d["radio_s"] / 3600
        + CAPACITY_MAH * SELF_DISCHARGE_PER_MONTH / 30
    )


def life_days(dry: dict[str, float], rainy: dict[str, float]) -> float:
    per_day = ((DAYS - RAINY_DAYS) * mah_per_day(dry) + RAINY_DAYS * mah_per_day(rainy)) / DAYS
    return CAPACITY_MAH * USABLE / per_day


def main() -> None:
    directory = Path(tempfile.mkdtemp(prefix="vigie-bench-fw-"))
    directory.chmod(0o755)
    broker = LocalBroker(directory, free_port())
    broker.start()
    station, password = "bench-fw", uuid.uuid4().hex
    broker.add_device(station, password)
    try:
        out = run_json(
            "case_bench.py",
            {
                "start": 1795852800,
                "station": station,
                "port": broker.port,
                "password": password,
                "rainy_mm": OISE_MM / RAINY_DAYS,
                "rainy_h": 4,
                "storm_mm": 30,
                "storm_h": 6,
            },
            timeout=1800,
            heap="8M",
        )
        ram = run_json(
            "case_ram.py",
            {
                "start": 1795852800,
                "readings": 500,
                "station": station,
                "port": broker.port,
                "password": password,
            },
            timeout=600,
            heap=HEAP,
        )
    finally:
        broker.stop()
    days = out["days"]
    dry, rainy, storm = days["dry"], days["rainy"], days["storm"]
    where = {
        name: round(value, 3)
        for name, value in {
            "sleep_mah_day": SLEEP_UA / 1000 * 24,
            "radio_mah_dry_day": RADIO_MA * dry["radio_s"] / 3600,
            "radio_mah_rainy_day": RADIO_MA * rainy["radio_s"] / 3600,
            "cpu_mah_dry_day": AWAKE_MA * dry["awake_s"] / 3600,
            "self_discharge_mah_day": CAPACITY_MAH * SELF_DISCHARGE_PER_MONTH / 30,
        }.items()
    }
    result = {
        "bench": "firmware",
        "battery_life_days": round(life_days(dry, rainy), 1),
        "battery_life_days_heartbeat_30min": round(life_days(days["dry_30min"], days["rainy_30min"]), 1),
        "wakeups_per_day_dry": dry["wakeups"],
        "wakeups_per_day_rainy": rainy["wakeups"],
        "wakeups_per_day_storm": storm["wakeups"],
        "radio_s_per_day_dry": round(dry["radio_s"], 1),
        "radio_s_per_day_rainy": round(rainy["radio_s"], 1),
        "radio_s_per_day_storm": round(storm["radio_s"], 1),
        "mah_per_day_dry": round(mah_per_day(dry), 2),
        "mah_per_day_rainy": round(mah_per_day(rainy), 2),
        "mah_per_day_storm": round(mah_per_day(storm), 2),
        "energy_mah_day": where,
        "ram_heap_bytes": HEAP,
        "ram_free_before_bytes": ram["free_before"],
        "ram_free_min_bytes": ram["free_min"],
        "ram_free_after_bytes": ram["free_after"],
        "ram_replayed": ram["held"] - ram["left"],
        "replay_24h_s": round(out["replay"]["ms"] / 1000, 2),
        "replay_24h_readings": out["replay"]["held"] - out["replay"]["left"],
        "machine": f"{platform.node()} {platform.machine()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    print(json.dumps(result))
    record(result)


def record(result: dict[str, object]) -> None:
    doc = REPO / "docs" / "benchmarks.md"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    head = "## Firmware (make bench-firmware)"
    section = (
        f"{head}\n\nMicroPython 1.25 Unix port, simulated board, real Mosquitto on loopback; "
        f"{result['machine']}, {result['date']}. Model and assumptions: firmware/README.md.\n\n"
        f"```json\n{json.dumps(result, indent=1)}\n```\n"
    )
    if head in text:
        before, _, rest = text.partition(head)
        after = rest.split("\n## ", 1)
        text = before + section + ("\n## " + after[1] if len(after) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text)


if __name__ == "__main__":
    main()
