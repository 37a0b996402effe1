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
    cfg = {"station": data["station"], "mqtt_host": "127.0.0.1", "mqtt_port": data["port"],
           "mqtt_password": data["password"], "mqtt_timeout_s": 5}
    cfg.update(extra)
    return cfg


def day(name, tips, assoc_ms=None, **cfg):
    world = simboard.World(start, start + DAY, tips_s=tips)
    if assoc_ms is not None:
        world.assoc_ms = assoc_ms
    world.real_io = True
    simboard.clear_flash()
    simboard.write_config("/flash", base_cfg(**cfg))
    simboard.live(world, lambda hw: Gauge(hw, "/flash", log=lambda m: None))
    s = world.stats
    out[name] = {"wakeups": s["wakeups"] + s.get("light_wakeups", 0), "deep_wakeups": s["wakeups"], "radio_s": s["radio_ms"] / 1000,
                 "light_s": s.get("light_ms", 0) / 1000, "boots": s["boots"],
                 "awake_s": s["boots"] * world.awake_ms / 1000, "publishes": s.get("publish", 0),
                 "connects": s.get("connect", 0), "tips": len(tips)}


def storm(depth_mm, hours, t0):
    n = int(depth_mm / 0.2)
    return [t0 + i * hours * 3600 / n for i in range(n)]


day("dry", [])
day("rainy", storm(data["rainy_mm"], data["rainy_h"], start + 10 * 3600))
day("storm", storm(data["storm_mm"], data["storm_h"], start + 10 * 3600))
day("dry_30min", [], heartbeat_s=1800)
day("rainy_30min", storm(data["rainy_mm"], data["rainy_h"], start + 10 * 3600), heartbeat_s=1800)
fast = data["fast_assoc_ms"]
day("dry_fast", [], assoc_ms=fast)
day("rainy_fast", storm(data["rainy_mm"], data["rainy_h"], start + 10 * 3600), assoc_ms=fast)
day("dry_fast_30min", [], assoc_ms=fast, heartbeat_s=1800)
day("rainy_fast_30min", storm(data["rainy_mm"], data["rainy_h"], start + 10 * 3600),
    assoc_ms=fast, heartbeat_s=1800)

# 24 h of buffered readings replayed to the real broker.
# A tip every 40 s, so a reading every minute all day (1,440), the most a day can hold.
world = simboard.World(start, start + DAY - 30, tips_s=storm(432, 24, start + 1))
world.outages = [(0, 2 ** 40)]
simboard.clear_flash()
simboard.write_config("/flash", base_cfg(deep_sleep=False, rain_hold_s=86400))
simboard.live(world, lambda hw: Gauge(hw, "/flash", log=lambda m: None))
world.outages = []
world.end = 2 ** 62
world.real_io = True
g = Gauge(simboard.SimBoard(world, "timer"), "/flash", log=lambda m: None)
held = len(g.store)
t0 = time.ticks_ms()
while len(g.store):
    g._send(g.clock.now())
replay_ms = time.ticks_diff(time.ticks_ms(), t0)
g.close_link()
print(json.dumps({"days": out, "replay": {"held": held, "ms": replay_ms, "left": len(g.store)}}))
