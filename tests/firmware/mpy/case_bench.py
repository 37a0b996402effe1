# make bench-firmware: energy proxies, RAM during a 500-reading replay, 24 h replay time.
import gc
import json
import time

import simboard
from gauge import Gauge

data = json.load(open("input.json"))
DAY = 86400
start = data["start"]
out = {}


def base_cfg(**extra):
    # A name, as a site's broker has (TLS checks it): the firmware's DNS steps are counted.
    cfg = {"station": data["station"], "mqtt_host": "localhost", "mqtt_port": data["port"],
           "mqtt_password": data["password"], "mqtt_timeout_s": 5,
           # Provisioned as firmware/README.md says: the PSK from firmware/psk.py, not the
           # passphrase (the "_passphrase" variant keeps the passphrase).
           "wifi_ssid": data.get("ssid", ""), "wifi_password": data.get("passphrase", ""),
           "wifi_psk": data.get("psk", "")}
    cfg.update(extra)
    return cfg


def day(name, tips, ap_channel=None, **cfg):
    world = simboard.World(start, start + DAY, tips_s=tips)
    world.real_io = True
    if ap_channel is not None:
        world.ap["channel"] = ap_channel  # the site's access point, not a firmware setting
    simboard.clear_flash()
    simboard.write_config("/flash", base_cfg(**cfg))
    simboard.live(world, lambda hw: Gauge(hw, "/flash", log=lambda m: None))
    s = world.stats
    out[name] = {"wakeups": s["wakeups"] + s.get("light_wakeups", 0), "deep_wakeups": s["wakeups"],
                 "radio_s": s["radio_ms"] / 1000, "radio_by_ms": s["radio_by"],
                 "light_s": s.get("light_ms", 0) / 1000, "boots": s["boots"],
                 "awake_s": s["boots"] * world.awake_ms / 1000, "publishes": s.get("publish", 0),
                 "connects": s.get("connect", 0), "joins": s.get("joins", 0),
                 "dhcp": s.get("dhcp", 0), "pbkdf2": s.get("pbkdf2", 0), "scans": s.get("scans", 0), "ntp": s.get("ntp", 0), "dns": s.get("dns", 0),
                 "config_reads": s.get("subscribe", 0), "tips": len(tips)}
    out["costs_ms"] = world.cost


def storm(depth_mm, hours, t0):
    n = int(depth_mm / 0.2)
    return [t0 + i * hours * 3600 / n for i in range(n)]


rainy = storm(data["rainy_mm"], data["rainy_h"], start + 10 * 3600)
# The previous firmware's schedule under the same timing model: DHCP at every wake-up, a clean
# session, NTP and the config topic every 6 h, DNS at every connection, the CONNACK waited for.
before = {"wifi_lease_s": 0, "mqtt_persistent": False, "ntp_every_s": 21600, "config_every_s": 21600,
          "dns_every_s": 0, "mqtt_pipeline": False, "wifi_psk": ""}
static = {"wifi_static_ip": ["10.0.0.42", "255.255.255.0", "10.0.0.1", "10.0.0.1"]}
# The access point on channel 1: the fast scan inside connect() walks the channels from 1 up
# to the access point's (firmware/README.md), so this is the site's cheapest channel.
variants = {"": {}, "_before": before, "_passphrase": {"wifi_psk": ""}, "_lease24h": {"wifi_lease_s": 86400}, "_static": static,
            "_ch1": {"ap_channel": 1}, "_static_ch1": dict(static, ap_channel=1),
            "_30min": {"heartbeat_s": 1800}}
for suffix in data.get("variants", variants):
    day("dry" + suffix, [], **variants[suffix])
    day("rainy" + suffix, rainy, **variants[suffix])
if data.get("storm", True):
    day("storm", storm(data["storm_mm"], data["storm_h"], start + 10 * 3600))

# 24 h of buffered readings replayed to the real broker.
# A tip every 40 s, so a reading every minute all day (1,440), the most a day can hold.
hours = data.get("replay_h", 24)
world = simboard.World(start, start + hours * 3600 - 30, tips_s=storm(18 * hours, hours, start + 1))
world.outages = [(0, 2 ** 40)]
simboard.clear_flash()
simboard.write_config("/flash", base_cfg(deep_sleep=False, rain_hold_s=86400))
simboard.live(world, lambda hw: Gauge(hw, "/flash", log=lambda m: None))
world.outages = []
world.end = 2 ** 62
world.real_io = True
g = Gauge(simboard.SimBoard(world, "timer"), "/flash", log=lambda m: None)
held = len(g.store)
# The link is back, but a day of failed attempts left the gauge in its backoff: no radio until
# it has passed (gauge.attempt_in), which on the board it sleeps through. Let that time pass
# first: called without it, _send is deferred again and again at the same instant, and the
# bench spun until its timeout.
backoff_s = g.attempt_in(g.clock.now())
world.t += backoff_s * 1000
sends = 0
t0 = time.ticks_ms()
while len(g.store):
    sends += 1
    if sends > held + 2:  # each call sends a batch at least, unless the link fails
        raise RuntimeError("replay stalled: %d of %d left after %d sends" % (len(g.store), held, sends))
    g._send(g.clock.now())
replay_ms = time.ticks_diff(time.ticks_ms(), t0)
g.close_link()
print(json.dumps({"days": out, "replay": {"held": held, "ms": replay_ms, "left": len(g.store),
                                          "sends": sends, "backoff_s": backoff_s}}))
