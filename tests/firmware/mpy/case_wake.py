# Wake-ups against the real Mosquitto: the saved access point, its fallback, the reused lease
# and its refusal, daily NTP and config reads, config changes published mid-run (as vigie-api).
import json

import simboard
from gauge import Gauge
from umqtt.simple import MQTTClient

data = json.load(open("input.json"))
world = simboard.World(data["start"], data["end"], tips_s=data.get("tips", []))
world.real_io = True
world.outages = [tuple(o) for o in data.get("outages", [])]
world.faults = [tuple(f) for f in data.get("faults", [])]
cfg = {"station": data["station"], "mqtt_host": "127.0.0.1", "mqtt_port": data["port"],
       "mqtt_password": data["password"], "mqtt_timeout_s": 3}
cfg.update(data.get("cfg", {}))
simboard.write_config("/flash", cfg)
logs = []
topic = "vigie/v1/gauges/%s/config" % data["station"]


def publish(body, qos):
    c = MQTTClient("cfgpub-%d" % world.t, "127.0.0.1", port=data["api_port"], user="vigie-api",
                   password=data["api_password"])
    c.connect()
    c.publish(topic, body, retain=True, qos=qos)
    c.disconnect()


def event(kind, arg):
    def fire(w):
        logs.append([w.now_s(), "event " + kind])
        if kind == "ap_replaced":
            w.ap = {"bssid": arg, "channel": 11}
        elif kind == "renumber":
            w.net += 1
        elif kind == "config":
            publish(arg["body"], arg["qos"])
        elif kind == "drop_session":
            # The gauge's own client id with a clean session: the broker forgets the gauge's
            # persistent one (as a broker restarted without persistence would).
            c = MQTTClient("gauge-" + data["station"], "127.0.0.1", port=data["port"],
                           user=data["station"], password=data["password"])
            c.connect(clean_session=True)
            c.disconnect()
        elif kind == "control":
            # The test fixes the account (the broker's password file) and answers when done.
            import socket

            s = socket.socket()
            s.connect(socket.getaddrinfo("127.0.0.1", data["control_port"])[0][-1])
            s.write(arg.encode() + b"\n")
            logs.append([w.now_s(), "control " + s.readline().decode().strip()])
            s.close()
    return fire


world.events = [(e[0], event(e[1], e[2] if len(e) > 2 else None)) for e in data.get("events", [])]
world.events.sort(key=lambda e: e[0])


def make(hw):
    return Gauge(hw, "/flash", log=lambda m: logs.append([world.now_s(), m]))


simboard.live(world, make)
world.end = 2 ** 62
last = Gauge(simboard.SimBoard(world, "timer"), "/flash", log=lambda m: None)
print(json.dumps({"stats": world.stats, "meta": last.store.meta, "held": len(last.store),
                  "rtc": last.rtc, "heartbeat_s": last.cfg["heartbeat_s"], "logs": logs[-data.get("logs_kept", 300):]}))
