"""A simulated ESP32 for the gauge's logic under MicroPython's Unix port (runs on MicroPython).

- `World`: true time (ms), the bucket's tip instants from a rainfall series (with reed-switch
  bounces), the link's outages, NTP, the battery; it outlives the gauge's reboots.
- `Flash`: a block device for a real littlefs (os.VfsLfs2, as on the ESP32) that can lose power
  in the middle of a block write: half the block is written, then `PowerCut` is raised.
- `SimBoard`: the hardware layer gauge.py calls (see firmware/gauge/hal_esp32.py). Its RTC
  clock drifts, survives deep sleep and resets, and restarts at 2000-01-01 after a power cut.
- `live()`: boots the gauge again and again (deep sleep, resets, power cuts) until the world ends.
"""

import os

try:
    import time as _time

    _real_sleep_ms = _time.sleep_ms
except (ImportError, AttributeError):
    _real_sleep_ms = None

EPOCH_2000 = 946684800

# The timing model (ms) the simulated board charges for each step the firmware takes; the
# sources are in firmware/README.md ("Energy model"). Radio-on time is then what the firmware's
# own sequence of steps adds up to, per phase (stats["radio_by"]).
COSTS = {
    "boot": 150,  # deep-sleep wake-up to main, radio off (assumed)
    "scan_channel": 120,  # active scan dwell per channel (ESP-IDF default)
    "scan_all": 2040,  # full scan: 11 active x 120 + 2 passive x 360 (Espressif FAQ)
    "assoc": 650,  # authentication, association, WPA2 4-way handshake (forum measurement)
    # The PSK derived from the passphrase (PBKDF2-HMAC-SHA1, 4,096 rounds) at every join:
    # MicroPython keeps the Wi-Fi driver's config in RAM, so nothing cached survives deep sleep.
    # 138 ms on an ESP32 with ESP-IDF's fast-pbkdf2 (espressif/esp-idf issue 15072, 2024, the
    # wifi/iperf example). Skipped when config.json has the PSK itself (`wifi_psk`).
    "pbkdf2": 138,
    "dhcp": 1300,  # DISCOVER..ACK plus ESP-IDF's ARP check of the offered address (~1 s)
    "rtt": 50,  # one round trip to the broker / NTP / DNS server (assumed, a site's uplink)
    "bytes_per_ms": 125,  # 1 Mbit/s of useful throughput (assumed)
    "refused": 3000,  # a connection from an address the network no longer routes: ARP fails
    "disconnect": 30,  # DISCONNECT, deauthentication, radio off (assumed)
}


# Neither is an Exception: on the board a power cut or a deep sleep never comes back into the
# firmware, so its `except Exception` (a failed connection must not reset the gauge) may not
# catch them either.
class PowerCut(BaseException):
    pass


class Sleep(BaseException):
    """The gauge's process ends: deep sleep, reset, or the end of the simulation."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Flash:
    def __init__(self, blocks=1024, block_size=512):
        self.bs = block_size
        self.n = blocks
        self.data = bytearray(b"\xff" * (blocks * block_size))
        self.fail_in = None  # block writes left before the power cut
        self.writes = 0

    def readblocks(self, block, buf, off=0):
        a = block * self.bs + off
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, block, buf, off=0):
        a = block * self.bs + off
        self.writes += 1
        if self.fail_in is not None:
            if self.fail_in <= 0:
                self.fail_in = None
                half = len(buf) // 2
                self.data[a : a + half] = buf[:half]
                raise PowerCut("power cut during a flash write")
            self.fail_in -= 1
        self.data[a : a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            a = arg * self.bs
            self.data[a : a + self.bs] = b"\xff" * self.bs
            return 0
        return 0


def mount(flash, path="/flash"):
    try:
        os.umount(path)
    except OSError:
        pass
    try:
        vfs = os.VfsLfs2(flash)
    except OSError:
        os.VfsLfs2.mkfs(flash)
        vfs = os.VfsLfs2(flash)
    os.mount(vfs, path)


class RtcClock:
    """The chip's RTC: runs `ppm` fast; reset to 2000-01-01 by a power cut."""

    def __init__(self, world, start_ms, ppm=0):
        self.world = world
        self.base_true = world.t
        self.base_dev = start_ms
        self.ppm = ppm

    def ms(self):
        el = self.world.t - self.base_true
        return self.base_dev + el + el * self.ppm // 1000000

    def set_ms(self, ms):
        self.base_true = self.world.t
        self.base_dev = ms


