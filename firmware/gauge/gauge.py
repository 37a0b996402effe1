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

import errno
import json
import sys

import config as configuration
import payload
from clock import Clock
from storeforward import RingStore
from tipcounter import TipCounter

UNSYNCED_HOLD_S = 3600  # wait this long for NTP before sending readings with the device's time
MAX_BATCHES_PER_STEP = 5  # then back to the main loop, which feeds the watchdog
# Radio on costs ~120 mA, a reconnection ~1-2 s of it: past this wait, drop the link and Wi-Fi.
LINK_IDLE_CLOSE_MS = 20000
BACKOFF_FIRST_S = 60  # after a failed connection; doubled at each failure, up to heartbeat_s
# errno codes of a TCP connection something answered (32: EPIPE, not in MicroPython's errno)
_ANSWERED = (errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, 32)
BACKOFF_SLACK_S = 10  # a wake-up this close to the end of the wait may try (clock drift)
BATCH_BYTES = 4096  # per message: ~30 readings (the replay's largest RAM use); under 64 KiB


def _opt(text):
    return None if text == "" else int(text)


def _why(e, refused):
    """A connection failure's reason, for the log and the retained status."""
    code = e.args[0] if isinstance(e, OSError) and e.args else None
    if isinstance(e, refused):
        return "mqtt_refused_%d" % e.code
    if isinstance(code, int):
        return "os_%d" % code
    return type(e).__name__.lower()


def encode_record(seq, ts, tips, counter, interval_s, mv, rssi, gap, boot, unsynced):
    """A buffered reading, as compact as a slot wants it: integers, comma-separated."""
    vals = (seq, ts, tips, counter, interval_s, mv, rssi, gap, boot, 1 if unsynced else 0)
    return ",".join("" if v is None else str(v) for v in vals)


def decode_record(data):
    f = data.decode().split(",")
    if len(f) != 10:
        raise ValueError("bad record")
    return [_opt(x) for x in f]


