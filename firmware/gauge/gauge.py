"""The gauge's logic, board-independent: count, record, buffer, send, sleep.

Everything the board does goes through `hw` (hal_esp32.Board on the ESP32; a simulated board in
tests/firmware/mpy/simboard.py under MicroPython's Unix port), so this runs unchanged on a host.

Reporting is adaptive: a heartbeat reading every `heartbeat_s` when dry, a reading a minute
(`rain_interval_s`) while tips come, and one at once when the first tip of a storm arrives (no
tip for `rain_hold_s` before it). In low-battery mode both intervals stretch. Between tips the
gauge deep-sleeps (woken by the timer or the bucket's pin); with tips counted but not yet
reported it light-sleeps until the reading is due. Readings go to the flash ring buffer first and leave it only after the broker's
PUBACK, oldest first, in batches. The interval's tip count lives in RTC memory (deep sleep,
resets) and the cumulative counter and seq are committed with each reading in the buffer's
index (power cuts).
"""


# The link half of the class lives in its own module, imported first, while the heap holds the
# least: MicroPython parses a module whole before compiling it, and gauge.py in one piece no
# longer compiled in a 96 KiB heap (firmware/README.md, RAM). Not in isort's order on purpose.
from gaugelink import LinkSide, decode_record, encode_record  # noqa: F401 - decode_record: tests

import json

import config as configuration
import payload
from clock import Clock
from storeforward import RingStore
from tipcounter import TipCounter

# Radio on costs ~120 mA, a reconnection ~1-2 s of it: past this wait, drop the link and Wi-Fi.
LINK_IDLE_CLOSE_MS = 20000


