"""Tip counting on the reed switch: an IRQ with debounce, and the shortest gap between tips.

The bucket's magnet closes the reed switch for a few ms per tip and the contact bounces; edges
closer than `debounce_ms` are one tip. The shortest gap between accepted tips goes out as
`min_gap_ms`, so Vigie can flag double tips (under 500 ms, faster than a bucket can tip).
"""

import time

import machine


class TipCounter:
    """Counts falling edges of a pulled-up GPIO; take() returns and resets the interval's count."""

    def __init__(self, pin_number, debounce_ms=50):
        self.debounce_ms = debounce_ms
        self.tips = 0
        self.bounces = 0
        self.min_gap_ms = None
        self._last = None
        self.pin = machine.Pin(pin_number, machine.Pin.IN, machine.Pin.PULL_UP)
        self.pin.irq(trigger=machine.Pin.IRQ_FALLING, handler=self._irq)

    def _irq(self, _pin):
        # Runs in interrupt context: no allocation, no I/O, just arithmetic.
        now = time.ticks_ms()
        if self._last is not None:
            gap = time.ticks_diff(now, self._last)
            if gap < self.debounce_ms:
                self.bounces += 1
                return
            if self.min_gap_ms is None or gap < self.min_gap_ms:
                self.min_gap_ms = gap
        self._last = now
        self.tips += 1

    def add(self, tips, min_gap_ms=None):
        """Count tips seen elsewhere (while waking from deep sleep on the reed switch)."""
        state = machine.disable_irq()
        self.tips += tips
        if min_gap_ms is not None and (self.min_gap_ms is None or min_gap_ms < self.min_gap_ms):
            self.min_gap_ms = min_gap_ms
        machine.enable_irq(state)

    def take(self):
        """(tips, min_gap_ms) since the last call; the counter restarts at zero."""
        state = machine.disable_irq()
        tips, gap = self.tips, self.min_gap_ms
        self.tips, self.min_gap_ms = 0, None
        machine.enable_irq(state)
        return tips, gap
