"""The gauge's MQTT session (umqtt.simple, MQTT 3.1.1), following docs/mqtt.md.

Username = station id, password from config.json; a Last Will sets the retained status to
`offline`; `online` is published retained right after CONNACK; the retained config topic is
read at boot and daily (a persistent session queues changes in between). Readings go at QoS 1:
the publish returns only once the PUBACK is in, so the caller removes them from flash only then. TLS when the CA file `mqtt_ca` exists.
"""

import sys

import payload
import umqtt.simple
from mqttwire import Client, Sockets

CONFIG_WAIT_MS = 1500  # the broker sends a retained message right after SUBACK


class Refused(Exception):
    """The broker answered the CONNECT with a refusal (CONNACK return code: 4 bad user name or
    password, 5 not authorised, 2 client id, 3 unavailable). umqtt.simple raises its
    MQTTException for it, which is not an OSError: uncaught, it reset the gauge at every
    wake-up. The address and the network work; only a person can fix the account."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def _read_ca(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _is_ipv4(host):
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts)


def _ipv4_of(sockaddr):
    # ESP32 port: ("1.2.3.4", port); Unix port: the raw sockaddr_in (family, port, address).
    if isinstance(sockaddr, tuple):
        return sockaddr[0]
    return ".".join(str(b) for b in sockaddr[4:8])


class Link:
    def __init__(self, hw, cfg, on_config, state=None):
        self.hw = hw
        self.cfg = cfg
        self.on_config = on_config
        self.station = cfg["station"]
        self.client = None
        self.s = {} if state is None else state  # the gauge's RTC memory: the DNS answer
        self.pending = False  # a CONNECT written whose CONNACK is not read yet
        self._config_seen = False

    def _address(self):
        """The broker's IPv4 address. A name is resolved once per `dns_every_s` (and after a
        failed connection: the gauge drops "dns"), the answer kept in RTC memory: a heartbeat
        wake-up then spends no DNS round trip (radio time) before the TCP handshake."""
        host = self.cfg["mqtt_host"]
        if _is_ipv4(host):
            return host
        now = self.hw.rtc_epoch()
        every = self.cfg["dns_every_s"]
        cached = self.s.get("dns")
        # RTC memory is the gauge's own, but a damaged entry must not stop it: resolve again.
        if isinstance(cached, list) and len(cached) == 3 and cached[0] == host and every > 0:
            if isinstance(cached[2], int) and 0 <= now - cached[2] < every:
                return cached[1]
        self.hw.count("dns")
        found = Sockets.getaddrinfo(host, self.cfg["mqtt_port"])
        ip = _ipv4_of(found[0][-1])
        self.s["dns"] = [host, ip, now]
        return ip

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
        # umqtt resolves its server itself: give it the address (a literal needs no DNS). TLS
        # still checks the certificate against the name (server_hostname above).
        c = Client(
            "gauge-" + self.station,
            self._address(),
            port=cfg["mqtt_port"],
            user=self.station,
            password=cfg["mqtt_password"],
            keepalive=max(60, cfg["heartbeat_s"] * 2),
            ssl=ca is not None,
            ssl_params=ssl_params,
        )
        c.timeout_s = Sockets.timeout_s = cfg["mqtt_timeout_s"]
        c.set_last_will(status, payload.STATUS_OFFLINE, retain=True, qos=1)
        c.set_callback(self._message)
        self.client = c
        persistent = cfg["mqtt_persistent"]
        # A persistent session keeps the config subscription at the broker: a change published
        # while the gauge sleeps is queued and arrives with the next wake-up's PUBACKs, so the
        # retained message need not be fetched (SUBSCRIBE and a wait) on every wake-up.
        # Pipelined (a wake-up that does not read the config): the CONNACK is read with the
        # first reading's PUBACK (`confirm`), one round trip for both.
        self.pending = cfg["mqtt_pipeline"] and not read_config
        try:
            if self.pending:
                c.connect_nowait(clean_session=not persistent)
                present = True  # known at `confirm`
            else:
                present = c.connect(clean_session=not persistent)
                self.hw.count("connack")
        except umqtt.simple.MQTTException as e:
            raise Refused(e.args[0] if e.args else 0)
        c.raw = Sockets.last
        if persistent and not present:
            read_config = True  # a new session: subscribe (the retained message comes with it)
        if read_config:
            self.read_config()
        # `online` goes without waiting for its PUBACK: the readings' PUBACK wait that follows
        # reads it (and skips it: another packet id). A round trip less per wake-up.
        try:
            c.publish_parts(status, (online, (), b""), True, False)
        except OSError:
            self._refusal()
            raise
        self.hw.count("status")
        return read_config

    def _refusal(self):
        """After a write failed behind a pipelined CONNECT: raise Refused if the broker's
        CONNACK says so. A broker that refuses closes the connection, so the writes behind
        the CONNECT can fail (EPIPE, reset) before the CONNACK is read; the technician should
        still see the refusal's code. Anything else: the write's own error stands."""
        if not self.pending:
            return
        try:
            self.confirm()
        except Refused:
            raise
        except Exception:  # noqa: BLE001 - nothing readable: keep the write's error
            pass

    def read_config(self):
        """SUBSCRIBE to the config topic and wait a little for its retained message."""
        c = self.client
        self._config_seen = False
        c.subscribe(config_topic(self.station), qos=1)
        self.hw.count("subscribe")
        deadline = self.hw.ticks_ms() + CONFIG_WAIT_MS
        while not self._config_seen and self.hw.ticks_diff(deadline, self.hw.ticks_ms()) > 0:
            if c.check_msg() is None:
                self.hw.sleep_ms(20)

    def confirm(self):
        """Read a pipelined CONNACK (once). Refused on a refusal; True if the broker had lost
        the persistent session (its config subscription with it: read the config again)."""
        if not self.pending:
            return False
        try:
            present = self.client.connack()
        except umqtt.simple.MQTTException as e:
            raise Refused(e.args[0] if e.args else 0)
        self.pending = False
        return self.cfg["mqtt_persistent"] and not present

    def _message(self, topic, msg):
        if topic == config_topic(self.station).encode():
            self._config_seen = True
            self.on_config(msg)

    def publish_up(self, parts):
        """One reading (a str) or a batch (a list of encoded readings), QoS 1; returns once the
        PUBACK is in, with what `confirm` returned (a pipelined CONNACK is read first)."""
        self.hw.count("publish", len(parts) if isinstance(parts, str) else sum(len(p) + 1 for p in parts))
        topic = payload.topic(self.station, "up")
        body = (parts, (), b"") if isinstance(parts, str) else (b'{"readings":[', parts, b"]}")
        try:
            pid = self.client.publish_parts(topic, body, wait=False)
        except OSError:
            self._refusal()
            raise
        lost = self.confirm()
        self.client.wait_puback(pid)
        return lost

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
