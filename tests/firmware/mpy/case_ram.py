# make bench-firmware, RAM: 500 readings buffered offline, then replayed to the real broker,
# with the heap of an ESP32 without PSRAM; gc.mem_free() sampled at every MQTT packet.
#
# The simulated board (simboard.py) lives in the same heap, which the real board does not
# have; so the heap is measured, after a collection, at each stage: the interpreter alone,
# with the simulated board loaded, then with the firmware loaded, and at every MQTT packet of
# the replay. The firmware's own figure is what it holds above the simulated board.
import gc

gc.collect()
m_interp = gc.mem_free()

import json  # noqa: E402
import os  # noqa: E402

import simboard  # noqa: E402

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
gc.collect()
m_board = gc.mem_free()  # interpreter + json/os + the simulated board and its world

from gauge import Gauge  # noqa: E402

simboard.live(world, lambda hw: Gauge(hw, root, log=lambda m: None))
world.outages = []
world.end = 2 ** 62
world.real_io = True
hw = simboard.SimBoard(world, "timer")
g = Gauge(hw, root, log=lambda m: None)
held = len(g.store)
gc.collect()
before = gc.mem_free()
low = [before, before]  # [lowest sample as found, lowest live heap (after a collection)]
count = hw.count


def sampled(what, k=1):
    # As found (garbage included: it depends on when the collector last ran), then live.
    low[0] = min(low[0], gc.mem_free())
    gc.collect()
    low[1] = min(low[1], gc.mem_free())
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
                  "free_min_live": low[1], "free_after": gc.mem_free(), "free_interp": m_interp,
                  "free_board": m_board,
                  # what the simulated board takes (code, world, its stats) before the firmware
                  "board_bytes": m_interp - m_board,
                  # the firmware: its modules, Gauge, store, link, at the replay's live peak
                  "firmware_peak_bytes": m_board - low[1],
                  "firmware_idle_bytes": m_board - before}))
