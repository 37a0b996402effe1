"""make bench-firmware: the gauge firmware under MicroPython's Unix port with the simulated board.

Energy proxies (wake-ups and radio-on seconds per day, dry / typical rainy / stormy), the battery
life they give with the model of firmware/README.md, RAM during a 500-reading replay, and the
time to replay 24 h of buffered readings to a real Mosquitto. Prints one JSON line and records
it in docs/benchmarks.md.
"""

from __future__ import annotations

import hashlib
import json
import os
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
LIGHT_MA = 0.8  # light sleep between rain reports (datasheet)
RADIO_MA = 120  # Wi-Fi on: association, TCP, MQTT (RX 95-100 mA, TX bursts 180-240 mA)
# The cell's self-discharge, a share of its capacity per day (firmware/README.md, "The cell"):
# a Li-ion 18650 at 2 % a month (of 30 days), and a lithium-thionyl chloride (Li-SOCl2) bobbin
# cell at 1 % a year, which cannot give the radio's current alone: it needs a pulse capacitor.
CELLS = {"": 0.02 / 30, "_lisocl2": 0.01 / 365}
CELL_NAMES = {"": "Li-ion", "_lisocl2": "Li-SOCl2"}
CAPACITY_MAH = 3000
USABLE = 0.85  # low-battery cut-off and cold
RAINY_DAYS, DAYS = 120, 365
OISE_MM = 650
TARGET_DAYS = 365  # the target: 12 months on a 3,000 mAh cell
SSID, PASSPHRASE = "CC2V-Capteurs", "bench-passphrase"  # the simulated site's network
# An ESP32 without PSRAM leaves ~110 KiB to Python with 4-byte pointers; the Unix port on
# x86_64 has 8-byte ones, so its objects are up to twice as big; and the simulated board's own
# code and state share this heap, which the real board does not have: 128 KiB here is tighter.
HEAP = "128K"
PHASES = (
    "scan", "psk", "assoc", "dhcp", "ntp", "dns", "mqtt_connect", "config", "status", "publish", "link_idle",
    "disconnect",
)  # fmt: skip
COUNTS = ("joins", "pbkdf2", "dhcp", "scans", "ntp", "dns", "config_reads", "publishes")
CONFIGURATIONS = (
    ("defaults (15 min heartbeat, saved access point, the PSK in config.json, lease reused 30 min,"
     " NTP, DNS and config daily, persistent session; access point on channel 6)", ""),
    ("previous schedule, same timing model (DHCP every wake-up, clean session, NTP and config"
     " every 6 h, DNS at every connection, the passphrase)", "_before"),
    ("defaults with the passphrase instead of the PSK (PBKDF2 at every join)", "_passphrase"),
    ("defaults with the router's 24 h lease in config.json (`wifi_lease_s`)", "_lease24h"),
    ("defaults with a static address (`wifi_static_ip`)", "_static"),
    ("defaults, the site's access point on channel 1", "_ch1"),
    ("static address and the access point on channel 1", "_static_ch1"),
    ("defaults with a 30 min heartbeat (breaks the issue's 15 min contract; for scale)", "_30min"),
)  # fmt: skip


def self_discharge_mah_day(cell: str) -> float:
    return CAPACITY_MAH * CELLS[cell]


def mah_per_day(d: dict[str, float], cell: str = "") -> float:
    sleep_h = 24 - (d["awake_s"] + d["radio_s"] + d["light_s"]) / 3600
    return (
        SLEEP_UA / 1000 * sleep_h
        + LIGHT_MA * d["light_s"] / 3600
        + AWAKE_MA * d["awake_s"] / 3600
        + RADIO_MA * d["radio_s"] / 3600
        + self_discharge_mah_day(cell)
    )


def wake_breakdown(d: dict[str, object]) -> dict[str, float]:
    """Radio-on ms per phase for one wake-up (the day's total over its deep-sleep wake-ups)."""
    by = d["radio_by_ms"]
    wakes = d["deep_wakeups"]
    assert isinstance(by, dict) and isinstance(wakes, int) and wakes > 0
    phases = {p: round(by.get(p, 0) / wakes, 1) for p in PHASES}
    phases["radio_total"] = round(sum(by.values()) / wakes, 1)
    awake_s = d["awake_s"]
    assert isinstance(awake_s, float)
    phases["cpu_only_boot"] = round(awake_s * 1000 / wakes, 1)
    return phases


def life_days(dry: dict[str, float], rainy: dict[str, float], cell: str = "") -> float:
    per_day = ((DAYS - RAINY_DAYS) * mah_per_day(dry, cell) + RAINY_DAYS * mah_per_day(rainy, cell)) / DAYS
    return CAPACITY_MAH * USABLE / per_day


def lives(days: dict[str, dict[str, float]]) -> dict[str, float]:
    """battery_life_days<configuration><cell> for every configuration and cell of the run."""
    return {
        f"battery_life_days{suffix}{cell}": round(
            life_days(days["dry" + suffix], days["rainy" + suffix], cell), 1
        )
        for _, suffix in CONFIGURATIONS
        for cell in CELLS
    }


