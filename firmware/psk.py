"""The WPA2 pre-shared key of a Wi-Fi network, for the gauge's config.json (`wifi_psk`).

    python3 firmware/psk.py "CC2V-Capteurs"          # asks for the passphrase (not echoed)
    python3 firmware/psk.py "CC2V-Capteurs" < pass.txt

Prints the 64 hex digits to put in config.json as "wifi_psk". The key is what WPA2 derives from
the passphrase and the SSID (IEEE 802.11i: PBKDF2-HMAC-SHA1, 4,096 rounds, 32 bytes); ESP-IDF
takes a 64-character password as that key, so the gauge skips the derivation at every join
(firmware/README.md, "Energy model"). It is as secret as the passphrase: it opens the network.
Runs on the technician's computer (CPython), not on the gauge.
"""

from __future__ import annotations

import getpass
import hashlib
import sys


def psk(ssid: str, passphrase: str) -> str:
    """The 64-hex-digit PSK; ValueError for what WPA2 does not accept."""
    raw_ssid = ssid.encode()
    if not 1 <= len(raw_ssid) <= 32:
        raise ValueError("an SSID is 1 to 32 bytes")
    if not 8 <= len(passphrase) <= 63 or not all(32 <= ord(c) <= 126 for c in passphrase):
        raise ValueError("a WPA2 passphrase is 8 to 63 printable ASCII characters")
    return hashlib.pbkdf2_hmac("sha1", passphrase.encode(), raw_ssid, 4096, 32).hex()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        passphrase = getpass.getpass("Passphrase of %s: " % argv[0])
    else:
        passphrase = sys.stdin.readline().rstrip("\r\n")
    try:
        key = psk(argv[0], passphrase)
    except ValueError as e:
        print("psk.py: %s" % e, file=sys.stderr)
        return 1
    print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
