"""The gauge's settings: config.json on the flash, and the retained MQTT config topic.

config.json holds what a technician sets once (Wi-Fi, broker, credentials, station id, tip size,
pins). The retained topic vigie/v1/gauges/<station>/config may change only the keys in REMOTE,
within their ranges, without reflashing; what it sets is kept in remote.json so it applies from
the next boot even before the broker is reached.
"""

import json

DEFAULTS = {
    "station": None,
    "wifi_ssid": "",
    "wifi_password": "",
    # The WPA2 key itself (64 hex digits, `python3 firmware/psk.py <ssid>` computes it from the
    # passphrase): ESP-IDF takes a 64-character password as the PSK and skips the PBKDF2 (4,096
    # HMAC-SHA1 rounds, ~138 ms on an ESP32) it would run at every join after deep sleep.
    "wifi_psk": "",
    "wifi_static_ip": None,  # [ip, netmask, gateway, dns]: no DHCP, a faster wake-up
    # The DHCP lease of the site's router, in seconds: a wake-up reuses the last address until
    # half of it (RFC 2131's renewal time T1) instead of asking DHCP again. 3600 is the shortest
    # lease common on site routers; set the router's real one (often 86400) for more. 0: never.
    "wifi_lease_s": 3600,
    "mqtt_host": "127.0.0.1",
    "mqtt_port": 1883,
    "mqtt_password": "",
    "mqtt_ca": "ca.pem",  # TLS when this file exists on the flash
    "mqtt_timeout_s": 10,
    "ntp_host": "pool.ntp.org",
    "ntp_every_s": 86400,  # NTP once a day: the measured drift corrects the RTC in between
    # The broker's address from DNS kept this long (and asked again at every boot and after a
    # failed connection); 0: DNS at every connection. Skips a round trip per wake-up.
    "dns_every_s": 86400,
    "config_every_s": 86400,  # the retained config topic re-read daily (and at every boot)
    "mqtt_persistent": True,  # a persistent session: config changes queue for the next wake
    # The CONNECT's answer read with the first reading's PUBACK (MQTT 3.1.1 section 3.1.4): a
    # round trip less per wake-up. False: wait for the CONNACK first, as umqtt.simple does.
    "mqtt_pipeline": True,
    "tip_mm": 0.2,  # informational: Vigie computes depth from its own station record
    "reed_pin": 27,
    "battery_adc_pin": 35,
    "battery_divider_ppm": 2000000,  # divider ratio x 1e6 (integers only), 2.0 for 2 equal resistors
    "fw": "2.0.0",
    "buffer_capacity": 2000,
    "deep_sleep": True,
    "watchdog_ms": 120000,
    # Remote-settable (REMOTE) from here on.
    "heartbeat_s": 900,
    "rain_interval_s": 60,
    "rain_hold_s": 600,
    "debounce_ms": 400,
    "low_battery_mv": 3450,
    "low_battery_heartbeat_s": 3600,
    "low_battery_rain_interval_s": 300,
    "max_batch": 200,
}

# key: (low, high) for the settings the config topic may change.
REMOTE = {
    "heartbeat_s": (60, 86400),
    "rain_interval_s": (10, 3600),
    "rain_hold_s": (0, 86400),
    "debounce_ms": (20, 2000),
    "low_battery_mv": (2500, 4500),
    "low_battery_heartbeat_s": (60, 86400),
    "low_battery_rain_interval_s": (10, 3600),
    "max_batch": (1, 500),
}


def wifi_key(cfg):
    """(the key given to WLAN.connect, True if it is the PSK). A `wifi_psk` that is not 64 hex
    digits is not used (the passphrase is): a typo must not lock the gauge off its network."""
    psk = cfg.get("wifi_psk") or ""
    if len(psk) == 64 and all(c in "0123456789abcdefABCDEF" for c in psk):
        return psk, True
    return cfg.get("wifi_password") or "", False


def load(root):
    """config.json merged over DEFAULTS, then remote.json (what the config topic set)."""
    cfg = dict(DEFAULTS)
    with open(root + "/config.json") as f:
        local = json.load(f)
    if not isinstance(local, dict):
        raise ValueError("config.json must hold an object")
    cfg.update(local)
    if not cfg["station"]:
        raise ValueError("config.json: station is required")
    try:
        with open(root + "/remote.json") as f:
            apply_remote(cfg, f.read())
    except (OSError, ValueError):
        pass  # no remote settings yet, or a damaged file: the local ones stand
    return cfg


def apply_remote(cfg, body):
    """Apply a config topic payload; return the changed keys. ValueError if any key is wrong."""
    try:
        new = json.loads(body)
    except ValueError:
        raise ValueError("config: not JSON")
    if not isinstance(new, dict):
        raise ValueError("config: not an object")
    for key, value in new.items():
        if key not in REMOTE:
            raise ValueError("config: %s cannot be set remotely" % key)
        low, high = REMOTE[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError("config: %s must be an integer from %d to %d" % (key, low, high))
    changed = [k for k in new if cfg.get(k) != new[k]]
    cfg.update(new)
    return changed


def save_remote(root, cfg):
    from storeforward import write_atomic

    write_atomic(root + "/remote.json", json.dumps({k: cfg[k] for k in REMOTE}))
