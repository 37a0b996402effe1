# A gauge's life on the simulated board: rain series, outages, reboots, power cuts, NTP.
import json

import simboard
from gauge import Gauge, decode_record

data = json.load(open("input.json"))
world = simboard.World(data["start"], data["end"], tips_s=data["tips"], ppm=data.get("ppm", 0),
                       synced_rtc=data.get("synced_rtc", True),
                       bounces=tuple(data.get("bounces", (0, 2, 5, 9))))
world.outages = [tuple(o) for o in data.get("outages", [])]
world.ntp_ok = data.get("ntp", True)
cfg = {"station": "st-life", "mqtt_host": "127.0.0.1", "mqtt_port": data.get("mqtt_port", 1)}
cfg.update(data.get("cfg", {}))
simboard.write_config("/flash", cfg)
world.faults = [tuple(f) for f in data.get("faults", [])]  # (true second, kind)
logs = []


def make(hw):
    return Gauge(hw, "/flash", log=logs.append)


g = simboard.live(world, make)
# A last boot to read the state as the next wake-up would see it.
world.end = 2 ** 62
g = Gauge(simboard.SimBoard(world, "timer"), "/flash", log=logs.append)
held = []
for recno, d in g.store.peek():
    if d is not None:
        r = decode_record(d)
        held.append({"rec": r, "payload": g._payload(r)})
print(json.dumps({"stats": world.stats, "meta": g.store.meta, "dropped": g.store.dropped,
                  "held": held, "rtc": g.rtc, "now": g.clock.now(), "true": world.now_s(),
                  "logs": logs[-50:], "wlog": world.log, "bounces": g.rtc.get("b")}))
