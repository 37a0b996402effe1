"""The gauge's MQTT session (umqtt.simple, MQTT 3.1.1), following docs/mqtt.md.

Username = station id, password from config.json; a Last Will sets the retained status to
`offline`; `online` is published retained right after CONNACK; the retained config topic is
read at boot and daily (a persistent session queues changes in between). Readings go at QoS 1:
the publish returns only once the PUBACK is in, so the caller removes them from flash only then. TLS when the CA file `mqtt_ca` exists.
"""

import sys

import payload
import umqtt.simple
from umqtt.simple import MQTTClient

try:
    import usocket as _socket
except ImportError:
    import socket as _socket

CONFIG_WAIT_MS = 1500  # the broker sends a retained message right after SUBACK


class Refused(Exception):
    """The broker answered the CONNECT with a refusal (CONNACK return code: 4 bad user name or
    password, 5 not authorised, 2 client id, 3 unavailable). umqtt.simple raises its
    MQTTException for it, which is not an OSError: uncaught, it reset the gauge at every
    wake-up. The address and the network work; only a person can fix the account."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class _Sockets:
    """What umqtt.simple sees as its socket module: sockets with a timeout from the start, so
    a link that accepts the TCP connection but never answers (CONNACK lost) fails in seconds
    instead of hanging the gauge until the watchdog bites."""

    timeout_s = 10

    @staticmethod
    def getaddrinfo(*args):
        # umqtt.simple opens an IPv4 socket and takes the first address: give IPv4 ones first
        # ("localhost" may resolve to ::1 first on a host).
        found = _socket.getaddrinfo(*args)
        return [a for a in found if a[0] == _socket.AF_INET] or found

    last = None  # the plain socket under a TLS one, which has no settimeout of its own

    @classmethod
    def socket(cls, *args):
        s = _socket.socket(*args)
        s.settimeout(cls.timeout_s)
        cls.last = s
        return s


umqtt.simple.socket = _Sockets


class _Client(MQTTClient):
    # umqtt.simple sets the socket back to blocking in wait_msg; a link that dies silently
    # would then hang the gauge until the watchdog bites. Keep a timeout on every read.
    timeout_s = 10

    raw = None

    def wait_msg(self):
        try:
            return super().wait_msg()
        finally:
            if self.raw is not None:
                self.raw.settimeout(self.timeout_s)

    def publish_parts(self, topic, parts, retain=False, wait=True, sep=b","):
        """QoS 1 PUBLISH of head + sep.join(parts) + tail without building it in RAM (an ESP32's
        heap is fragmented; one 8 KiB string may not fit where 60 small ones do). Returns once
        the PUBACK is in, as umqtt.simple's publish does; with `wait` off, at once: a later
        wait reads that PUBACK and skips it (another packet id)."""
        head, body, tail = parts
        size = 2 + len(topic) + 2 + len(head) + len(tail)
        size += sum(len(p) for p in body) + max(0, len(body) - 1) * len(sep)
        pkt = bytearray(b"\x32\0\0\0\0")
        pkt[0] |= retain
        i = 1
        while size > 0x7F:
            pkt[i] = (size & 0x7F) | 0x80
            size >>= 7
            i += 1
        pkt[i] = size
        self.sock.write(pkt, i + 1)
        self._send_str(topic)
        self.pid = self.pid % 65535 + 1
        pid = self.pid
        self.sock.write(bytes((pid >> 8, pid & 0xFF)))
        self.sock.write(head)
        for n, p in enumerate(body):
            if n:
                self.sock.write(sep)
            self.sock.write(p)
        self.sock.write(tail)
        while wait:
            op = self.wait_msg()
            if op == 0x40:
                sz = self.sock.read(1)
                if sz != b"\x02":
                    raise OSError("bad PUBACK")
                rcv = self.sock.read(2)
                if rcv[0] << 8 | rcv[1] == pid:
                    return


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

    def connect(self, read_config=True, online=payload.STATUS_ONLINE):
        """CONNECT, the config read when due, then `online` (the status payload to publish).
        Returns whether the config was read; raises Refused, or what the socket raises."""
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
        c.timeout_s = _Sockets.timeout_s = cfg["mqtt_timeout_s"]
        c.set_last_will(status, payload.STATUS_OFFLINE, retain=True, qos=1)
        c.set_callback(self._message)
        self.client = c
        persistent = cfg["mqtt_persistent"]
        # A persistent session keeps the config subscription at the broker: a change published
        # while the gauge sleeps is queued and arrives with the next wake-up's PUBACKs, so the
        # retained message need not be fetched (SUBSCRIBE and a wait) on every wake-up.
        try:
            present = c.connect(clean_session=not persistent)
        except umqtt.simple.MQTTException as e:
            raise Refused(e.args[0] if e.args else 0)
        c.raw = _Sockets.last
        self._config_seen = False
        if persistent and not present:
            read_config = True  # a new session: subscribe (the retained message comes with it)
        if read_config:
            c.subscribe(config_topic(self.station), qos=1)
            self.hw.count("subscribe")
            deadline = self.hw.ticks_ms() + CONFIG_WAIT_MS
            while not self._config_seen and self.hw.ticks_diff(deadline, self.hw.ticks_ms()) > 0:
                if c.check_msg() is None:
                    self.hw.sleep_ms(20)
        # `online` goes without waiting for its PUBACK: the readings' PUBACK wait that follows
        # reads it (and skips it: another packet id). A round trip less per wake-up.
        c.publish_parts(status, (online, (), b""), True, False)
        self.hw.count("status")
        return read_config

    def _message(self, topic, msg):
        if topic == config_topic(self.station).encode():
            self._config_seen = True
            self.on_config(msg)

    def publish_up(self, parts):
        """One reading (a str) or a batch (a list of encoded readings), QoS 1."""
        self.hw.count("publish", len(parts) if isinstance(parts, str) else sum(len(p) + 1 for p in parts))
        topic = payload.topic(self.station, "up")
        if isinstance(parts, str):
            self.client.publish(topic, parts, qos=1)
        else:
            self.client.publish_parts(topic, (b'{"readings":[', parts, b"]}"))

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
