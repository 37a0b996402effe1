"""The gauge's wall clock: NTP sync, drift tracking, and readings taken before the first sync.

The RTC keeps running through deep sleep and resets but starts from nothing after a power cut,
so until NTP answers the time is the gauge's own (`synced` is False). Readings taken then are
stored with that device time and their boot number; when a sync in the same boot gives the
offset, it is committed with the buffer (`o<boot>` in the store's meta) and the readings are
restamped when they are sent. A boot that ended before any sync leaves readings that cannot be
dated: they go out with their device time and `"clock": "unsynced"`.

Drift: every sync adds how far the raw RTC ran off to a running total since the first sync of
the boot (the anchor); total / span is the rate, in ppm with integers only, that corrects the
stamps until the next sync. NTP here is whole seconds, so the long span is what makes it exact.
"""

MIN_DRIFT_SPAN_S = 600  # shorter spans measure the NTP jitter, not the crystal


class Clock:
    def __init__(self, hw, state):
        self.hw = hw
        self.s = state  # RTC memory: survives deep sleep and resets, not a power cut
        for key, value in (("sync", None), ("ppm", 0), ("anchor", None), ("gain", 0)):
            if key not in state:
                state[key] = value

    @property
    def synced(self):
        return self.s["sync"] is not None

    def now(self):
        """Best estimate of Unix time, whole seconds: the RTC corrected by the measured drift."""
        raw = self.hw.rtc_epoch()
        last = self.s["sync"]
        if last is None or not self.s["ppm"]:
            return raw
        return raw - (raw - last) * self.s["ppm"] // 1000000

    def now_ms(self):
        return self.hw.rtc_epoch_ms()

    def sync(self, ntp_epoch):
        """Set the clock from NTP; return the offset (seconds) that was applied."""
        raw = self.hw.rtc_epoch()
        offset = ntp_epoch - self.now()
        if self.s["anchor"] is None:
            self.s["anchor"], self.s["gain"] = ntp_epoch, 0
        else:
            self.s["gain"] += raw - ntp_epoch  # what the raw RTC gained since the last sync
            span = ntp_epoch - self.s["anchor"]
            if span >= MIN_DRIFT_SPAN_S:
                self.s["ppm"] = self.s["gain"] * 1000000 // span
        self.hw.set_rtc_epoch(ntp_epoch)
        self.s["sync"] = ntp_epoch
        return offset