def main() -> None:
    load_start = os.getloadavg()
    directory = Path(tempfile.mkdtemp(prefix="vigie-bench-fw-"))
    directory.chmod(0o755)
    broker = LocalBroker(directory, free_port())
    broker.start()
    station, password = "bench-fw", uuid.uuid4().hex
    broker.add_device(station, password)
    try:
        ram = run_json(
            "case_ram.py",
            {
                "start": 1795852800,
                "readings": 500,
                "station": station,
                "port": broker.devices_port,
                "password": password,
            },
            timeout=600,
            heap=HEAP,
        )
        out = run_json(
            "case_bench.py",
            {
                "start": 1795852800,
                "station": station,
                "port": broker.devices_port,
                "password": password,
                # The site's Wi-Fi as provisioned (firmware/psk.py): the PSK beside the passphrase.
                "ssid": SSID,
                "passphrase": PASSPHRASE,
                "psk": hashlib.pbkdf2_hmac("sha1", PASSPHRASE.encode(), SSID.encode(), 4096, 32).hex(),
                "rainy_mm": OISE_MM / RAINY_DAYS,
                "rainy_h": 4,
                "storm_mm": 30,
                "storm_h": 6,
            },
            timeout=1800,
            heap="8M",
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
            "light_sleep_mah_rainy_day": LIGHT_MA * rainy["light_s"] / 3600,
            "self_discharge_mah_day": self_discharge_mah_day(""),
            "self_discharge_mah_day_lisocl2": self_discharge_mah_day("_lisocl2"),
        }.items()
    }
    life = lives(days)
    result = {
        "bench": "firmware",
        # The strict default: the firmware's defaults, a Li-ion cell, a site that assumes nothing.
        "battery_life_days": life["battery_life_days"],
        "battery_life_vs_target": round(life["battery_life_days"] / TARGET_DAYS, 3),
        **life,
        # Which of them keep the contract and reach 365 days (the 30 min one breaks it).
        "target_met_by": [
            f"{label.split(' (')[0]}, {cell_name}"
            for label, suffix in CONFIGURATIONS
            for cell, cell_name in CELL_NAMES.items()
            if suffix != "_30min" and life[f"battery_life_days{suffix}{cell}"] >= TARGET_DAYS
        ],
        "wakeups_per_day_dry": dry["wakeups"],
        "wakeups_per_day_rainy": rainy["wakeups"],
        "wakeups_per_day_storm": storm["wakeups"],
        "radio_s_per_day_dry": round(dry["radio_s"], 1),
        "radio_s_per_day_rainy": round(rainy["radio_s"], 1),
        "radio_s_per_day_storm": round(storm["radio_s"], 1),
        "radio_s_per_day_dry_before": round(days["dry_before"]["radio_s"], 1),
        "mah_per_day_dry": round(mah_per_day(dry), 2),
        "mah_per_day_rainy": round(mah_per_day(rainy), 2),
        "mah_per_day_storm": round(mah_per_day(storm), 2),
        "energy_mah_day": where,
        # One dry-day wake-up, on average: radio-on ms per phase, as the simulated firmware
        # spent them (the first boot's scan, DHCP and config wait included), then CPU and sleep.
        "wake_ms_dry": wake_breakdown(dry),
        "wake_ms_dry_before": wake_breakdown(days["dry_before"]),
        "per_day_dry": {k: dry[k] for k in COUNTS},
        "per_day_dry_before": {k: days["dry_before"][k] for k in COUNTS},
        "costs_ms": days["costs_ms"],
        "ram_heap_bytes": HEAP,
        "ram_free_before_bytes": ram["free_before"],
        "ram_free_min_bytes": ram["free_min"],
        # The simulated board shares the heap; what each takes, measured after a collection:
        # the board (its code and world) before the firmware loads, then the firmware's own
        # live bytes when idle (Gauge built) and at the replay's peak (link, umqtt, a batch).
        "ram_board_bytes": ram["board_bytes"],
        "ram_firmware_idle_bytes": ram["firmware_idle_bytes"],
        "ram_firmware_peak_bytes": ram["firmware_peak_bytes"],
        "ram_free_min_live_bytes": ram["free_min_live"],
        "ram_free_after_bytes": ram["free_after"],
        "ram_replayed": ram["held"] - ram["left"],
        "replay_24h_s": round(out["replay"]["ms"] / 1000, 2),
        "replay_24h_readings": out["replay"]["held"] - out["replay"]["left"],
        "replay_backoff_s": out["replay"]["backoff_s"],
        "machine": f"{platform.node()} {platform.machine()}",
        # The machine is shared: only replay_24h_s (CPU time) depends on its load; the energy
        # figures are simulated time.
        "load_avg_1_5_15_start": [round(x, 1) for x in load_start],
        "load_avg_1_5_15_end": [round(x, 1) for x in os.getloadavg()],
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    print(json.dumps(result))
    record(result)


def record(result: dict[str, object]) -> None:
    """Write the run into docs/benchmarks.md, replacing the previous firmware section."""
    doc = REPO / "docs" / "benchmarks.md"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    head = "## Firmware (make bench-firmware)"
    e = result["energy_mah_day"]
    assert isinstance(e, dict)
    w, wb = result["wake_ms_dry"], result["wake_ms_dry_before"]
    n, nb = result["per_day_dry"], result["per_day_dry_before"]
    assert isinstance(w, dict) and isinstance(wb, dict) and isinstance(n, dict) and isinstance(nb, dict)
    met = result["target_met_by"]
    assert isinstance(met, list)
    configs = "\n".join(
        f"| {label} | {result[f'battery_life_days{key}']} | {result[f'battery_life_days{key}_lisocl2']} |"
        for label, key in CONFIGURATIONS
    )
    rows = "\n".join(f"| {p} | {wb[p]} | {w[p]} |" for p in (*PHASES, "radio_total", "cpu_only_boot"))
    section = f"""{head}

MicroPython 1.25 Unix port, simulated board (tests/firmware/mpy/simboard.py), real Mosquitto on
loopback; {result["machine"]}, {result["date"]}, load average (1, 5, 15 min)
{result["load_avg_1_5_15_start"]} at the start and {result["load_avg_1_5_15_end"]} at the end (2 cores,
shared; only the replay's CPU time depends on it). The model and its sources: firmware/README.md
("Energy model"). A year is 245 dry days and 120 rainy ones (650 mm: 5.4 mm over 4 h each); the
stormy day is 30 mm over 6 h. Target: 365 days on a 3,000 mAh cell. The radio time is what the
firmware's own steps add up to on the simulated board, each step charged with the durations of
`simboard.COSTS` (none of them measured on a board here).

| configuration | Li-ion 18650 (days) | Li-SOCl2 + pulse capacitor (days) |
|---|---|---|
{configs}

Met (365 days, the 15 min contract kept): {"; ".join(met) or "none"}. The strict default
(`battery_life_days`) is the first row's Li-ion figure: **{result["battery_life_days"]} days, the
target is not met without an assumption about the site or the cell**.

One dry-day wake-up, radio-on ms per phase (the day's total over its
{result["wakeups_per_day_dry"]} wake-ups):

| phase | previous schedule | defaults |
|---|---|---|
{rows}

Per dry day (defaults / previous): {n["joins"]} / {nb["joins"]} joins, {n["pbkdf2"]} / {nb["pbkdf2"]}
key derivations (PBKDF2), {n["dhcp"]} / {nb["dhcp"]}
DHCP exchanges, {n["scans"]} / {nb["scans"]} scans, {n["ntp"]} / {nb["ntp"]} NTP requests,
{n["dns"]} / {nb["dns"]} DNS requests,
{n["config_reads"]} / {nb["config_reads"]} config reads.
Where the energy goes (defaults, mAh per day): radio {e["radio_mah_dry_day"]} on a dry day
and {e["radio_mah_rainy_day"]} on a rainy one; self-discharge {e["self_discharge_mah_day"]} (Li-ion;
{e["self_discharge_mah_day_lisocl2"]} for Li-SOCl2); deep sleep
{e["sleep_mah_day"]}; CPU awake without radio {e["cpu_mah_dry_day"]} (dry day); light sleep between rain
reports {e["light_sleep_mah_rainy_day"]} (rainy day). {result["radio_s_per_day_dry"]} s of radio on a dry
day ({result["radio_s_per_day_dry_before"]} s before), {result["radio_s_per_day_rainy"]} s on a rainy day,
{result["radio_s_per_day_storm"]} s on a stormy day ({result["wakeups_per_day_storm"]} wake-ups).

RAM: replaying 500 buffered readings to the broker in a {result["ram_heap_bytes"]} heap (the
Unix port's 64-bit objects are up to twice an ESP32's): {result["ram_free_before_bytes"]} bytes
free before, {result["ram_free_min_live_bytes"]} at the lowest live sample (collected at every MQTT
packet; {result["ram_free_min_bytes"]} as found before those collections, a figure that depends on
when the collector last ran), and {result["ram_free_after_bytes"]} after. Of the heap, the simulated
board takes {result["ram_board_bytes"]} bytes (the real board has none of it); the firmware's own
live bytes are {result["ram_firmware_idle_bytes"]} idle and {result["ram_firmware_peak_bytes"]} at the
replay's peak (its modules, umqtt, one batch). Batches are read from flash record by record
(4 KiB at most) and written to the socket piece by piece; holding a 200-reading batch whole
failed with MemoryError even in a 160 KiB heap. Replaying 24 h of
one-minute readings ({result["replay_24h_readings"]}) took {result["replay_24h_s"]} s of CPU
here (sim time is not counted; on a board the radio dominates: ~30 readings per message), once
the connection backoff the day's failed attempts left ({result["replay_backoff_s"]} s) had passed.

```json
{json.dumps(result, indent=1)}
```
"""
    if head in text:
        before, _, rest = text.partition(head)
        after = rest.split("\n## ", 1)
        text = before + section + ("\n## " + after[1] if len(after) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text)


if __name__ == "__main__":
    main()
