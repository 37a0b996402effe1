"""firmware/psk.py, the technician's tool for config.json's `wifi_psk`, against the test vectors
of IEEE 802.11i (annex H.4, "Suggested pass-phrase-to-PSK mapping")."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "firmware" / "psk.py"

# (SSID, passphrase, PSK) as printed in IEEE 802.11i-2004, annex H.4.
VECTORS = [
    ("IEEE", "password", "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e"),
    ("ThisIsASSID", "ThisIsAPassword", "0dc0d6eb90555ed6419756b9a15ec3e3209b63df707dd508d14581f8982721af"),
]


def psk(ssid: str, passphrase: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), ssid],
        input=passphrase + "\n",
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(("ssid", "passphrase", "expected"), VECTORS)
def test_the_tool_prints_the_standard_psk(ssid: str, passphrase: str, expected: str) -> None:
    out = psk(ssid, passphrase)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected
    # The same derivation WPA2 does, computed here independently of the tool.
    assert hashlib.pbkdf2_hmac("sha1", passphrase.encode(), ssid.encode(), 4096, 32).hex() == expected


@pytest.mark.parametrize("passphrase", ["short", "x" * 64, "mot de passe é"])
def test_a_passphrase_wpa2_refuses_is_refused_not_hashed(passphrase: str) -> None:
    out = psk("IEEE", passphrase)
    assert out.returncode == 1 and out.stdout == ""
    assert "8 to 63 printable ASCII" in out.stderr
