// ChirpStack v4 payload codec for Vigie's LoRa rain gauge (the frame of firmware/gauge/lora.py).
// Paste into the device profile's "Codec" tab (JavaScript functions). The decoded `object` holds
// the reading fields of docs/mqtt.md; ingest takes `ts` from the uplink's `time` and `seq` from
// `fCnt` (the frame's own 16-bit seq wraps, so it is given as `frame_seq`, not `seq`).
//
//   byte 0 version (1) | 1-2 seq u16 | 3-4 tips u16 | 5-8 counter u32 | 9-10 battery mV u16 |
//   11-12 interval_s u16 | 13 flags (1 clock unsynced, 2 low battery, 4 rebooted, 8 dropped)

function decodeUplink(input) {
  var b = input.bytes;
  if (!b || b.length !== 14) {
    return { errors: ["frame must be 14 bytes, got " + (b ? b.length : 0)] };
  }
  if (b[0] !== 1) {
    return { errors: ["unknown frame version " + b[0]] };
  }
  var u16 = function (i) { return (b[i] << 8) | b[i + 1]; };
  var counter = ((b[5] << 24) >>> 0) + (b[6] << 16) + (b[7] << 8) + b[8];
  var interval = u16(11);
  if (interval < 1) {
    return { errors: ["interval_s must be at least 1"] };
  }
  var flags = b[13];
  if (flags > 15) {
    return { errors: ["unknown flag bits " + flags] };
  }
  return {
    data: {
      frame_seq: u16(1),
      tips: u16(3),
      counter: counter,
      battery_v: Math.round(u16(9) / 10) / 100,
      interval_s: interval,
      clock_unsynced: (flags & 1) !== 0,
      low_battery: (flags & 2) !== 0,
      rebooted: (flags & 4) !== 0,
      dropped: (flags & 8) !== 0,
    },
  };
}
