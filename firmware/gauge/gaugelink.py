"""The gauge's link: join, connect, back off, send the buffer in batches, confirm.

`LinkSide` is the half of `gauge.Gauge` that talks to the broker (gauge.py is the other half:
state, tips, recording, the main loop). Split only because MicroPython parses a module whole
before compiling it: one 490-line gauge.py failed with MemoryError at its import in a 96 KiB
heap (make bench-firmware's RAM case).
"""

import errno
import sys

import config as configuration
import payload

UNSYNCED_HOLD_S = 3600  # wait this long for NTP before sending readings with the device's time
MAX_BATCHES_PER_STEP = 5  # then back to the main loop, which feeds the watchdog
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


class LinkSide:
    # Methods of gauge.Gauge; its attributes (hw, cfg, rtc, store, clock, link...) are set in
    # Gauge.__init__.
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
        # mqttlink before wifijoin: its parse (the largest of a wake-up) then runs without
        # wifijoin's code in the heap, which the 96 KiB replay needs (firmware/README.md, RAM).
        from mqttlink import Link, Refused
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