class Gauge:
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

    # --- the link --------------------------------------------------------------------------

    def _connect(self, now):
        if self.link is not None:
            return True
        if not self._attempt_due(now):
            self.hw.count("connect_deferred")
            return False  # the readings wait in flash; no radio until the backoff is over
        try:
            return self._open(now)
        finally:
            # The join policy runs once a wake-up: free its code before the replay's batches
            # need the heap (it is imported again, from flash, at the next wake-up).
            sys.modules.pop("wifijoin", None)

    def _open(self, now):
        t0 = now
        from wifijoin import Join

        join = Join(self.hw, self.cfg, self.rtc, self.log)
        if not join.up(now):
            self._failed(t0, "wifi")
            return False
        if not self.clock.synced or not 0 <= now - self.rtc["sync"] < self.cfg["ntp_every_s"]:
            ntp = self.hw.ntp(self.cfg["ntp_host"])
            if ntp is not None:
                self._sync(ntp)
                now = self.clock.now()
        from mqttlink import Link, Refused

        cfg_t = self.rtc.get("cfg_t")
        read_config = cfg_t is None or not 0 <= now - cfg_t < self.cfg["config_every_s"]
        link = Link(self.hw, self.cfg, self._on_config, self.rtc)
        lf = self.rtc.get("lf") or [0, 0, "", None, 0]
        online = payload.status_online(lf[1], lf[2], lf[3])
        for attempt in (0, 1):
            try:
                self.hw.count("connect")
                read_config = link.connect(read_config, online)
                break
            except Exception as e:  # noqa: BLE001 - any failure: wait and retry, never a reset loop
                self.log("mqtt connect failed: %r" % (e,))
                link.close()
                # An answer (a CONNACK refusal, bytes that are not one, a refused or reset
                # TCP connection) came back through the network: the address works. A timeout
                # or an unreachable host may be a stale reused address: DHCP, once.
                code = e.args[0] if isinstance(e, OSError) and e.args else None
                routed = not isinstance(e, OSError) or code in _ANSWERED
                if attempt or routed or not join.refused(now):
                    self.hw.net_down()
                    self._failed(t0, _why(e, Refused))
                    return False
        self.link = link
        self._cfg_read = read_config
        if not link.pending:
            self._connected(now)
        return True

    def _connected(self, now):
        """The broker accepted the connection (its CONNACK read, pipelined or not)."""
        lf = self.rtc.get("lf")
        if lf and lf[0]:
            self.log("connected after %d failed attempts (last: %s)" % (lf[0], lf[2]))
            lf[0] = lf[4] = 0
        if self._cfg_read:
            self.rtc["cfg_t"] = now
        rssi = self.hw.rssi()
        if rssi is not None:
            self.rtc["rssi"] = rssi

    # Link failures, in RTC memory: "lf" = [failures in a row, failures since the boot, the
    # last one's reason, its time, the wait before the next attempt (s)]. The first retry
    # comes after BACKOFF_FIRST_S, each failure doubles it, up to the heartbeat: a wrong
    # password or a dead access point costs one attempt per heartbeat, not one per reading.

    def attempt_in(self, now):
        """Seconds before a connection may be tried again (0: now). Nothing but time ends a
        backoff: a caller that retries without sleeping gets no radio until it has passed."""
        lf = self.rtc.get("lf")
        if not lf or not lf[0]:
            return 0
        left = lf[4] - BACKOFF_SLACK_S - (now - lf[3])
        # A clock set back (NTP) makes the wait negative: try at once rather than never.
        return left if 0 <= now - lf[3] and left > 0 else 0

    def _attempt_due(self, now):
        return self.attempt_in(now) == 0

    def _failed(self, now, why):
        lf = self.rtc.get("lf") or [0, 0, "", None, 0]
        lf[0] += 1
        lf[1] += 1
        wait = min(self.heartbeat(), BACKOFF_FIRST_S << min(lf[0] - 1, 16))
        self.rtc["lf"] = [lf[0], lf[1], why, now, wait]
        self.rtc["dns"] = None  # the broker may have moved: ask DNS again at the next attempt
        self.hw.count("connect_failed")
        self.log("link down (%s), %d in a row: next attempt in %d s" % (why, lf[0], wait))

    def _sync(self, ntp):
        was_synced = self.clock.synced
        offset = self.clock.sync(ntp)
        if not was_synced:
            # Readings of this boot were stamped with the device's time: commit the offset so
            # they are restamped when sent, even after a reset.
            self.store.commit({"o%d" % self.boot: offset})
            for key in ("le", "rain"):
                if self.rtc[key] is not None:
                    self.rtc[key] += offset
            if self.tips.s["t"] is not None:
                self.tips.s["t"] += offset * 1000
            self.log("clock set by NTP, offset %d s" % offset)

    def _on_config(self, body):
        try:
            changed = configuration.apply_remote(self.cfg, body)
        except ValueError as e:
            self.log("config topic refused: %s" % e)
            return
        if changed:
            configuration.save_remote(self.root, self.cfg)
            self.tips.debounce_ms = self.cfg["debounce_ms"]
            self.log("config from broker: %s" % ",".join(sorted(changed)))

    def close_link(self):
        if self.link is not None:
            self.link.close(clean=True)
            self.link = None
            self.hw.net_down()

    def _payload(self, r):
        seq, ts, tips, counter, interval_s, mv, rssi, gap, boot, unsynced = r
        flagged = False
        if unsynced:
            offset = self.store.meta.get("o%d" % boot)
            if offset is None:
                flagged = True
            else:
                ts += offset
        return payload.encode(
            payload.reading(
                seq=seq,
                ts=ts,
                tips=tips,
                counter=counter,
                interval_s=interval_s,
                battery_mv=mv,
                rssi=rssi,
                fw=self.cfg["fw"],
                min_gap_ms=gap,
                unsynced=flagged,
            )
        )

    def _batch(self, now):
        """(last record number, body, count) of the next batch to send, or None.

        Built one record at a time into at most BATCH_BYTES: a 200-reading batch held whole
        does not fit in an ESP32's heap next to the rest (make bench-firmware measures it)."""
        parts, size, last = [], 0, None
        for recno, data in self.store.iter(self.cfg["max_batch"]):
            r = None
            if data is not None:
                try:
                    r = decode_record(data)
                except ValueError:
                    r = None
            if r is None:
                if not parts:
                    self.store.skip_corrupt(recno)
                    return self._batch(now) if len(self.store) else None
                break
            if r[9] and r[8] == self.boot and not self.clock.synced:
                if now - r[1] < UNSYNCED_HOLD_S:
                    break  # NTP may answer soon: keep it to send it rightly dated
            text = self._payload(r)
            if parts and size + len(text) + 1 > BATCH_BYTES:
                break
            parts.append(text)
            size += len(text) + 1
            last = recno
        if not parts:
            return None
        n = len(parts)
        # A batch is written to the socket part by part (mqttwire.Client.publish_parts).
        return last, (parts[0] if n == 1 else parts), n

    def _send(self, now):
        self.more = False
        if not self._connect(now):
            return
        for _ in range(MAX_BATCHES_PER_STEP):
            batch = self._batch(now)
            if batch is None:
                self._confirm(now, None)  # nothing to send with it: read the CONNACK alone
                return
            last, body, n = batch
            self.published += n
            self.hw.count("readings_out", n)
            # Returns once the broker's PUBACK is in (and a pipelined CONNACK before it).
            if not self._confirm(now, body):
                return
            self.store.ack(last)
            self.sent += n
        self.more = len(self.store) > 0  # the batch limit, not an empty buffer, ended the loop

    def _confirm(self, now, body):
        """Publish `body` (None: only read a pipelined CONNACK); False if the link is gone.

        A failure before the CONNACK is a failed connection (counted, backed off, as in
        _open); after it, a lost link: nothing acknowledged leaves the flash, it goes next
        time."""
        from mqttlink import Refused

        link = self.link
        pending = link.pending
        if body is None and pending:
            self.hw.count("connack")  # read alone: a round trip of its own
        try:
            lost = link.publish_up(body) if body is not None else link.confirm()
        except (OSError, IndexError, AssertionError, Refused) as e:
            self.log(("mqtt connect failed: %r" if pending else "link lost while sending: %r") % (e,))
            link.close()
            self.link = None
            self.hw.net_down()
            if pending:
                self._failed(now, _why(e, Refused))
            return False
        if pending:
            self._connected(now)
            if lost:
                # The broker lost the persistent session: subscribe again, read the config.
                link.read_config()
                self.rtc["cfg_t"] = now
        return True

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