class World:
    def __init__(self, start_s, end_s, tips_s=(), bounces=(0, 2, 5, 9), ppm=0, synced_rtc=True,
                 root=None):
        self.t = start_s * 1000
        self.end = end_s * 1000
        edges = []
        for t in tips_s:
            base = int(t * 1000)
            for b in bounces:
                edges.append(base + b)
        edges.sort()
        self.edges = edges
        self.edge_i = 0
        while self.edge_i < len(edges) and edges[self.edge_i] < self.t:
            self.edge_i += 1
        self.outages = []  # (start_s, end_s): no Wi-Fi
        self.ntp_ok = True
        self.battery_mv = 3900
        self.rtc_mem = b""
        self.clock = RtcClock(self, self.t if synced_rtc else EPOCH_2000 * 1000, ppm)
        self.ppm = ppm
        # root: a directory of the host's file system instead of the simulated littlefs (the
        # RAM bench: the simulated flash would sit in MicroPython's heap).
        self.root = root or "/flash"
        self.flash = None
        if root is None:
            self.flash = Flash()
            mount(self.flash)
        self.crash_at = None
        self.faults = []  # (true second, "crash" | "cut" | "flash"), armed when their time comes
        self.cut_at = None  # fault_point name: power cut there
        self.real_io = False  # e2e: sleep for real too, so the real broker's answers arrive
        # What each step of a wake-up costs (ms); firmware/README.md gives each one's source.
        self.cost = dict(COSTS)
        self.awake_ms = self.cost["boot"]  # boot from deep sleep to the first line of main
        # The access point and the site's DHCP server. `net` numbers the site's subnet: a
        # renumbered network (a new router) refuses the addresses of the old one.
        self.ap = {"bssid": "a4b1c2d3e4f5", "channel": 6}
        self.net = 0
        self.events = []  # (true second, callable(world)), run when their time comes
        self.stats = {"wakeups": 0, "radio_ms": 0, "radio_by": {}, "publish": 0, "feeds": 0,
                      "boots": 0, "power_cuts": 0, "resets": 0, "deep_sleeps": 0}
        self.control = None  # e2e: (host, port) of the test's link-cutting proxy
        self.cuts = []  # e2e: (start_s, end_s, mode) sent to the proxy
        self.cut_state = None
        self.log = []

    def now_s(self):
        return self.t // 1000

    def lease(self):
        return ["10.%d.0.42" % self.net, "255.255.255.0", "10.%d.0.1" % self.net, "10.%d.0.1" % self.net]

    def address_ok(self, ifconfig):
        return list(ifconfig) == self.lease()

    def link_up(self):
        s = self.now_s()
        for a, b in self.outages:
            if a <= s < b:
                return False
        return True

    def next_edge(self):
        return self.edges[self.edge_i] if self.edge_i < len(self.edges) else None

    def power_cut(self):
        self.stats["power_cuts"] += 1
        self.rtc_mem = b""
        self.clock = RtcClock(self, EPOCH_2000 * 1000, self.ppm)
        if self.flash is not None:
            mount(self.flash)


