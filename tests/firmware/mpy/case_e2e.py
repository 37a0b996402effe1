# The gauge under the Unix port, through the test's link proxy, to the real Mosquitto.
import json

import simboard
from gauge import Gauge

data = json.load(open("input.json"))
world = simboard.World(data["start"], data["end"], tips_s=data["tips"])
world.real_io = True
world.control = ("127.0.0.1", data["control_port"])
world.cuts = [tuple(c) for c in data["cuts"]]
cfg = {"station": data["station"], "mqtt_host": "127.0.0.1", "mqtt_port": data["port"],
       "mqtt_password": data["password"], "mqtt_timeout_s": 1, "fw": "2.0.0-e2e"}
simboard.write_config("/flash", cfg)
if data.get("ca"):
    with open("/flash/ca.pem", "wb") as f:
        f.write(data["ca"].encode())
logs = []
g = simboard.live(world, lambda hw: Gauge(hw, "/flash", log=logs.append))
world.end = 2 ** 62
world.cuts = []
last = Gauge(simboard.SimBoard(world, "timer"), "/flash", log=logs.append)
print(json.dumps({"stats": world.stats, "meta": last.store.meta, "held": len(last.store),
                  "dropped": last.store.dropped, "logs": logs[-200:], "cfg": last.cfg["heartbeat_s"],
                  "readings_out": world.stats.get("readings_out", 0)}))
