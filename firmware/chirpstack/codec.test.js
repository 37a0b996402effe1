// node --test firmware/chirpstack/codec.test.js  (FRAMES=<file.json> from the firmware's
// encoder under MicroPython: tests/firmware/test_lora.py writes it; without it, one fixed frame).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const source = fs.readFileSync(path.join(__dirname, "codec.js"), "utf8");
const sandbox = {};
vm.runInNewContext(source, sandbox);  // as ChirpStack runs it: a plain script, no module
const decodeUplink = sandbox.decodeUplink;

const hex = (h) => Array.from(Buffer.from(h, "hex"));
const cases = process.env.FRAMES
  ? JSON.parse(fs.readFileSync(process.env.FRAMES, "utf8"))
  : [{ hex: "0100070003000000780e4e012c00",
       input: { seq: 7, tips: 3, counter: 120, battery_mv: 3662, interval_s: 300, flags: 0 } }];

test("frames from the firmware's encoder decode to its inputs", () => {
  assert.ok(cases.length > 0);
  for (const c of cases) {
    const out = decodeUplink({ bytes: hex(c.hex), fPort: 2, variables: {} });
    assert.equal(out.errors, undefined, JSON.stringify(out));
    const d = out.data;
    assert.equal(d.frame_seq, c.input.seq % 65536);
    assert.equal(d.tips, c.input.tips);
    assert.equal(d.counter, c.input.counter);
    assert.equal(d.interval_s, c.input.interval_s);
    assert.equal(d.battery_v, Math.round(c.input.battery_mv / 10) / 100);
    assert.equal(d.clock_unsynced, (c.input.flags & 1) !== 0);
    assert.equal(d.low_battery, (c.input.flags & 2) !== 0);
    assert.equal(d.rebooted, (c.input.flags & 4) !== 0);
    assert.equal(d.dropped, (c.input.flags & 8) !== 0);
  }
});

test("malformed frames give errors, never a reading", () => {
  const good = hex(cases[0].hex);
  const bad = [[], good.slice(0, 13), good.concat([0]), [2].concat(good.slice(1)),
               good.slice(0, 11).concat([0, 0, 0]), good.slice(0, 13).concat([16])];
  for (const bytes of bad) {
    const out = decodeUplink({ bytes: bytes, fPort: 2, variables: {} });
    assert.ok(Array.isArray(out.errors) && out.errors.length === 1, JSON.stringify(out));
    assert.equal(out.data, undefined);
  }
  assert.ok(decodeUplink({ bytes: null }).errors);
});

test("the largest counter survives the 32-bit arithmetic", () => {
  const f = good32();
  assert.equal(decodeUplink({ bytes: f }).data.counter, 4294967295);
});

function good32() {
  const f = hex(cases[0].hex);
  f[5] = f[6] = f[7] = f[8] = 0xff;
  return f;
}