class SimBoard:
    def __init__(self, world, wake):
        self.w = world
        self.root = world.root
        self.wake = wake
        self.handler = None
        self.radio_since = None
        self.phase = None  # what the radio time being spent is for
        self.addr = None  # the address the firmware took: DHCP's, a reused lease, static
        self.wdt_ms = None
        self.last_feed = None
        # As hal_esp32.Board: the key it gives WLAN.connect comes from config.json (the PSK,
        # or the passphrase that ESP-IDF must hash at every join).
        self.psk = False
        try:
            import json

            from config import wifi_key

            with open(self.root + "/config.json") as f:
                self.psk = wifi_key(json.load(f))[1]
        except (OSError, ValueError):
            pass
        world.stats["boots"] += 1
        if wake in ("timer", "pin"):
            world.stats["wakeups"] += 1
        self._advance(world.t + world.awake_ms)

    # time
    def _advance(self, to_ms, wake=None):
        t0 = self.w.t
        try:
            self._advance_to(to_ms, wake)
        finally:
            if self.radio_since is not None:
                by = self.w.stats["radio_by"]
                by[self.phase] = by.get(self.phase, 0) + self.w.t - t0

    def _advance_to(self, to_ms, wake):
        w = self.w
        while True:
            e = w.next_edge()
            if e is None or e > to_ms:
                break
            w.t = max(w.t, e)
            w.edge_i += 1
            if self.handler is not None:
                self.handler(None)
            if wake is not None and wake():
                return
        w.t = max(w.t, to_ms)
        if w.t >= w.end:
            raise Sleep("end")
        self._arm()
        self._cuts()

    def _arm(self):
        w = self.w
        while w.events and w.now_s() >= w.events[0][0]:
            w.events.pop(0)[1](w)
        # A crash or a power cut at the next committed reading, or a cut inside a flash write.
        w = self.w
        while w.faults and w.now_s() >= w.faults[0][0]:
            kind = w.faults.pop(0)[1]
            if kind == "crash":
                w.crash_at = "after_push"
            elif kind == "cut":
                w.cut_at = "after_push"
            elif kind == "flash":
                w.flash.fail_in = 3

    def _cuts(self):
        w = self.w
        if not w.cuts or w.control is None:
            return
        s = w.now_s()
        want = None
        for a, b, mode in w.cuts:
            if a <= s < b:
                want = mode
        if want != w.cut_state:
            import socket

            sock = socket.socket()
            sock.connect(socket.getaddrinfo(w.control[0], w.control[1])[0][-1])
            sock.write((want or "up") + "\n")
            sock.read(3)
            sock.close()
            w.cut_state = want

    def ticks_ms(self):
        return self.w.t

    def ticks_diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        # The config wait (mqttlink) sleeps with the radio on: it stays in the current phase.
        if self.w.real_io and _real_sleep_ms is not None:
            _real_sleep_ms(ms)
        self._advance(self.w.t + ms)

    def rtc_epoch(self):
        return self.w.clock.ms() // 1000

    def rtc_epoch_ms(self):
        return self.w.clock.ms()

    def set_rtc_epoch(self, epoch):
        self.w.clock.set_ms(epoch * 1000 + (self.w.t % 1000))

    def rtc_load(self):
        return self.w.rtc_mem

    def rtc_save(self, text):
        data = text.encode()
        if len(data) > 2048:
            raise ValueError("RTC state too large")
        self.w.rtc_mem = data

    def wake_reason(self):
        return self.wake

    # pins, ADC
    def on_tip(self, handler):
        self.handler = handler

    def disable_irq(self):
        return 0

    def enable_irq(self, _state):
        pass

    def battery_mv(self):
        return self.w.battery_mv

    # power
    def wait(self, ms, wake):
        t0 = self.w.t
        radio = self.radio_since is not None
        if radio:
            self.phase = "link_idle"  # light sleep with the link kept (a reading due soon)
        try:
            self._advance(self.w.t + ms, wake)
        finally:
            st = self.w.stats
            st["light_wakeups"] = st.get("light_wakeups", 0) + 1
            if not radio:
                st["light_ms"] = st.get("light_ms", 0) + self.w.t - t0

    def deepsleep(self, ms):
        w = self.w
        self._radio_off()
        w.stats["deep_sleeps"] += 1
        self.handler = None
        e = w.next_edge()
        to = w.t + max(1000, ms)
        if e is not None and e <= to:
            # The reed switch wakes the chip (ext0, level); its bounces end before boot.
            w.t = max(w.t, e)
            w.edge_i += 1
            while w.next_edge() is not None and w.next_edge() < w.t + w.awake_ms:
                w.edge_i += 1
            if w.t >= w.end:
                raise Sleep("end")
            raise Sleep("pin")
        w.t = to
        if w.t >= w.end:
            raise Sleep("end")
        raise Sleep("timer")

    def reset(self):
        self._radio_off()
        self.w.stats["resets"] += 1
        raise Sleep("reset")

    def wdt_start(self, ms):
        self.wdt_ms = ms

    def feed(self):
        self.w.stats["feeds"] += 1
        self.last_feed = self.w.t

    # network
    def _spend(self, phase, ms):
        self.phase = phase
        self._advance(self.w.t + ms)

    def net_up(self, ap=None, ip=None):
        """hal_esp32.Board.net_up's steps: a scan when no access point is known (the scan
        gives its BSSID), a fast scan up to its channel, association, DHCP unless an address
        is given. None when the access point is not there."""
        w, c = self.w, self.w.cost
        if self.radio_since is None:
            self.radio_since = w.t
        self.addr = None
        if not w.link_up() or (ap and ap[0] != w.ap["bssid"]):
            self._spend("scan", c["scan_all"])  # every channel, then STAT_NO_AP_FOUND
            self.net_down()
            return None
        st = w.stats
        if not ap:
            self._spend("scan", c["scan_all"])
            ap = [w.ap["bssid"], w.ap["channel"]]
            st["scans"] = st.get("scans", 0) + 1
        else:
            st["hinted"] = st.get("hinted", 0) + 1
        self._spend("scan", w.ap["channel"] * c["scan_channel"])
        if not self.psk:
            self._spend("psk", c["pbkdf2"])
            st["pbkdf2"] = st.get("pbkdf2", 0) + 1
        self._spend("assoc", c["assoc"])
        if ip is None:
            self._spend("dhcp", c["dhcp"])
            ip = w.lease()
            st["dhcp"] = st.get("dhcp", 0) + 1
        self.addr = list(ip)
        w.stats["joins"] = w.stats.get("joins", 0) + 1
        return ap, tuple(ip)

    def _radio_off(self):
        if self.radio_since is not None:
            self.w.stats["radio_ms"] += self.w.t - self.radio_since
            self.radio_since = None

    def net_down(self):
        if self.radio_since is not None:
            self._spend("disconnect", self.w.cost["disconnect"])
        self._radio_off()

    def rssi(self):
        return -81

    def ntp(self, _host):
        self.w.stats["ntp"] = self.w.stats.get("ntp", 0) + 1
        if not self.w.ntp_ok or not self.w.link_up():
            self._spend("ntp", 5 * self.w.cost["rtt"])  # ntptime's socket timeout, shortened
            return None
        self._spend("ntp", 2 * self.w.cost["rtt"])  # DNS, then one UDP exchange
        return self.w.now_s()

    def count(self, what, n=1):
        w, c = self.w, self.w.cost
        w.stats[what] = w.stats.get(what, 0) + (1 if what == "publish" else n)
        if what == "publish":  # PUBLISH out, PUBACK back
            self._spend("publish", c["rtt"] + n // c["bytes_per_ms"])
        elif what == "connect":  # the TCP handshake (DNS is its own step, "dns")
            if self.addr is not None and not w.address_ok(self.addr):
                self._spend("mqtt_connect", c["refused"])
                raise OSError(113)  # EHOSTUNREACH: the address is not this network's any more
            self._spend("mqtt_connect", c["rtt"])
        elif what == "connack":  # CONNECT/CONNACK waited for alone (not pipelined)
            self._spend("mqtt_connect", c["rtt"])
        elif what == "dns":  # the broker's name asked of the site's DNS server
            self._spend("dns", c["rtt"])
        elif what == "subscribe":  # SUBSCRIBE/SUBACK (the wait for the retained one follows)
            self._spend("config", c["rtt"])
        elif what == "status":  # written; its PUBACK is read with the readings' one
            self.phase = "status"

    def fault_point(self, name):
        if self.w.crash_at == name:
            self.w.crash_at = None
            raise RuntimeError("injected crash at " + name)
        if self.w.cut_at == name:
            self.w.cut_at = None
            raise PowerCut("power cut at " + name)


def live(world, make_gauge, on_boot=None, max_boots=1000000):
    """Run the gauge through its wake-ups until the world ends; return the last gauge."""
    import gauge as gauge_mod

    wake = "power"
    g = None
    boots = 0
    while boots < max_boots:
        boots += 1
        hw = SimBoard(world, wake)
        try:
            g = make_gauge(hw)
            if on_boot is not None:
                on_boot(g)
            g.run()
        except Sleep as s:
            if s.reason == "end":
                return g
            wake = s.reason
        except PowerCut:
            world.power_cut()
            wake = "power"
        except Exception as e:  # noqa: BLE001
            # What gauge.main does with any crash: keep the counts in RTC memory, reset.
            world.log.append("crash: %s" % e)
            if g is not None and g.hw is hw:
                g.save_rtc()
            world.stats["resets"] += 1
            wake = "reset"
    return g


def write_config(root, cfg):
    import json

    with open(root + "/config.json", "w") as f:
        f.write(json.dumps(cfg))


def clear_flash(root="/flash"):
    for name in os.listdir(root):
        os.remove(root + "/" + name)
