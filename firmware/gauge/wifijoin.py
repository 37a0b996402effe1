"""Joining Wi-Fi on a wake-up with as little radio time as is safe (firmware/README.md, energy).

A heartbeat wake-up spends most of its energy before the first MQTT byte: finding the access
point, associating, and DHCP (about 1.3 s with the ARP check of ESP-IDF's DHCP client). So:

- the access point that last worked (its BSSID and channel, kept in RTC memory) is asked for
  first, without a scan of its own; if it is gone, the same wake-up falls back to a scan for the
  SSID and saves the access point it joins;
- the address: `wifi_static_ip` from config.json if set; else the last DHCP lease, reused while
  it is younger than half of `wifi_lease_s` (RFC 2131's renewal time T1: the server still holds
  it for us, so no other device has it); else DHCP. A reused address that does not reach the
  broker is dropped and DHCP runs in the same wake-up (`refused`).

The board layer (`hw.net_up(ap, ip)`) does the radio work; this module is the policy, so the
simulated board tests every path under MicroPython's Unix port.
"""


class Join:
    """One wake-up's Wi-Fi join; `state` is the gauge's RTC memory (survives deep sleep)."""

    def __init__(self, hw, cfg, state, log=print):
        self.hw = hw
        self.cfg = cfg
        self.s = state
        self.log = log
        self.how = None  # "static" | "lease" | "dhcp" once joined

    def _address(self, now):
        static = self.cfg["wifi_static_ip"]
        if static:
            return list(static), "static"
        lease = self.s.get("lease")
        keep = self.cfg["wifi_lease_s"] // 2
        if lease and keep > 0 and 0 <= now - lease[4] < keep:
            return lease[:4], "lease"
        return None, "dhcp"

    def up(self, now):
        """Associate and get an address; True when joined."""
        ip, how = self._address(now)
        ap = self.s.get("ap")
        got = None
        if ap:
            got = self.hw.net_up(ap, ip)
            if got is None:
                # The saved access point is gone (replaced, moved, off): scan for the SSID.
                self.s["ap"] = None
                self.hw.count("ap_fallback")
                self.log("saved access point %s gone: scanning" % ap[0])
        if got is None:
            got = self.hw.net_up(None, ip)
        if got is None:
            return False
        joined, ifconfig = got
        if joined:
            self.s["ap"] = list(joined)
        if how == "dhcp" and ifconfig:
            self.s["lease"] = list(ifconfig[:4]) + [now]
        self.how = how
        return True

    def refused(self, now):
        """The reused lease did not work (renumbered network, lease lost): forget it, run DHCP
        now. True if joined again; False if there was nothing to retry."""
        if self.how != "lease":
            return False
        self.s["lease"] = None
        self.hw.count("lease_refused")
        self.log("reused address refused: DHCP")
        self.hw.net_down()
        return self.up(now)
