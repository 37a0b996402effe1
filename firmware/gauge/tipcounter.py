"""Counting the bucket's tips: debounce, interval count, and the shortest gap between tips.

Called from the reed switch's interrupt with the time in ms (board-independent, so the same code
runs on a host with a simulated bucket). A reed switch bounces for a few ms, and at 0.2 mm a
bucket cannot tip twice within about half a second, so every edge closer than `debounce_ms`
(default 400 ms) to the last accepted tip is a bounce: counted apart, never as rain. The state
lives in a dict that the gauge keeps in RTC memory, so it survives deep sleep and soft resets.
"""


class TipCounter:
    """Tips since the last reading (`n`), shortest gap (`g`), bounces, last tip time (`t`)."""

    def __init__(self, state, debounce_ms=400):
        self.s = state
        self.debounce_ms = debounce_ms
        for key, value in (("n", 0), ("g", None), ("t", None), ("b", 0)):
            if key not in state:
                state[key] = value

    def edge(self, now_ms):
        """One falling edge of the reed switch at now_ms (wall-clock ms); True if it is a tip."""
        s = self.s
        last = s["t"]
        if last is not None:
            gap = now_ms - last
            if 0 <= gap < self.debounce_ms:
                s["b"] += 1
                return False
            if gap >= 0 and (s["g"] is None or gap < s["g"]):
                s["g"] = gap
        s["t"] = now_ms
        s["n"] += 1
        return True

    def take(self):
        """(tips, min_gap_ms) since the last call; the interval's count restarts at zero."""
        s = self.s
        tips, gap = s["n"], s["g"]
        s["n"], s["g"] = 0, None
        return tips, gap

    def pending(self):
        return self.s["n"]
