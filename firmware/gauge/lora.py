"""The LoRa gauge's compact uplink frame (14 bytes), decoded by firmware/chirpstack/codec.js.

    byte 0      version (1)
    bytes 1-2   seq, uint16, big-endian (wraps; ChirpStack's fCnt is the full counter)
    bytes 3-4   tips in the interval, uint16
    bytes 5-8   cumulative counter, uint32
    bytes 9-10  battery, millivolts, uint16
    bytes 11-12 interval_s, uint16 (1 to 65535)
    byte 13     flags: bit 0 clock not synced, bit 1 low battery, bit 2 rebooted since the last
                frame, bit 3 readings were dropped (buffer full)
No float anywhere, so the bytes are the same on every port.
"""

import struct

VERSION = 1
SIZE = 14
FLAG_UNSYNCED = 1
FLAG_LOW_BATTERY = 2
FLAG_REBOOTED = 4
FLAG_DROPPED = 8


def frame(seq, tips, counter, battery_mv, interval_s, flags=0):
    """The frame as bytes; ValueError for a value the frame cannot carry."""
    for name, value, high in (
        ("tips", tips, 0xFFFF),
        ("counter", counter, 0xFFFFFFFF),
        ("battery_mv", battery_mv, 0xFFFF),
        ("flags", flags, 0x0F),
    ):
        if not isinstance(value, int) or not 0 <= value <= high:
            raise ValueError(name + " out of range for the LoRa frame")
    if not isinstance(interval_s, int) or not 1 <= interval_s <= 0xFFFF:
        raise ValueError("interval_s out of range for the LoRa frame")
    if not isinstance(seq, int) or seq < 0:
        raise ValueError("seq must be an integer >= 0")
    return struct.pack(">BHHIHHB", VERSION, seq & 0xFFFF, tips, counter, battery_mv, interval_s, flags)
