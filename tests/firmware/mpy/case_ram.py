# make bench-firmware, RAM: 500 readings buffered offline, then replayed to the real broker,
# with the heap of an ESP32 without PSRAM; gc.mem_free() sampled at every MQTT packet.
import gc
import json
import os

import simboard
from gauge import Gauge

data = json.load(open("input.json"))
start = data["start"]
root = "ramfs"
try:
    os.mkdir(root)
except OSError:
    pass
n = data["readings"]
world = simboard.World(start, start + n * 60 + 30, tips_s=[start + 1 + 60 * i for i in range(n)],
                       root=root, bounces=(0,))
world.outages = [(0, 2 ** 40)]
simboard.write_config(root, {"station": data["station"], "mqtt_host": "127.0.0.1",
                             "mqtt_port": data["port"], "mqtt_password": data["password"],
                             "deep_sleep": False, "rain_hold_s": 86400})
simboard.live(world, lambda hw: Gauge(hw, root, log=lambda m: None))
world.outages = []
world.end = 2 ** 62
world.real_io = True
hw = simboard.SimBoard(world, "timer")
g = Gauge(hw, root, log=lambda m: None)
held = len(g.store)
gc.collect()
before = gc.mem_free()
low = [before]
count = hw.count


def sampled(what, k=1):
    low[0] = min(low[0], gc.mem_free())
    count(what, k)


hw.count = sampled
while len(g.store):
    sent = g.sent
    g._send(g.clock.now())
    if g.sent == sent:
        break
g.close_link()
gc.collect()
print(json.dumps({"held": held, "left": len(g.store), "free_before": before, "free_min": low[0],
                  "free_after": gc.mem_free(), "total": before + 0}))
