"""The ESP32 board behind the gauge's hardware layer: pins, ADC, RTC, sleep, Wi-Fi, NTP, WDT.

The only module that imports machine, esp32 and network; gauge.py talks to `Board` alone, so a
simulated board (tests/firmware/mpy/simboard.py) runs the same logic under the Unix port.
"""

import time

import esp32
import machine
import network

# Ports whose epoch is 2000-01-01 (older ESP32 builds): the contract wants Unix seconds.
UNIX_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0
RTC_MEMORY_MAX = 2048


class Board:
    def __init__(self, cfg_pins=None, root=""):
        pins = cfg_pins or {}
        self.root = root
        self.reed = machine.Pin(pins.get("reed_pin", 27), machine.Pin.IN, machine.Pin.PULL_UP)
        self.adc = machine.ADC(machine.Pin(pins.get("battery_adc_pin", 35)))
        self.adc.atten(machine.ADC.ATTN_11DB)
        self.divider_ppm = pins.get("battery_divider_ppm", 2000000)
        self.rtc = machine.RTC()
        self.wlan = network.WLAN(network.STA_IF)
        from config import wifi_key

        # The PSK when config.json has one (no PBKDF2 at each join), else the passphrase.
        self.wifi = (pins.get("wifi_ssid", ""), wifi_key(pins)[0])
        self.wdt = None
        self.handler = None

    # time
    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def sleep_ms(self, ms):
        time.sleep_ms(ms)

    def rtc_epoch(self):
        return time.time() + UNIX_OFFSET

    def rtc_epoch_ms(self):
        return (time.time_ns() // 1000000) + UNIX_OFFSET * 1000

    def set_rtc_epoch(self, epoch):
        t = time.gmtime(epoch - UNIX_OFFSET)
        self.rtc.datetime((t[0], t[1], t[2], t[6] + 1, t[3], t[4], t[5], 0))

    def rtc_load(self):
        return self.rtc.memory()

    def rtc_save(self, text):
        data = text.encode()
        if len(data) > RTC_MEMORY_MAX:
            raise ValueError("RTC state too large")
        self.rtc.memory(data)

    def wake_reason(self):
        reason = machine.wake_reason()
        if reason == machine.EXT0_WAKE:
            return "pin"
        if reason == machine.TIMER_WAKE:
            return "timer"
        if machine.reset_cause() in (machine.WDT_RESET, machine.SOFT_RESET):
            return "reset"
        return "power"

    # pins and ADC
    def on_tip(self, handler):
        self.handler = handler
        self.reed.irq(trigger=machine.Pin.IRQ_FALLING, handler=handler)

    def disable_irq(self):
        return machine.disable_irq()

    def enable_irq(self, state):
        machine.enable_irq(state)

    def battery_mv(self):
        # read_uv() is calibrated by the eFuse; integers only (the divider ratio in ppm).
        return self.adc.read_uv() * self.divider_ppm // 1000000000

    # power
    def wait(self, ms, wake):
        # Light sleep (0.8 mA) until the timer or the reed switch (ext0, level low) wakes the
        # chip. The edge may come while the GPIO interrupt is asleep, so a pin wake-up counts
        # as an edge too; if the IRQ saw it as well, the debounce makes it one tip.
        esp32.wake_on_ext0(self.reed, esp32.WAKEUP_ALL_LOW)
        end = time.ticks_add(time.ticks_ms(), ms)
        while not wake():
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                return
            machine.lightsleep(left)
            if machine.wake_reason() == machine.EXT0_WAKE and self.handler is not None:
                self.handler(self.reed)
                while self.reed.value() == 0 and time.ticks_diff(end, time.ticks_ms()) > 0:
                    time.sleep_ms(5)  # the magnet is passing: let the switch open again

    def deepsleep(self, ms):
        self.net_down()  # radio off even if a failed join left it on
        esp32.wake_on_ext0(self.reed, esp32.WAKEUP_ALL_LOW)
        machine.deepsleep(max(1000, ms))

    def reset(self):
        machine.reset()

    def wdt_start(self, ms):
        if self.wdt is None:
            self.wdt = machine.WDT(timeout=ms)

    def feed(self):
        if self.wdt is not None:
            self.wdt.feed()

    # network
    def net_up(self, ap=None, ip=None, timeout_ms=15000):
        """Associate to `ap` ([bssid hex, channel]) if given, else to the strongest access
        point of the SSID that a scan finds; take `ip` ([ip, mask, gw, dns]) or ask DHCP.
        Returns ([bssid hex, channel], ifconfig) once connected, None if not (wifijoin.py
        decides what to try next)."""
        import ubinascii

        self.wlan.active(True)
        if self.wlan.isconnected():
            self.wlan.disconnect()
        # An address given skips the DHCP client (and its ARP check); dhcp4 turns it back on.
        if ip:
            self.wlan.ifconfig((ip[0], ip[1], ip[2], ip[3]))
        else:
            self.wlan.ipconfig(dhcp4=True)
        if ap:
            # The port documents config(channel=) as the scan's starting channel; connect()
            # of 1.25 rewrites the station config with channel 0, so the energy model counts
            # no gain from it: ESP-IDF's fast scan walks the channels up to the access
            # point's, joins that BSSID only, and reports it missing (STAT_NO_AP_FOUND).
            try:
                self.wlan.config(channel=ap[1])
            except (OSError, ValueError):
                pass
            timeout_ms = 5000
        else:
            # connect() by SSID does not tell which access point it joined (config() has no
            # "bssid"): scan, and take the strongest one of our SSID.
            best = None
            for found in self.wlan.scan():
                if found[0] == self.wifi[0].encode() and (best is None or found[3] > best[3]):
                    best = found
            if best is None:
                self.net_down()
                return None
            ap = [ubinascii.hexlify(best[1]).decode(), best[2]]
        self.wlan.connect(self.wifi[0], self.wifi[1], bssid=ubinascii.unhexlify(ap[0]))
        start = time.ticks_ms()
        while not self.wlan.isconnected():
            status = self.wlan.status()
            late = time.ticks_diff(time.ticks_ms(), start) > timeout_ms
            if late or status in (network.STAT_NO_AP_FOUND, network.STAT_WRONG_PASSWORD):
                self.net_down()
                return None
            time.sleep_ms(20)
        return ap, self.wlan.ifconfig()

    def net_down(self):
        # Radio off (WLAN.active(False)), not only disconnected: the modem stays powered
        # otherwise, and deep sleep wants Wi-Fi stopped first (ESP-IDF sleep modes).
        try:
            self.wlan.disconnect()
        except OSError:
            pass
        self.wlan.active(False)

    def rssi(self):
        try:
            return max(-200, min(0, self.wlan.status("rssi")))
        except (OSError, TypeError):
            return None

    def ntp(self, host):
        try:
            import ntptime

            ntptime.host = host
            return ntptime.time() + UNIX_OFFSET
        except (OSError, OverflowError, IndexError):
            return None

    # hooks the simulated board uses; nothing to do on the chip
    def count(self, _what, _n=1):
        pass

    def fault_point(self, _name):
        pass
