import json
import sys

import simboard
from gauge import Gauge

DAY = 86400
start = 1795852800
data = json.load(open("input.json"))
world = simboard.World(start, start + data["hours"] * 3600, tips_s=data["tips"])
world.outages = [(0, 2 ** 40)]
simboard.write_config("/flash", {"station": "st-smoke", "mqtt_port": 1})
g = simboard.live(world, lambda hw: Gauge(hw, "/flash", log=lambda m: None))
print(json.dumps({"stats": world.stats, "held": len(g.store), "meta": g.store.meta, "impl": sys.implementation.name}))
