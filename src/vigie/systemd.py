"""systemd's service watchdog, spoken directly: a datagram `WATCHDOG=1` on `$NOTIFY_SOCKET`.

The protocol is one line on a Unix socket (sd_notify(3)); a library for it would add a
dependency for less code than this.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdWatchdog:
    """systemd's watchdog (a unit with WatchdogSec=): WATCHDOG=1 on its notify socket.

    Under a per-service unit there is no `vigie up` to judge the heartbeats; systemd restarts the
    unit instead when the pings stop. The reporter pings only while none of its loops is stalled,
    judged in memory, so a database outage (loops retrying, beating) does not stop the pings.
    """

    def __init__(self, socket_path: str, interval_s: float) -> None:
        # An address starting with '@' is in Linux's abstract namespace.
        self.address = "\0" + socket_path[1:] if socket_path.startswith("@") else socket_path
        self.interval_s = interval_s

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], pid: int) -> SystemdWatchdog | None:
        """The watchdog systemd expects from process pid, or None (not under systemd's watchdog,
        or it is meant for another process: `vigie up`'s children inherit its variables)."""
        path, usec = environ.get("NOTIFY_SOCKET"), environ.get("WATCHDOG_USEC")
        owner = environ.get("WATCHDOG_PID")
        if not path or not usec or not usec.isdigit() or int(usec) == 0:
            return None
        if owner is not None and owner != str(pid):
            return None
        return cls(path, int(usec) / 1e6)

    def ping(self) -> None:
        """One keep-alive; a notify socket that is gone is systemd's business, not ours."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(b"WATCHDOG=1", self.address)
        except OSError as exc:
            log.warning("systemd watchdog: %s", exc)
