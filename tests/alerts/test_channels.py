"""Sending through Apprise to real local servers: SMTP (aiosmtpd), SMSEagle stand-in, webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from alerts.channels import ChannelSender, Outcome, check_channel
from simulators.sinks import SmsSink, SmtpSink
from tests.alerts.notify_helpers import RootLog

SECRET = "tok-S3cr3t-77b1"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def sms() -> Iterator[SmsSink]:
    sink = SmsSink(token=SECRET).start()
    yield sink
    sink.stop()


@pytest.fixture
def root_log() -> RootLog:
    """What reaches the root logger's handlers, i.e. the service's log (pytest's own capture
    also hooks non-propagating loggers such as Apprise's, so caplog would not tell)."""
    return RootLog()


@pytest.fixture
def sender() -> ChannelSender:
    # The sinks listen on loopback: allowed explicitly (vigie.outbound refuses it by default).
    return ChannelSender(timeout_s=5, allow_private=True)


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()


def test_email_reaches_the_smtp_server(smtp: SmtpSink, sender: ChannelSender) -> None:
    r = sender.send(
        "email",
        smtp.apprise_url("maire@pimprez.example"),
        "[Vigie] Alerte orange",
        "Bonjour,\nPluie intense à Pimprez.\nStation   12h00\nMairie      4,2",
    )
    assert r.outcome is Outcome.ACCEPTED
    [got] = smtp.messages
    assert got["rcpt_tos"] == ["maire@pimprez.example"]
    assert got["subject"] == "[Vigie] Alerte orange"
    assert "Pluie intense à Pimprez.\nStation   12h00\nMairie      4,2" in got["body"]


def test_sms_goes_through_the_smseagle_protocol(sms: SmsSink, sender: ChannelSender) -> None:
    r = sender.send("sms", sms.apprise_url("+33611111111"), None, "Vigie ALERTE JAUNE à Thourotte")
    assert r.outcome is Outcome.ACCEPTED
    assert [(x["to"], x["text"]) for x in sms.messages] == [
        ("+33611111111", "Vigie ALERTE JAUNE à Thourotte")
    ]


def test_webhook_posts_json(sender: ChannelSender) -> None:
    _Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"json://127.0.0.1:{server.server_address[1]}/vigie"
        assert sender.send("webhook", url, "[Vigie] Alerte", "texte").outcome is Outcome.ACCEPTED
    finally:
        server.shutdown()
        server.server_close()
    assert _Hook.received[0]["title"] == "[Vigie] Alerte"
    assert _Hook.received[0]["message"] == "texte"


def test_gateway_error_means_retry_with_the_status_only(
    sms: SmsSink, sender: ChannelSender, root_log: RootLog
) -> None:
    sms.failing = True
    with root_log:
        r = sender.send("sms", sms.apprise_url("+33611111111"), None, "x")
    assert r.outcome is Outcome.RETRY
    assert r.detail == "refusé par le fournisseur (HTTP 503)"
    assert SECRET not in root_log.text and "+33611111111" not in root_log.text


def test_wrong_token_is_retried_and_never_echoed(
    sms: SmsSink, sender: ChannelSender, root_log: RootLog
) -> None:
    with root_log:
        r = sender.send("sms", f"smseagle://wrong-{SECRET}@127.0.0.1:{sms.port}/+33611111111", None, "x")
    assert r.outcome is Outcome.RETRY and SECRET not in r.detail
    assert SECRET not in root_log.text and sms.messages == []


def test_smtp_down_means_retry(smtp: SmtpSink, sender: ChannelSender) -> None:
    url = smtp.apprise_url("a@example.org")
    smtp.stop()
    r = sender.send("email", url, "s", "b")
    assert r.outcome is Outcome.RETRY and "injoignable" in r.detail
    smtp.start()  # same port again: the outage is over
    assert sender.send("email", url, "s", "b").outcome is Outcome.ACCEPTED
    assert len(smtp.messages) == 1


@pytest.mark.parametrize(
    ("kind", "url", "expected"),
    [
        ("sms", f"mailto://{SECRET}@example.org", "n'est pas un fournisseur SMS"),
        ("email", f"json://{SECRET}@example.org", "mailto:// ou mailtos://"),
        ("webhook", f"smseagle://{SECRET}@example.org/+33611111111", "json://"),
        ("sms", f"nosuchprovider://{SECRET}@example.org", "n'est pas un fournisseur SMS connu"),
        ("sms", f"smseagle://@example.org/{SECRET}", "refusée par Apprise"),
        ("sms", None, "absente ou illisible"),
        ("sms", SECRET, "absente ou illisible"),
        ("fax", "mailto://a@b.c", "type de canal inconnu"),
    ],
)
def test_bad_channel_is_refused_with_a_clear_reason_and_no_secret(
    sender: ChannelSender,
    root_log: RootLog,
    kind: str,
    url: object,
    expected: str,
) -> None:
    with root_log:
        r = sender.send(kind, url, "s", "b")
    assert r.outcome is Outcome.REFUSED
    assert expected in r.detail
    assert SECRET not in r.detail and SECRET not in root_log.text


def test_check_channel_accepts_the_documented_examples() -> None:
    assert check_channel("email", "mailtos://user:pass@smtp.example.org?to=a@b.fr") is None
    assert check_channel("sms", "freemobile://12345678@apikey") is None
    assert check_channel("sms", "sfr://user:pass@space/0611111111") is None
    assert check_channel("webhook", "jsons://hooks.example.org/vigie") is None
