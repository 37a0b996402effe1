"""What `make chaos` runs its services on: a TimescaleDB server of its own (so it can restart it
and fill its disk without touching the shared one), network namespaces for the gauges and the
broker joined by veth pairs, and small tmpfs mounts for the disk-full faults.

Everything here needs root (ip netns, mount), which the suite has on this machine. Each object
undoes itself in close(); namespaces carry the suite's pid in their name, so a run that was
killed before its cleanup leaves names the next run recognises and removes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from vigie.broker import LocalBroker, init_broker
from vigie.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def run(*cmd: str) -> None:
    """Run a system command; its stderr in the error when it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")


# -- small filesystems ----------------------------------------------------------------------------
@dataclass
class SmallDisk:
    """A tmpfs of `size_mib` at `path` (loop devices work here too; tmpfs needs no image file)."""

    path: Path
    size_mib: int
    mounted: bool = False

    def mount(self) -> SmallDisk:
        self.path.mkdir(parents=True, exist_ok=True)
        run("mount", "-t", "tmpfs", "-o", f"size={self.size_mib}m,mode=0755", "tmpfs", str(self.path))
        self.mounted = True
        return self

    def fill(self, leave_bytes: int) -> Path:
        """Write a ballast file until about leave_bytes are free; returns it (delete to free)."""
        ballast = self.path / "chaos-ballast"
        free = shutil.disk_usage(self.path).free
        size = max(0, free - leave_bytes)
        with open(ballast, "wb") as f:
            chunk = b"\0" * (1 << 20)
            while size > 0:
                n = min(size, len(chunk))
                try:
                    f.write(chunk[:n])
                except OSError:
                    break
                size -= n
        return ballast

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.path).free

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)
            self.mounted = False


# -- the database ---------------------------------------------------------------------------------
@dataclass
class PrivatePg:
    """scripts/timescaledb.sh on a port and data directory of this run (as tests/ingest does)."""

    port: int
    # A parent of its own: timescaledb.sh chowns the data directory's parent recursively, and under
    # /var/lib/vigie-pg that races with the shared server's files ("chown: cannot access").
    data: str = field(default_factory=lambda: f"/var/lib/vigie-pg-chaos/{uuid.uuid4().hex[:8]}/data")

    @property
    def prefix(self) -> str:
        """The path of the server's root on this host ('' on Debian 13, the chroot elsewhere)."""
        if "trixie" in Path("/etc/os-release").read_text():
            return ""
        return os.environ.get("VIGIE_PG_ROOT", "/var/lib/vigie/trixie")

    def _script(self, action: str) -> None:
        env = {**os.environ, "VIGIE_PG_PORT": str(self.port), "VIGIE_PG_DATA": self.data}
        done = subprocess.run(
            ["bash", str(ROOT / "scripts/timescaledb.sh"), action],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"timescaledb.sh {action}: {done.stdout[-1500:]} {done.stderr[-1500:]}")

    # When set, the data directory is on a tmpfs of this size (the disk-full fault fills it).
    tmpfs_mib: int | None = None
    volume: SmallDisk | None = None

    def start(self) -> None:
        if self.tmpfs_mib is not None and self.volume is None:
            self.volume = SmallDisk(self.host_path(self.data).parent, self.tmpfs_mib).mount()
        self._script("start")

    def running(self) -> bool:
        """Does the server answer (pg_isready)?"""
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def stop(self) -> None:
        self._script("stop")

    def url(self, db: str = "vigie") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def create(self, db: str = "vigie") -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        return self.url(db)

    def host_path(self, path: str) -> Path:
        return Path(f"{self.prefix}{path}")

    def chown_postgres(self, path: str) -> None:
        """Give a directory (a path inside the server's root) to that root's postgres user."""
        run("chroot", self.prefix or "/", "chown", "postgres:postgres", path)

    def remove(self) -> None:
        try:
            self.stop()
        except RuntimeError:
            pass
        if self.volume is not None:
            self.volume.unmount()
        shutil.rmtree(self.host_path(self.data).parent, ignore_errors=True)


