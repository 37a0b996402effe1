"""vigie.outbound: internal destinations refused unless allowed, every resolved address checked."""

from __future__ import annotations

import ipaddress

import pytest

from vigie.outbound import REFUSED, OutboundRefused, OutboundUnresolved, check_host, check_url


def _resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, _port: int | None) -> list[str]:
        if host not in table:
            raise OSError("no such name")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "127.8.9.10",
        "::1",
        "169.254.169.254",  # link-local: the cloud metadata service
        "fe80::1",
        "10.1.2.3",  # private
        "172.16.0.1",
        "192.168.1.1",
        "fd12:3456::1",  # unique-local
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:169.254.169.254",
        "0.0.0.0",  # noqa: S104  # the unspecified address reaches the local host
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",  # multicast
        "[::1]",
    ],
)
def test_internal_literals_are_refused(address: str) -> None:
    with pytest.raises(OutboundRefused, match="destination refusée"):
        check_host(address, allow_private=False, resolve=_resolver({}))
    check_host(address, allow_private=True, resolve=_resolver({}))  # the site's choice


def test_every_resolved_address_is_checked() -> None:
    resolve = _resolver(
        {
            "hooks.example.org": ["93.184.215.14"],
            "mixed.example.org": ["93.184.215.14", "10.0.0.7"],
            "sneaky.example.org": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::1"],
            "decimal": ["127.0.0.1"],
        }
    )
    check_host("hooks.example.org", 443, allow_private=False, resolve=resolve)
    for host in ("mixed.example.org", "sneaky.example.org", "decimal"):
        with pytest.raises(OutboundRefused):
            check_host(host, allow_private=False, resolve=resolve)
    with pytest.raises(OutboundUnresolved):
        check_host("nowhere.example.org", allow_private=False, resolve=resolve)


def test_the_system_resolver_is_used_for_names() -> None:
    # localhost and its decimal and short forms reach loopback through the real resolver.
    for url in ("http://localhost:8080/x", "http://2130706433/", "http://127.1/", "rtsp://u:p@[::1]:554/s"):
        with pytest.raises(OutboundRefused) as err:
            check_url(url, allow_private=False)
        assert str(err.value) == REFUSED and "p@" not in str(err.value)
    with pytest.raises(OutboundRefused, match="aucun serveur"):
        check_url("http:///nohost", allow_private=False)


def test_an_allowed_network_opens_only_itself() -> None:
    lan = (ipaddress.ip_network("10.0.20.0/24"), ipaddress.ip_network("fd00:20::/32"))
    resolve = _resolver({"cam.local": ["10.0.20.7"], "half.local": ["10.0.20.7", "10.0.21.7"]})
    for host in ("10.0.20.5", "fd00:20::9", "cam.local"):
        check_host(host, allow_private=False, allowed=lan, resolve=resolve)
    for host in ("10.0.21.5", "127.0.0.1", "169.254.169.254", "half.local"):
        with pytest.raises(OutboundRefused):
            check_host(host, allow_private=False, allowed=lan, resolve=resolve)
