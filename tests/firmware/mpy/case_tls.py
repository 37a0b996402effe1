# The gauge over TLS to a Mosquitto listener with the test's own CA (ca.pem on its flash).
import json

import simboard
from gauge import Gauge

data = json.load(open("input.json"))
world = simboard.World(data["start"], data["end"], tips_s=data["tips"],
                       synced_rtc=data.get("synced_rtc", True))
world.real_io = True
world.ntp_ok = data.get("ntp", True)
cfg = {"station": data["station"], "mqtt_host": data.get("host", "localhost"),
       "mqtt_port": data["port"], "mqtt_password": data["password"], "mqtt_timeout_s": 3}
simboard.write_config("/flash", cfg)
if data.get("ca"):
    with open("/flash/ca.pem", "w") as f:
        f.write(data["ca"])
logs = []
simboard.live(world, lambda hw: Gauge(hw, "/flash", log=logs.append))
world.end = 2 ** 62
last = Gauge(simboard.SimBoard(world, "timer"), "/flash", log=logs.append)
print(json.dumps({"meta": last.store.meta, "held": len(last.store), "logs": logs[-20:]}))