# -- network namespaces ---------------------------------------------------------------------------
NS_PREFIX = "vch"


@dataclass
class Netns:
    """One namespace joined to the root one by a veth pair: host_ip on our side, ip on its side."""

    name: str
    host_if: str
    ip: str
    host_ip: str

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_namespaces() -> list[str]:
    """Namespaces of earlier runs whose suite process is gone (killed before its cleanup)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    removed = []
    for line in out.splitlines():
        m = re.match(rf"({NS_PREFIX}(\d+)[a-z])\b", line)
        if m and not _pid_alive(int(m.group(2))):
            subprocess.run(["ip", "netns", "del", m.group(1)], check=False, capture_output=True)
            removed.append(m.group(1))
    return removed


class Namespaces:
    """The gauges' namespace and the broker's; services stay in the root namespace, where the
    database, the SMTP and SMS stand-ins and the test webcam listen on loopback."""

    def __init__(self) -> None:
        pid = os.getpid()
        net = 1 + pid % 200  # 10.214.<net>.0/24 for this run; one /30 per namespace
        self.gauges = Netns(f"{NS_PREFIX}{pid}g", f"{NS_PREFIX}{pid}g0", f"10.214.{net}.2", f"10.214.{net}.1")
        self.broker = Netns(f"{NS_PREFIX}{pid}b", f"{NS_PREFIX}{pid}b0", f"10.214.{net}.6", f"10.214.{net}.5")
        self.made: list[Netns] = []
        self._previous: dict[int, object] = {}

    def up(self) -> Namespaces:
        remove_stale_namespaces()

        # Ctrl-C and SIGTERM still clean up: both become KeyboardInterrupt, caught by the caller's
        # finally.
        def interrupt(_sig: int, _frame: object) -> None:
            raise KeyboardInterrupt

        self._previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, interrupt)
        for ns in (self.gauges, self.broker):
            peer = ns.host_if[:-1] + "1"
            run("ip", "netns", "add", ns.name)
            self.made.append(ns)
            run("ip", "link", "add", ns.host_if, "type", "veth", "peer", "name", peer)
            run("ip", "link", "set", peer, "netns", ns.name)
            run("ip", "addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if)
            run("ip", "link", "set", ns.host_if, "up")
            run("ip", "-n", ns.name, "addr", "add", f"{ns.ip}/30", "dev", peer)
            run("ip", "-n", ns.name, "link", "set", peer, "up")
            run("ip", "-n", ns.name, "link", "set", "lo", "up")
        return self

    def down(self) -> None:
        for ns in reversed(self.made):
            # Deleting the namespace deletes its end of the veth, and with it ours.
            subprocess.run(["ip", "netns", "del", ns.name], check=False, capture_output=True)
            subprocess.run(["ip", "link", "del", ns.host_if], check=False, capture_output=True)
        self.made.clear()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


class NsBroker(LocalBroker):
    """The project's Mosquitto configuration, run inside a namespace, listening on its veth."""

    def __init__(self, directory: Path, port: int, ns: Netns) -> None:
        super().__init__(directory, port)
        self.ns = ns

    def start(self, timeout_s: float = 10.0) -> None:
        files = init_broker(
            self.directory,
            self.port,
            bind="0.0.0.0",  # noqa: S104  # inside the namespace: its veth and its loopback
            device_port=self.devices_port,
            gateways=("vigie-simulator",),
        )
        with open(self.directory / "mosquitto.log", "ab") as log:
            self.proc = subprocess.Popen(
                [*self.ns.exec_prefix(), "mosquitto", "-c", str(files.conf)], stdout=log, stderr=log
            )
        files.pid_file.write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + timeout_s
        while not self.accepting():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"mosquitto did not start; see {self.directory / 'mosquitto.log'}")
            time.sleep(0.05)

    def accepting(self, port: int | None = None) -> bool:
        try:
            with socket.create_connection((self.ns.ip, port or self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def url_via(self, user: str, host: str, port: int) -> str:
        """This account's URL through another address (a fault proxy in front of the broker)."""
        return f"mqtt://{user}:{self.password(user)}@{host}:{port}"
