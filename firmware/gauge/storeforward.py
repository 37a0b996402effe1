"""A ring buffer in flash for readings not yet acknowledged, replayed as a batch.

Fixed-size slots in one preallocated file, so flash use is bounded and writes stay small; a
small index file (head, count, dropped) is replaced atomically by rename, so a power cut leaves
either the old or the new index. When full, the oldest reading is overwritten and counted.
Pure Python (open, seek, os.rename): the same code runs on MicroPython and under CPython tests.
"""

import os


class RingStore:
    """Readings (encoded JSON, one per slot) waiting for the broker's acknowledgement."""

    def __init__(self, path, capacity=2000, slot=192):
        if capacity < 1 or slot < 16:
            raise ValueError("capacity >= 1 and slot >= 16 bytes")
        self.path = path
        self.index_path = path + ".idx"
        self.capacity = capacity
        self.slot = slot
        self.head = 0  # slot of the oldest reading
        self.count = 0
        self.dropped = 0
        self._open()

    def _open(self):
        size = self.capacity * self.slot
        try:
            if os.stat(self.path)[6] != size:
                raise OSError("size changed")
        except OSError:
            # New store (or capacity changed): a fresh, empty file of the right size.
            with open(self.path, "wb") as f:
                blank = b" " * (self.slot - 1) + b"\n"
                for _ in range(self.capacity):
                    f.write(blank)
            self._save_index()
            return
        try:
            with open(self.index_path) as f:
                head, count, dropped = (int(x) for x in f.read().split())
            if 0 <= head < self.capacity and 0 <= count <= self.capacity and dropped >= 0:
                self.head, self.count, self.dropped = head, count, dropped
        except (OSError, ValueError):
            # A damaged index loses the queue's position, not the gauge: start empty.
            self.head, self.count, self.dropped = 0, 0, 0

    def _save_index(self):
        tmp = self.index_path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d %d %d" % (self.head, self.count, self.dropped))
        os.rename(tmp, self.index_path)

    def __len__(self):
        return self.count

    def push(self, encoded):
        """Append one encoded reading (str); overwrites the oldest when full."""
        data = encoded.encode() if isinstance(encoded, str) else bytes(encoded)
        if b"\n" in data or len(data) > self.slot - 1:
            raise ValueError("a reading must be one line of at most %d bytes" % (self.slot - 1))
        if self.count == self.capacity:
            self.head = (self.head + 1) % self.capacity
            self.count -= 1
            self.dropped += 1
        pos = (self.head + self.count) % self.capacity
        with open(self.path, "r+b") as f:
            f.seek(pos * self.slot)
            f.write(data + b" " * (self.slot - 1 - len(data)) + b"\n")
        self.count += 1
        self._save_index()

    def peek(self, n=None):
        """The n oldest readings (all by default), oldest first, as str."""
        n = self.count if n is None else min(n, self.count)
        out = []
        with open(self.path, "rb") as f:
            for i in range(n):
                f.seek(((self.head + i) % self.capacity) * self.slot)
                out.append(f.read(self.slot).decode().strip())
        return out

    def ack(self, n):
        """Forget the n oldest readings: the broker acknowledged them."""
        if n < 0 or n > self.count:
            raise ValueError("cannot acknowledge more readings than are stored")
        self.head = (self.head + n) % self.capacity
        self.count -= n
        self._save_index()
