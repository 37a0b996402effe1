"""A bounded ring buffer in flash for readings the broker has not acknowledged yet.

One preallocated file of fixed-size slots, so flash use is bounded. Each slot holds one record
with its record number and a CRC32, and a small index (oldest record, next record, dropped
count, plus the gauge's own counters in `meta`) is replaced atomically by rename. The index is
the commit: a record counts only once the index that includes it is written. So a power cut
while a slot is written loses at most that record, never the buffer; a cut while the index is
replaced leaves the old index or the new one (littlefs renames atomically; on FAT, a torn slot
is still caught by its CRC). When the buffer is full the oldest record leaves it first (the
index says so before its slot is overwritten) and is counted in `dropped`: keep the newest.
"""

import os

try:
    from binascii import crc32
except ImportError:  # CPython
    from zlib import crc32


def _crc(recno, data):
    return crc32(data, recno & 0xFFFFFFFF) & 0xFFFFFFFF


def write_atomic(path, text):
    """Replace a small file so that a power cut leaves the old content or the new one."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def read_checked(path):
    """The text written by write_checked, or None if missing or damaged."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    body, sep, crc = text.rpartition(" *")
    if not sep or crc != "%08x" % (crc32(body.encode()) & 0xFFFFFFFF):
        return None
    return body


def write_checked(path, body):
    write_atomic(path, body + " *%08x" % (crc32(body.encode()) & 0xFFFFFFFF))


class RingStore:
    """Records (bytes or str, one line each) waiting for the broker's PUBACK, oldest first."""

    def __init__(self, path, capacity=2000, slot=128):
        if capacity < 1 or slot < 32:
            raise ValueError("capacity >= 1 and slot >= 32 bytes")
        self.path = path
        self.index_path = path + ".idx"
        self.capacity = capacity
        self.slot = slot
        self.first = 0  # record number of the oldest record held
        self.next = 0  # record number the next push gets
        self.dropped = 0  # records overwritten while the buffer was full
        self.corrupt = 0  # records whose slot failed its CRC (a torn write on FAT)
        self.meta = {}  # small integers committed with the index (counter, seq, boot, ...)
        self._open()

    def _open(self):
        size = self.capacity * self.slot
        try:
            fresh = os.stat(self.path)[6] != size
        except OSError:
            fresh = True
        if fresh:
            # New store (or the capacity changed): a blank file of the right size.
            with open(self.path, "wb") as f:
                blank = b" " * (self.slot - 1) + b"\n"
                for _ in range(self.capacity):
                    f.write(blank)
            self._save()
            return
        body = read_checked(self.index_path)
        if body is None:
            self._rebuild()
            return
        words = body.split()
        self.first, self.next, self.dropped, self.corrupt = (int(w) for w in words[:4])
        for word in words[4:]:
            key, _, value = word.partition("=")
            self.meta[key] = int(value)

    def _rebuild(self):
        # The index is gone or damaged: the slots still say which records they hold.
        found = {}
        with open(self.path, "rb") as f:
            for pos in range(self.capacity):
                f.seek(pos * self.slot)
                rec = self._parse(f.read(self.slot))
                if rec is not None:
                    found[rec[0]] = rec[1]
        if not found:
            self._save()
            return
        # Record numbers are 32-bit in slots; the highest run of consecutive ones is the queue.
        top = max(found)
        low = top
        while low - 1 in found and top - (low - 1) < self.capacity:
            low -= 1
        self.first, self.next = low, top + 1
        self._save()

    def _parse(self, raw):
        line = raw.rstrip(b" \n")
        if len(line) < 18 or line[8:9] != b" " or line[17:18] != b" ":
            return None
        try:
            recno, crc = int(line[:8], 16), int(line[9:17], 16)
        except ValueError:
            return None
        data = line[18:]
        if _crc(recno, data) != crc:
            return None
        return recno, data

    def _save(self):
        parts = ["%d %d %d %d" % (self.first, self.next, self.dropped, self.corrupt)]
        for key in sorted(self.meta):
            parts.append("%s=%d" % (key, self.meta[key]))
        write_checked(self.index_path, " ".join(parts))

    def __len__(self):
        return self.next - self.first

    def push(self, record, meta=None):
        """Append one record; commit `meta` with it. When full, the oldest is dropped first."""
        data = record.encode() if isinstance(record, str) else bytes(record)
        if b"\n" in data or len(data) > self.slot - 19:
            raise ValueError("a record must be one line of at most %d bytes" % (self.slot - 19))
        if self.next - self.first >= self.capacity:
            # The oldest leaves the queue in the index before its slot is overwritten.
            self.first += 1
            self.dropped += 1
            self._save()
        recno = self.next
        line = ("%08x %08x " % (recno & 0xFFFFFFFF, _crc(recno, data))).encode() + data
        with open(self.path, "r+b") as f:
            f.seek((recno % self.capacity) * self.slot)
            f.write(line + b" " * (self.slot - 1 - len(line)) + b"\n")
        self.next = recno + 1
        if meta:
            self.meta.update(meta)
        self._save()
        return recno

    def commit(self, meta):
        """Commit meta values alone (no record)."""
        self.meta.update(meta)
        self._save()

    def peek(self, n=None):
        """Up to n oldest records as (record number, bytes or None if torn), oldest first."""
        return list(self.iter(n))

    def iter(self, n=None):
        """peek() one slot at a time: a replay holds one record in RAM, not the whole batch."""
        n = len(self) if n is None else min(n, len(self))
        first = self.first
        buf = bytearray(self.slot)
        with open(self.path, "rb") as f:
            for recno in range(first, first + n):
                f.seek((recno % self.capacity) * self.slot)
                f.readinto(buf)
                rec = self._parse(bytes(buf))
                if rec is None or rec[0] != recno & 0xFFFFFFFF:
                    yield recno, None
                else:
                    yield recno, rec[1]

    def ack(self, upto):
        """Forget every record up to record number `upto`: the broker acknowledged them."""
        if upto < self.first or upto >= self.next:
            raise ValueError("cannot acknowledge a record that is not held")
        self.first = upto + 1
        self._save()

    def skip_corrupt(self, recno):
        """Drop a record whose slot is torn; it is counted, never sent."""
        if recno == self.first:
            self.first += 1
            self.corrupt += 1
            self._save()
