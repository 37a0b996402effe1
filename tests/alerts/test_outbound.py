"""Notifications to internal addresses are refused before any connection (vigie.outbound), and a
failed test send says one generic thing whatever the cause, so that test sends cannot map which
ports answer on an internal host; the cause goes to the notifier's log, redacted."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from alerts.channels import ChannelSender, Outcome
from alerts.dispatch import TEST_SEND_FAILED
from simulators.sinks import SmsSink, SmtpSink
from tests.alerts.notify_helpers import Conn, RootLog, add_subscriber, dispatching, wait_settled
from tests.support import free_port
from vigie.outbound import REFUSED

SECRET = "tok-0utb0und-5ecret"


class _Hook(BaseHTTPRequestHandler):
    status: ClassVar[int] = 200
    hits: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Hook.hits.append(self.path)
        self.send_response(_Hook.status)
        self.end_headers()


@pytest.fixture
def hook() -> Iterator[int]:
    _Hook.hits, _Hook.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_internal_destinations_are_refused_without_connecting(hook: int) -> None:
    sender = ChannelSender(timeout_s=5)  # the default: allow_private False
    smtp, sms = SmtpSink().start(), SmsSink(token=SECRET).start()
    try:
        urls = [
            ("webhook", f"json://127.0.0.1:{hook}/vigie"),
            ("webhook", f"json://localhost:{hook}/vigie"),
            ("webhook", "json://169.254.169.254/latest/meta-data/"),
            ("webhook", "jsons://[::1]:8443/x"),
            ("email", smtp.apprise_url("maire@pimprez.example")),
            # A public-looking host with the SMTP server given apart: the server is checked.
            ("email", f"mailto://u:{SECRET}@example.org?smtp=127.0.0.1&to=a@example.org&port={smtp.port}"),
            ("sms", sms.apprise_url("+33611111111")),
        ]
        for kind, url in urls:
            r = sender.send(kind, url, "[Vigie] test", "texte")
            assert (r.outcome, r.detail) == (Outcome.REFUSED, REFUSED), url
        assert _Hook.hits == [] and smtp.messages == [] and sms.messages == []
        # Allowed by the site (the demo): the same sends go through.
        allowed = ChannelSender(timeout_s=5, allow_private=True)
        assert allowed.send("webhook", urls[0][1], "t", "x").outcome is Outcome.ACCEPTED
        assert allowed.send("sms", urls[-1][1], None, "x").outcome is Outcome.ACCEPTED
        assert len(_Hook.hits) == 1 and len(sms.messages) == 1
        # Or only one network (a self-hosted SMSEagle on the site's LAN; loopback here).
        lan = ChannelSender(timeout_s=5, allowed_networks=[ipaddress.ip_network("127.0.0.0/8")])
        assert lan.send("webhook", urls[0][1], "t", "x").outcome is Outcome.ACCEPTED
        assert lan.send("webhook", urls[2][1], "t", "x").detail == REFUSED  # 169.254.169.254
        assert len(_Hook.hits) == 2
    finally:
        smtp.stop()
        sms.stop()


def _test_details(db: Conn, subscriber: int) -> list[str]:
    rows = db.execute(
        "SELECT a.detail FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id"
        " WHERE d.subscriber_id = %s ORDER BY d.channel_index",
        (subscriber,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def test_a_failed_test_send_does_not_tell_open_from_closed_ports(
    db: Conn, alerts_url: str, hook: int
) -> None:
    _Hook.status = 404  # a port that answers
    closed = free_port()  # a port that does not
    channels = [
        {"kind": "webhook", "url": f"json://127.0.0.1:{hook}/x"},
        {"kind": "webhook", "url": f"json://127.0.0.1:{closed}/x"},
        {"kind": "webhook", "url": f"json://vigie:{SECRET}@10.255.255.1:22/x"},
    ]
    # Worst case first: internal destinations allowed, so each send really tries.
    allowed = add_subscriber(db, "Sondeur", channels)
    root_log = RootLog()
    with root_log, dispatching(alerts_url, max_attempts=1, send_timeout_s=1.0):
        db.execute("SELECT vigie_request_test_send(%s, 'admin')", (allowed,))
        wait_settled(db, timeout=30)
    details = _test_details(db, allowed)
    assert len(details) == 3 and _Hook.hits == ["/x"]
    assert {d.split(" ; ")[0] for d in details} == {TEST_SEND_FAILED}
    # The causes are in the notifier's log, without the secret.
    assert "HTTP 404" in root_log.text and "injoignable" in root_log.text
    assert SECRET not in root_log.text

    # As a site runs by default: refused before any connection, with the same words.
    refused = add_subscriber(db, "Sondeur 2", channels)
    with dispatching(alerts_url, allow_private=False, max_attempts=1):
        db.execute("SELECT vigie_request_test_send(%s, 'admin')", (refused,))
        wait_settled(db, timeout=30)
    details = _test_details(db, refused)
    assert len(details) == 3 and _Hook.hits == ["/x"]
    assert {d.split(" ; ")[0] for d in details} == {TEST_SEND_FAILED}


class _Redirector(BaseHTTPRequestHandler):
    target: ClassVar[str] = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(307)
        self.send_header("Location", _Redirector.target)
        self.end_headers()


def test_a_webhook_cannot_redirect_the_notifier(hook: int) -> None:
    """A 307 from an allowed webhook to another address is not followed, ?redirect=yes or not."""
    _Redirector.target = f"http://127.0.0.1:{hook}/metadata"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        sender = ChannelSender(timeout_s=5, allow_private=True)  # so that the first hop is made
        for query in ("", "?redirect=yes"):
            url = f"json://127.0.0.1:{server.server_address[1]}/hook{query}"
            assert sender.send("webhook", url, "t", "x").outcome is not Outcome.ACCEPTED
    finally:
        server.shutdown()
        server.server_close()
    assert _Hook.hits == []