class Gauge(LinkSide):
    def __init__(self, hw, root, log=print):
        self.hw = hw
        self.root = root
        self.log = log
        self.cfg = configuration.load(root)
        payload.check_station(self.cfg["station"])
        self.store = RingStore(root + "/readings.ring", self.cfg["buffer_capacity"], slot=112)
        self.rtc = self._load_rtc()
        self.wake = hw.wake_reason()
        meta = self.store.meta
        if "boot" not in self.rtc:
            # Power-on (or RTC memory lost): a new boot; the clock is not trustworthy any more.
            boot = meta.get("boot", 0) + 1
            self.rtc = {"boot": boot, "le": None, "rain": None, "storm": 0, "low": 0, "pend": None}
            self.store.commit({"boot": boot})
            self.log("boot %d (%s)" % (boot, self.wake))
        if self.wake in ("power", "reset"):
            # Every boot reads the retained config topic again (then once a day, or sooner
            # through the persistent session's queue), and asks DNS for the broker again.
            self.rtc["cfg_t"] = None
            self.rtc["dns"] = None
        self.boot = self.rtc["boot"]
        self.clock = Clock(hw, self.rtc)
        self.tips = TipCounter(self.rtc, self.cfg["debounce_ms"])
        self._finish_pending()
        self.link = None
        self._cfg_read = False  # whether the connection being opened reads the config topic
        self.more = False
        self.sent = 0
        self.published = 0
        hw.on_tip(self._tip)
        if self.wake == "pin":
            self._tip()  # the edge that woke the chip from deep sleep

    # --- state ---------------------------------------------------------------------------

    def _load_rtc(self):
        raw = self.hw.rtc_load()
        if not raw:
            return {}
        try:
            state = json.loads(raw)
        except ValueError:
            return {}
        return state if isinstance(state, dict) else {}

    def save_rtc(self):
        self.hw.rtc_save(json.dumps(self.rtc))

    def _finish_pending(self):
        # A reset between committing a reading and clearing its tips from RTC memory: the
        # buffer's index says whether the reading was committed, so no tip counts twice.
        pend = self.rtc.get("pend")
        if not pend:
            return
        seq, ts, tips = pend
        if self.store.meta.get("seq", -1) >= seq:
            self.tips.s["n"] = max(0, self.tips.s["n"] - tips)
            self.rtc["le"] = ts
        self.rtc["pend"] = None

    # --- tips ------------------------------------------------------------------------------

    def _tip(self, _pin=None):
        now_ms = self.clock.now() * 1000 + self.hw.rtc_epoch_ms() % 1000
        if self.tips.edge(now_ms):
            now = now_ms // 1000
            if not self.raining(now):
                self.rtc["storm"] = 1  # first tip of a storm: report at once
            self.rtc["rain"] = now

    def raining(self, now):
        rain = self.rtc["rain"]
        return rain is not None and now - rain < self.cfg["rain_hold_s"]

    def interval(self, now):
        """The shortest time between two readings while tips come."""
        return self.cfg["low_battery_rain_interval_s" if self.rtc["low"] else "rain_interval_s"]

    # --- one pass of the main loop -----------------------------------------------------------

    def step(self):
        """Record what is due, send what the buffer holds; return (ms to sleep, deep?).

        Due: the first tip of a storm at once; tips counted and `rain_interval_s` since the
        last reading (so at most one reading a minute while it rains, and none for minutes
        without a tip); or the heartbeat. Between tips the gauge deep-sleeps (the pin wakes it:
        cheaper than light sleep unless tips come seconds apart); with tips counted and not yet
        reported it light-sleeps until the reading is due."""
        now = self.clock.now()
        mv = self.hw.battery_mv()
        self._battery(mv)
        le = self.rtc["le"]
        pending = self.tips.pending()
        if (
            self.rtc["storm"]
            or le is None
            or now - le >= self.heartbeat()
            or (pending and now - le >= self.interval(now))
        ):
            self._record(now, mv)
        if len(self.store):
            self._send(now)
        self.save_rtc()
        now = self.clock.now()
        le = self.rtc["le"]
        if self.tips.pending():
            wait_s = max(0, le + self.interval(now) - now)
        else:
            wait_s = max(0, le + self.heartbeat() - now)
        if self.more:
            wait_s = 0  # more to replay: come straight back after feeding the watchdog
        deep = self.cfg["deep_sleep"] and not self.tips.pending()
        return wait_s * 1000, deep

    def heartbeat(self):
        return self.cfg["low_battery_heartbeat_s" if self.rtc["low"] else "heartbeat_s"]

    def _battery(self, mv):
        low = self.cfg["low_battery_mv"]
        if mv < low:
            self.rtc["low"] = 1
        elif mv >= low + 100:  # hysteresis: a cell recovers a little once the radio is off
            self.rtc["low"] = 0

    def _record(self, now, mv):
        meta = self.store.meta
        state = self.hw.disable_irq()
        tips, gap = self.tips.s["n"], self.tips.s["g"]
        self.hw.enable_irq(state)
        le = self.rtc["le"]
        ts = now if le is None else max(now, le + 1)  # (station, ts) must stay unique
        interval_s = self.interval(now) if le is None else min(86400, ts - le)
        seq = meta.get("seq", -1) + 1
        counter = meta.get("counter", 0) + tips
        rssi = self.hw.rssi() if self.link is not None else self.rtc.get("rssi")
        rec = encode_record(
            seq, ts, tips, counter, interval_s, mv, rssi, gap, self.boot, not self.clock.synced
        )
        self.rtc["pend"] = [seq, ts, tips]
        self.save_rtc()
        self.store.push(rec, {"seq": seq, "counter": counter})
        self.hw.fault_point("after_push")
        state = self.hw.disable_irq()
        self.tips.s["n"] -= tips
        if self.tips.s["n"] == 0:
            self.tips.s["g"] = None
        self.hw.enable_irq(state)
        self.rtc["le"] = ts
        self.rtc["storm"] = 0
        self.rtc["pend"] = None

    # --- the main loop -----------------------------------------------------------------------

    def run(self, max_steps=None):
        """The main loop; the only place that feeds the watchdog."""
        self.hw.wdt_start(self.cfg["watchdog_ms"])
        steps = 0
        while max_steps is None or steps < max_steps:
            self.hw.feed()
            wait_ms, deep = self.step()
            steps += 1
            if deep:
                self.close_link()
                self.save_rtc()
                self.hw.deepsleep(wait_ms)  # does not return on the board
            elif wait_ms:
                if wait_ms >= LINK_IDLE_CLOSE_MS:
                    self.close_link()  # a clean DISCONNECT: no will, the status stays online
                if self.link is None:
                    self.hw.net_down()
                # Light sleep; the first tip of a storm, or the first tip after a quiet spell
                # when no deep sleep is allowed, ends it early.
                quiet = not self.tips.pending()
                self.hw.wait(wait_ms, lambda: self.rtc["storm"] or (quiet and self.tips.pending()))


def main(hw, root="/"):
    """Boot the gauge; a crash saves the counts in RTC memory and resets into a safe state."""
    gauge = None
    try:
        gauge = Gauge(hw, root.rstrip("/") or "")
        gauge.run()
    except Exception as e:  # noqa: BLE001 - anything at all: reset, never hang in the field
        print("gauge crashed: %r" % (e,))
        if gauge is not None:
            gauge.save_rtc()
        hw.reset()
