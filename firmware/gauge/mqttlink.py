"""The gauge's MQTT session (umqtt.simple, MQTT 3.1.1), following docs/mqtt.md.

Username = station id, password from config.json; a Last Will sets the retained status to
`offline`; `online` is published retained right after CONNACK; the retained config topic is
read at connect. Readings go at QoS 1: umqtt.simple's publish returns only once the PUBACK is
in, so the caller removes them from flash only then. TLS when the CA file `mqtt_ca` exists.
"""

import sys

import payload
from umqtt.simple import MQTTClient

CONFIG_WAIT_MS = 1500  # the broker sends a retained message right after SUBACK


class _Client(MQTTClient):
    # umqtt.simple sets the socket back to blocking in wait_msg; a link that dies silently
    # would then hang the gauge until the watchdog bites. Keep a timeout on every read.
    timeout_s = 10

    def wait_msg(self):
        try:
            return super().wait_msg()
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout_s)


def _read_ca(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


class Link:
    def __init__(self, hw, cfg, on_config):
        self.hw = hw
        self.cfg = cfg
        self.on_config = on_config
        self.station = cfg["station"]
        self.client = None

    def connect(self, read_config=True):
        cfg = self.cfg
        ca_path = cfg["mqtt_ca"]
        if not ca_path.startswith("/"):
            ca_path = self.hw.root + "/" + ca_path
        ca = _read_ca(ca_path)
        ssl_params = {}
        if ca is not None:
            import tlswrap

            # umqtt.simple 1.3.4 wraps the socket with `ussl.wrap_socket`; ours verifies the
            # broker against the CA (ports from 1.23 on have `tls`, not always `ussl`).
            sys.modules["ussl"] = tlswrap
            ssl_params = {"cadata": ca, "server_hostname": cfg["mqtt_host"]}
        status = payload.topic(self.station, "status")
        c = _Client(
            "gauge-" + self.station,
            cfg["mqtt_host"],
            port=cfg["mqtt_port"],
            user=self.station,
            password=cfg["mqtt_password"],
            keepalive=max(60, cfg["heartbeat_s"] * 2),
            ssl=ca is not None,
            ssl_params=ssl_params,
        )
        c.timeout_s = cfg["mqtt_timeout_s"]
        c.set_last_will(status, payload.STATUS_OFFLINE, retain=True, qos=1)
        c.set_callback(self._message)
        self.client = c
        c.connect(clean_session=True)
        c.sock.settimeout(c.timeout_s)
        c.publish(status, payload.STATUS_ONLINE, retain=True, qos=1)
        self.hw.count("publish")
        self._config_seen = False
        if not read_config:
            return
        c.subscribe(config_topic(self.station), qos=1)
        deadline = self.hw.ticks_ms() + CONFIG_WAIT_MS
        while not self._config_seen and self.hw.ticks_diff(deadline, self.hw.ticks_ms()) > 0:
            if c.check_msg() is None:
                self.hw.sleep_ms(20)

    def _message(self, topic, msg):
        if topic == config_topic(self.station).encode():
            self._config_seen = True
            self.on_config(msg)

    def publish_up(self, body):
        self.hw.count("publish")
        self.client.publish(payload.topic(self.station, "up"), body, qos=1)

    def close(self, clean=False):
        c, self.client = self.client, None
        if c is None or c.sock is None:
            return
        try:
            if clean:
                c.disconnect()  # a clean goodbye: the broker drops the will, status stays online
            else:
                c.sock.close()
        except OSError:
            pass


def config_topic(station):
    return payload.TOPIC_ROOT + "/gauges/" + payload.check_station(station) + "/config"
