"""vigie.camera_urls: the one check of a camera's stream URL that the API and the worker share.
Hostile URLs of every class are refused with a French reason that never quotes a password."""

from __future__ import annotations

import ipaddress

import pytest

from vigie.camera_urls import StreamUrlRefused, check_stream_url, masked


def _no_dns(host: str, port: int | None) -> list[str]:
    raise OSError("no DNS in this test")


def _resolves_to(address: str):  # type: ignore[no-untyped-def]
    return lambda host, port: [address]


def refused(kind: str, url: str, *, allow_private: bool = False, resolve=_no_dns) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(StreamUrlRefused) as err:
        check_stream_url(kind, url, allow_private=allow_private, resolve=resolve)
    message = str(err.value)
    assert "hunter2" not in message
    return message


@pytest.mark.parametrize(
    ("kind", "url", "why"),
    [
        # Schemes that do not fit the kind, and FFmpeg's other protocols.
        ("rtsp", "file:/etc/shadow", "schéma 'file' refusé"),
        ("rtsp", "http://cam.example.org/s", "schéma 'http' refusé"),
        ("mjpeg", "rtsp://cam.example.org/s", "schéma 'rtsp' refusé"),
        ("rtsp", "concat:rtsp://a|file:/etc/passwd", "schéma 'concat' refusé"),
        ("rtsp", "subfile,,start,0,end,0,,:/etc/passwd", "schéma '(aucun)' refusé"),
        ("rtsp", "pipe:0", "schéma 'pipe' refusé"),
        ("rtsp", "data:video/mp4;base64,AAAA", "schéma 'data' refusé"),
        ("rtsp", "tcp://cam.example.org:554", "schéma 'tcp' refusé"),
        ("rtsp", "udp://cam.example.org:554", "schéma 'udp' refusé"),
        ("rtsp", "rtp://cam.example.org:554", "schéma 'rtp' refusé"),
        ("mjpeg", "gopher://cam.example.org/", "schéma 'gopher' refusé"),
        ("snapshot", "ftp://cam.example.org/snap.jpg", "schéma 'ftp' refusé"),
        ("rtsp", "//cam.example.org/s", "schéma '(aucun)' refusé"),
        # Loopback, link-local, private and metadata addresses, in every spelling.
        ("rtsp", "rtsp://127.0.0.1/s", "adresse interne"),
        ("rtsp", "rtsp://[::1]/s", "adresse interne"),
        ("rtsp", "rtsp://[::1]:8554/s", "adresse interne"),
        ("rtsp", "rtsp://[::ffff:127.0.0.1]/s", "adresse interne"),
        ("rtsp", "rtsp://[fe80::1%25eth0]/s", "adresse interne"),
        ("mjpeg", "http://10.0.0.5/video", "adresse interne"),
        ("mjpeg", "http://192.168.1.20/video", "adresse interne"),
        ("mjpeg", "http://0.0.0.0/video", "adresse interne"),
        ("mjpeg", "http://169.254.169.254/latest/meta-data/", "métadonnées"),
        ("mjpeg", "http://[fd00:ec2::254]/latest/", "métadonnées"),
        ("mjpeg", "http://[::ffff:169.254.169.254]/", "métadonnées"),
        ("mjpeg", "http://100.100.100.200/", "métadonnées"),
        # Numbers that the C library reads as 127.0.0.1.
        ("mjpeg", "http://2130706433/", "forme non standard"),
        ("mjpeg", "http://0x7f000001/", "forme non standard"),
        ("mjpeg", "http://017700000001/", "forme non standard"),
        ("mjpeg", "http://127.1/", "forme non standard"),
        ("mjpeg", "http://0x7f.0.0.1/", "forme non standard"),
        # Unicode tricks: fullwidth digits fold to 127.0.0.1 in IDNA; a look-alike name.
        ("mjpeg", "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "non ASCII"),
        ("rtsp", "rtsp://ⓛocalhost/s", "non ASCII"),
        ("rtsp", "rtsp://c\u0430mera.example.org/s", "non ASCII"),  # Cyrillic a (U+0430)
        # Parser confusion and header injection.
        ("mjpeg", "http://user:hunter2@evil.example@127.0.0.1/", "plusieurs '@'"),
        ("mjpeg", "http://cam.example.org\\@127.0.0.1/", "barre oblique inverse"),
        ("rtsp", "rtsp://cam.example.org/s\r\nX-Injected: 1", "caractère de contrôle"),
        ("rtsp", "rtsp://cam.example.org/s\x00", "caractère de contrôle"),
        ("rtsp", "rtsp://cam.example.org/a b", "espace"),
        ("rtsp", "rtsp://cam.example.org:99999/s", "illisible"),
        ("rtsp", "rtsp://[::1/s", "illisible"),
        ("rtsp", "rtsp:///s", "aucun serveur"),
        ("rtsp", "rtsp://-bad-.example.org/s", "nom de serveur invalide"),
        ("rtsp", "rtsp://cam!1.example.org/s", "nom de serveur invalide"),
        # Empty and oversized.
        ("rtsp", "", "vide"),
        ("rtsp", "rtsp://cam.example.org/" + "a" * 2000, "dépasse 2000"),
    ],
)
def test_hostile_urls_are_refused_with_a_reason(kind: str, url: str, why: str) -> None:
    assert why in refused(kind, url)


def test_a_name_that_resolves_inside_is_refused_and_one_that_does_not_resolve_waits() -> None:
    assert "adresse interne" in refused("rtsp", "rtsp://cam.lan/s", resolve=_resolves_to("10.1.2.3"))
    assert "adresse interne" in refused("rtsp", "rtsp://localhost/s", resolve=_resolves_to("127.0.0.1"))
    # A camera switched off while it is added: accepted; the worker checks at each connection.
    check_stream_url("rtsp", "rtsp://cam.example.org/s", allow_private=False, resolve=_no_dns)
    with pytest.raises(StreamUrlRefused, match="introuvable"):
        check_stream_url(
            "rtsp", "rtsp://cam.example.org/s", allow_private=False, resolve=_no_dns, accept_unresolved=False
        )


def test_the_site_may_allow_internal_cameras_but_never_the_metadata_service() -> None:
    for url in ("rtsp://127.0.0.1:8554/s", "rtsp://[::1]/s", "rtsp://10.0.20.11/s"):
        check_stream_url("rtsp", url, allow_private=True)
    lan = (ipaddress.ip_network("10.0.20.0/24"),)
    check_stream_url("rtsp", "rtsp://10.0.20.11/s", allow_private=False, allowed=lan)
    assert "adresse interne" in refused("rtsp", "rtsp://10.0.21.11/s")
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/"):
        assert "métadonnées" in refused("mjpeg", url, allow_private=True)
    # The numeric and non-ASCII forms stay refused too: they are a parser's trap, not a site's choice.
    assert "forme non standard" in refused("mjpeg", "http://2130706433/", allow_private=True)


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("rtsp", "rtsp://admin:hunter2@93.184.216.34:554/Streaming/Channels/101"),
        ("rtsp", "rtsps://cam.example.org/live?channel=1&subtype=0"),
        ("rtsp", "rtsp://[2a00:1450:4007:80c::200e]:554/s"),
        ("mjpeg", "https://user:p%40ss@cam.example.org/video.mjpg"),
        ("snapshot", "http://cam.example.org/cgi-bin/snapshot.cgi?user=a&password=hunter2"),
        ("snapshot", "http://xn--camra-bsa.example.org/snap.jpg"),
        ("rtsp", "rtsp://cam_1.example.org/s"),
        ("file", "/var/lib/vigie/vidéos/passage du renard.mp4"),
    ],
)
def test_ordinary_urls_pass(kind: str, url: str) -> None:
    check_stream_url(kind, url, allow_private=False, resolve=_no_dns)


def test_the_masked_form_hides_passwords_and_tokens() -> None:
    assert masked("rtsp://admin:hunter2@10.0.0.5:554/s") == "rtsp://admin:***@10.0.0.5:554/s"
    assert masked("rtsp://tok3n@cam/s") == "rtsp://***@cam/s"
    assert masked("http://cam/snap.jpg?user=a&password=hunter2") == "http://cam/snap.jpg?user=a&password=***"
    assert masked("rtsp://cam/s") == "rtsp://cam/s"
