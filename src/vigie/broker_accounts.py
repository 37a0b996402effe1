"""Mosquitto password files, written by us and reloaded in the running broker.

The hashes are Mosquitto 2's own `$7$` format (PBKDF2-SHA512, the iteration count and salt in
the line), computed here with hashlib: no `mosquitto_passwd` process, so a password is never on
a command line or in a process list, and writing a hundred accounts costs no hundred processes.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import logging
import os
import pwd
import re
import secrets
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from vigie.errors import ConfigError

log = logging.getLogger(__name__)

# Mosquitto's own default. The passwords we make are 144 random bits, so the iteration count
# protects nothing here; a person-chosen password would want more (Mosquitto reads any count).
_ITERATIONS = 101
# Mosquitto splits a line at the first ':'; a newline would end it.
_USERNAME = re.compile(r"^[^:\s#]{1,128}$")


def new_password() -> str:
    """A fresh random password: 24 bytes, URL-safe so it fits in an mqtt:// URL unquoted."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = _ITERATIONS) -> str:
    """The `$7$` hash Mosquitto 2 checks (the format mosquitto_passwd writes)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_username(user: str) -> None:
    """Refuse a name the password file cannot hold."""
    if not _USERNAME.match(user):
        raise ConfigError(f"invalid broker account name {user!r}")


def read_accounts(passwd: Path) -> dict[str, str]:
    """username -> hash line of a password file; a missing file gives {}."""
    if not passwd.exists():
        return {}
    accounts: dict[str, str] = {}
    for line in passwd.read_text().splitlines():
        user, sep, hashed = line.partition(":")
        if sep and not line.startswith("#"):
            accounts[user] = hashed
    return accounts


@contextmanager
def _locked(passwd: Path) -> Iterator[None]:
    """One writer at a time: two technicians provisioning at once must not lose an account."""
    fd = os.open(passwd.with_name(passwd.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _write(passwd: Path, accounts: dict[str, str]) -> None:
    """Replace the file atomically (the broker may reload it at any moment), mode 0640."""
    tmp = passwd.with_name(passwd.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as out:
        out.writelines(f"{user}:{hashed}\n" for user, hashed in accounts.items())
    hand_to_broker_user(tmp)
    tmp.replace(passwd)


def write_accounts(
    passwd: Path, passwords: dict[str, str], *, keep: Callable[[str], bool] = lambda _user: False
) -> None:
    """Write these accounts from plain passwords (the services', at init); of the accounts
    already in the file, keep those `keep` names (the gauges') and drop the others."""
    for user in passwords:
        check_username(user)
    with _locked(passwd):
        kept = {u: h for u, h in read_accounts(passwd).items() if keep(u) and u not in passwords}
        _write(passwd, {**kept, **{user: hash_password(pw) for user, pw in passwords.items()}})


def adopt_accounts(passwd: Path, other: Path) -> int:
    """Move the accounts of another password file into this one (an account already here wins),
    then delete that file; how many were moved. For the gauges' file of an older layout."""
    with _locked(passwd):
        accounts = read_accounts(passwd)
        moved = {u: h for u, h in read_accounts(other).items() if u not in accounts}
        _write(passwd, {**accounts, **moved})
    other.unlink(missing_ok=True)
    return len(moved)


def set_password(passwd: Path, user: str, password: str) -> None:
    """Add or replace one account in a password file, keeping the others."""
    check_username(user)
    with _locked(passwd):
        accounts = read_accounts(passwd)
        accounts[user] = hash_password(password)
        _write(passwd, accounts)


def remove_account(passwd: Path, user: str) -> bool:
    """Delete one account; False if it was not there."""
    with _locked(passwd):
        accounts = read_accounts(passwd)
        if accounts.pop(user, None) is None:
            return False
        _write(passwd, accounts)
        return True


def hand_to_broker_user(path: Path) -> None:
    """Started as root, Mosquitto drops to the 'mosquitto' user, which must read its files."""
    if os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam("mosquitto")
    except KeyError:
        return
    os.chown(path, entry.pw_uid, entry.pw_gid)


def reload_broker(pid_file: Path) -> bool:
    """SIGHUP the running Mosquitto so that it rereads its password files and ACLs.

    True if a broker was signalled; False when none runs (the change applies at its next start).
    The pid is checked to be a mosquitto process, so a stale file never signals a stranger.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    if comm != "mosquitto":
        log.warning("%s names pid %d, which is %r, not mosquitto: not signalled", pid_file, pid, comm)
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except PermissionError:
        # Run as another user than the broker's (the API under systemd as 'vigie'): the file is
        # written, and the broker applies it at its next reload (`systemctl reload mosquitto`).
        log.warning("not allowed to signal mosquitto (pid %d): reload it to apply the change", pid)
        return False
    return True
