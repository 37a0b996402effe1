"""MQTT 3.1.1 on the wire for the gauge, over umqtt.simple (pinned, vendored): sockets with a
timeout, a PUBLISH written piece by piece, a CONNECT whose CONNACK is read later.

Apart from mqttlink.py (the session: will, status, config, readings) so that neither module is
large: under MicroPython a module is parsed whole before it is compiled, and a 340-line one
no longer imported in the replay's heap that a 210-line one did (make bench-firmware, RAM).
"""

import umqtt.simple
from umqtt.simple import MQTTClient

try:
    import usocket as _socket
except ImportError:
    import socket as _socket


class Sockets:
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


umqtt.simple.socket = Sockets


class Client(MQTTClient):
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
        the PUBACK is in, as umqtt.simple's publish does; with `wait` off, at once, with the
        packet id for `wait_puback` (a later wait that meets this PUBACK skips it)."""
        head, body, tail = parts
        size = 2 + len(topic) + 2 + len(head) + len(tail)
        size += sum(len(p) for p in body) + max(0, len(body) - 1) * len(sep)
        _write_fixed_header(self.sock, 0x32 | retain, size)
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
        if wait:
            self.wait_puback(pid)
        return pid

    def wait_puback(self, pid):
        while 1:
            op = self.wait_msg()
            if op == 0x40:
                sz = self.sock.read(1)
                if sz != b"\x02":
                    raise OSError("bad PUBACK")
                rcv = self.sock.read(2)
                if rcv[0] << 8 | rcv[1] == pid:
                    return

    def connect_nowait(self, clean_session=True):
        """CONNECT (MQTT 3.1.1, section 3.1) written, its CONNACK left for `connack`: a client
        may send further packets right after CONNECT without waiting (section 3.1.4), and a
        server that refuses the connection processes none of them. umqtt.simple's connect()
        waits for the CONNACK, a round trip of radio time of its own."""
        sock = umqtt.simple.socket.socket()
        sock.connect(umqtt.simple.socket.getaddrinfo(self.server, self.port)[0][-1])
        if self.ssl:
            import ussl

            sock = ussl.wrap_socket(sock, **self.ssl_params)
        self.sock = sock
        flags = clean_session << 1
        fields = [self.client_id]
        if self.lw_topic:
            flags |= 0x4 | self.lw_qos << 3 | self.lw_retain << 5
            fields += [self.lw_topic, self.lw_msg]
        if self.user is not None:
            flags |= 0xC0
            fields += [self.user, self.pswd]
        head = b"\0\x04MQTT\x04" + bytes((flags, self.keepalive >> 8, self.keepalive & 0xFF))
        _write_fixed_header(sock, 0x10, len(head) + sum(2 + len(f) for f in fields))
        sock.write(head)
        for f in fields:
            self._send_str(f)

    def connack(self):
        """Read the CONNACK of connect_nowait: the session-present flag; umqtt's MQTTException
        on a refusal, IndexError or AssertionError on what is not a CONNACK (as its connect)."""
        resp = self.sock.read(4)
        if resp[0] != 0x20 or resp[1] != 0x02:
            raise AssertionError("not a CONNACK")
        if resp[3] != 0:
            raise umqtt.simple.MQTTException(resp[3])
        return resp[2] & 1


def _write_fixed_header(sock, first, size):
    # MQTT's fixed header: the packet type and flags, then the remaining length, 7 bits a byte.
    pkt = bytearray(5)
    pkt[0] = first
    i = 1
    while size > 0x7F:
        pkt[i] = (size & 0x7F) | 0x80
        size >>= 7
        i += 1
    pkt[i] = size
    sock.write(pkt, i + 1)
