"""Vigie rain gauge firmware (MicroPython, ESP32): count tips, report every interval over MQTT.

Each interval the gauge builds one reading (payload.py, the docs/mqtt.md contract), pushes it
to the flash ring buffer, and sends everything the buffer holds: one reading alone, or a
{"readings": [...]} batch after an outage. A reading leaves the buffer only once the broker has
acknowledged it (QoS 1). The broker holds a Last Will ("offline", retained) on the status topic.

Two power modes (config "sleep"): "light" stays awake between intervals and counts tips by IRQ
(mains or a large solar panel); "deep" sleeps between tips, waking on the reed switch (ext0) to
count one tip in RTC memory, and on the timer to report.
"""

import json
import time

import esp32
import machine
import network
from umqtt.simple import MQTTClient

import payload
from storeforward import RingStore
from tipcounter import TipCounter

# MicroPython on ESP32 counts time from 2000-01-01; the contract wants Unix seconds.
UNIX_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0
RTC_STATE_MAX = 2048


def load_config(path="config.json"):
    with open(path) as f:
        return json.load(f)


def unix_now():
    return time.time() + UNIX_OFFSET


def battery_volts(cfg):
    adc = machine.ADC(machine.Pin(cfg["battery_adc_pin"]))
    adc.atten(machine.ADC.ATTN_11DB)
    return adc.read_uv() / 1_000_000 * cfg["battery_divider"]


def wifi(cfg, timeout_ms=20000):
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(cfg["wifi_ssid"], cfg["wifi_password"])
        start = time.ticks_ms()
        while not wlan.isconnected():
            if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
                return None
            time.sleep_ms(200)
    return wlan


def sync_clock():
    try:
        import ntptime

        ntptime.settime()
        return True
    except Exception:  # no NTP: keep the RTC's time; Vigie flags the skew if any
        return False


def mqtt_client(cfg):
    station = cfg["station"]
    status = payload.topic(station, "status")
    client = MQTTClient(
        "gauge-" + station,
        cfg["mqtt_host"],
        port=cfg["mqtt_port"],
        user=station,
        password=cfg["mqtt_password"],
        keepalive=max(60, cfg["interval_s"] * 2),
        ssl=cfg.get("mqtt_tls", True),
    )
    # The broker says "offline" for us if we vanish without a DISCONNECT.
    client.set_last_will(status, payload.STATUS_OFFLINE, retain=True, qos=1)
    client.connect(clean_session=True)
    client.publish(status, payload.STATUS_ONLINE, retain=True, qos=1)
    return client


def send_pending(cfg, store):
    """Send the buffer; acknowledge in flash only what the broker acknowledged."""
    if not len(store):
        return 0
    wlan = wifi(cfg)
    if wlan is None:
        return 0
    up = payload.topic(cfg["station"], "up")
    sent = 0
    client = mqtt_client(cfg)
    try:
        while len(store):
            items = store.peek(cfg.get("max_batch", 500))
            body = items[0] if len(items) == 1 else payload.batches(items)[0]
            n = 1 if len(items) == 1 else body.count('"seq":')
            client.publish(up, body, qos=1)  # umqtt.simple waits for the PUBACK
            store.ack(n)
            sent += n
        client.disconnect()
    except OSError:
        pass  # link lost: what was not acknowledged stays in flash for next time
    return sent


def make_reading(cfg, state, tips, min_gap):
    state["seq"] += 1
    state["counter"] += tips
    return payload.encode(
        payload.reading(
            seq=state["seq"],
            ts=unix_now() // cfg["interval_s"] * cfg["interval_s"],
            tips=tips,
            counter=state["counter"],
            interval_s=cfg["interval_s"],
            battery_v=battery_volts(cfg),
            rssi=max(-200, min(0, network.WLAN(network.STA_IF).status("rssi") or 0)),
            fw=cfg["fw"],
            min_gap_ms=min_gap,
        )
    )


def run_light(cfg, store):
    counter = TipCounter(cfg["reed_pin"], cfg.get("debounce_ms", 50))
    state = {"seq": -1, "counter": 0}
    interval = cfg["interval_s"]
    if wifi(cfg):
        sync_clock()
    while True:
        wait = interval - unix_now() % interval
        time.sleep(wait)
        tips, gap = counter.take()
        store.push(make_reading(cfg, state, tips, gap))
        send_pending(cfg, store)


def run_deep(cfg, store):
    rtc = machine.RTC()
    raw = rtc.memory()
    state = json.loads(raw) if raw else {"seq": -1, "counter": 0, "tips": 0, "gap": None, "last": None}
    now_ms = time.ticks_ms() + unix_now() * 1000
    interval = cfg["interval_s"]
    if machine.wake_reason() == machine.EXT0_WAKE:
        gap = None if state["last"] is None else now_ms - state["last"]
        if gap is None or gap >= cfg.get("debounce_ms", 50):  # closer edges are contact bounce
            if gap is not None and (state["gap"] is None or gap < state["gap"]):
                state["gap"] = gap
            state["tips"] += 1
            state["last"] = now_ms
    elif unix_now() % interval < 5 or machine.wake_reason() == machine.TIMER_WAKE:
        if state["seq"] < 0 and wifi(cfg):
            sync_clock()
        store.push(make_reading(cfg, state, state["tips"], state["gap"]))
        state["tips"], state["gap"] = 0, None
        send_pending(cfg, store)
    rtc.memory(json.dumps(state)[:RTC_STATE_MAX])
    reed = machine.Pin(cfg["reed_pin"], machine.Pin.IN, machine.Pin.PULL_UP)
    esp32.wake_on_ext0(pin=reed, level=esp32.WAKEUP_ALL_LOW)
    machine.deepsleep((interval - unix_now() % interval) * 1000)


def main():
    cfg = load_config()
    payload.check_station(cfg["station"])
    store = RingStore("readings.ring", cfg.get("buffer_capacity", 2000))
    if cfg.get("sleep", "light") == "deep":
        run_deep(cfg, store)
    else:
        run_light(cfg, store)


main()
