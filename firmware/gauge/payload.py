"""Payloads of the docs/mqtt.md contract, built by the gauge.

Pure Python on purpose: it imports nothing MicroPython-specific (not even json, whose
`separators` argument older MicroPython builds lack), and it uses no float: the battery comes in
as whole millivolts and is written with integer arithmetic, because MicroPython's float
formatting rounds differently from CPython's (3.655 V: "3.66" against "3.65") and the ESP32's
floats are single precision. So the bytes are the same on the board, under the Unix port and in
CPython, and the same as the simulator's (tests/firmware/test_same_bytes.py runs both).
"""

TOPIC_ROOT = "vigie/v1"
STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"
# The contract's limits: ingest refuses payloads over 64 KiB and batches over 10,000 readings.
MAX_PAYLOAD_BYTES = 60 * 1024
MAX_BATCH_READINGS = 10000

_STATION_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
_FW_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_+"
# Field order of the documented examples.
_ORDER = (
    "seq", "ts", "tips", "counter", "interval_s", "battery_v", "rssi", "fw", "min_gap_ms", "clock"
)


def check_station(station):
    """Raise ValueError unless station is a valid id (a-z, 0-9, '-', 2 to 63 chars)."""
    if not isinstance(station, str) or not 2 <= len(station) <= 63:
        raise ValueError("station id must be 2 to 63 characters")
    if station[0] == "-" or any(c not in _STATION_CHARS for c in station):
        raise ValueError("station id: lower-case letters, digits and '-' only")
    return station


def topic(station, kind="up", root=TOPIC_ROOT):
    """vigie/v1/gauges/<station>/<up|status>."""
    if kind not in ("up", "status"):
        raise ValueError("kind must be 'up' or 'status'")
    return root + "/gauges/" + check_station(station) + "/" + kind


def status_online(failures=0, why="", at=None):
    """The retained status after a connect: `online`, or, once connections have failed since
    the boot, a JSON object that tells a technician (mosquitto_sub, docs/mqtt.md) how many
    failed, the last reason (the gauge's own short codes) and when."""
    if not failures:
        return STATUS_ONLINE
    out = '{"state":"online","connect_failures":%d' % _int("failures", failures, 0, 2**62)
    if why:
        if any(c not in _FW_CHARS for c in why):
            raise ValueError("failure reason: letters, digits and . - _ + only")
        out += ',"last_failure":"%s"' % why
    if at is not None:
        out += ',"last_failure_ts":"%s"' % iso8601(at)
    return out + "}"


def _days_to_civil(days):
    # Howard Hinnant's days-from-epoch to (y, m, d); no time module needed.
    days += 719468
    era = (days if days >= 0 else days - 146096) // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def iso8601(epoch):
    """Unix epoch seconds (int) as 2026-11-28T14:05:00Z."""
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise ValueError("ts must be whole Unix seconds >= 0")
    days, rem = divmod(epoch, 86400)
    y, m, d = _days_to_civil(days)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, hh, mm, ss)


def _int(name, value, low, high):
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(name + " must be an integer")
    if not low <= value <= high:
        raise ValueError("%s must be between %d and %d" % (name, low, high))
    return value


def reading(
    seq,
    ts,
    tips=None,
    counter=None,
    interval_s=None,
    battery_mv=None,
    rssi=None,
    fw=None,
    min_gap_ms=None,
    unsynced=False,
):
    """One reading as a dict, checked against the contract's ranges (ValueError otherwise)."""
    if tips is None and counter is None:
        raise ValueError("a reading needs tips or counter")
    r = {"seq": _int("seq", seq, 0, 2**63 - 1), "ts": iso8601(ts)}
    if tips is not None:
        r["tips"] = _int("tips", tips, 0, 1000000)
    if counter is not None:
        r["counter"] = _int("counter", counter, 0, 2**62)
    if interval_s is not None:
        r["interval_s"] = _int("interval_s", interval_s, 1, 86400)
    if battery_mv is not None:
        r["battery_v"] = volts(_int("battery_mv", battery_mv, 0, 20000))
    if rssi is not None:
        r["rssi"] = _int("rssi", rssi, -200, 0)
    if fw is not None:
        if not isinstance(fw, str) or not 1 <= len(fw) <= 32:
            raise ValueError("fw must be 1 to 32 characters")
        if any(c not in _FW_CHARS for c in fw):
            raise ValueError("fw: letters, digits and . - _ + only")
        r["fw"] = fw
    if min_gap_ms is not None:
        r["min_gap_ms"] = _int("min_gap_ms", min_gap_ms, 0, 86400000)
    if unsynced:
        # ts is the gauge's own clock, never set by NTP (docs/mqtt.md, field `clock`).
        r["clock"] = "unsynced"
    return r


class Volts:
    """Centivolts as the contract's number: what Python's json writes for round(mv / 1000, 2)."""

    def __init__(self, centi):
        self.centi = centi

    def text(self):
        whole, frac = divmod(self.centi, 100)
        if frac % 10 == 0:
            return "%d.%d" % (whole, frac // 10)  # 3.70 V is written 3.7, 4.00 V is 4.0
        return "%d.%02d" % (whole, frac)

    def __eq__(self, other):
        return isinstance(other, Volts) and other.centi == self.centi


def volts(mv):
    """Whole millivolts to Volts, rounded half up to the centivolt with integers only."""
    return Volts((mv + 5) // 10)


def _number(value):
    if isinstance(value, Volts):
        return value.text()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError("only integers and volts are written: no float crosses the wire")


def encode(r):
    """A reading dict as compact JSON text, fields in the documented order."""
    parts = []
    for key in _ORDER:
        if key in r:
            value = r[key]
            text = '"' + value + '"' if isinstance(value, str) else _number(value)
            parts.append('"' + key + '":' + text)
    return "{" + ",".join(parts) + "}"


def batches(encoded, max_bytes=MAX_PAYLOAD_BYTES, max_readings=MAX_BATCH_READINGS):
    """Encoded readings packed into as few {"readings": [...]} payloads as the limits allow."""
    head, tail = '{"readings":[', "]}"
    out, chunk, size = [], [], len(head) + len(tail)
    for item in encoded:
        extra = len(item) + (1 if chunk else 0)
        if chunk and (size + extra > max_bytes or len(chunk) >= max_readings):
            out.append(head + ",".join(chunk) + tail)
            chunk, size, extra = [], len(head) + len(tail), len(item)
        if size + extra > max_bytes:
            raise ValueError("one reading is larger than a whole payload")
        chunk.append(item)
        size += extra
    if chunk:
        out.append(head + ",".join(chunk) + tail)
    return out
