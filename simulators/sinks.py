"""Local stand-ins for the outside world of the notifier: an SMTP server and an SMS gateway.

- SmtpSink: a real SMTP server (aiosmtpd) that keeps what it receives; stop() then start() on the
  same port simulates a mail server outage.
- SmsSink: a real HTTP server speaking the SMSEagle JSON-RPC API (POST /jsonrpc/sms,
  method sms.send_sms), which Apprise's smseagle:// plugin uses: SMSEagle is a self-hosted SMS
  gateway, so pointing Apprise at a local host is its normal use, not a test hook. Its other
  half, `receive()`, forwards an SMS a resident sends (a STOP reply) to Vigie's inbound webhook
  over real HTTP, as a gateway's "forward received SMS to URL" does.

`vigie simulate sinks` runs both for the demo and appends every message to a JSON-lines file.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

INBOUND_KEY_HEADER = "X-Vigie-Gateway-Key"

if TYPE_CHECKING:
    # aiosmtpd is the `demo` extra (the sinks are the demo's and the tests', not production's):
    # imported when a sink starts, so `vigie simulate gauges` works without it.
    from aiosmtpd.controller import Controller

Message = dict[str, Any]
OnMessage = Callable[[str, Message], None]
SMS_PATH = "/jsonrpc/sms"
DEFAULT_SMS_TOKEN = "sink-token"  # noqa: S105  # the local stand-in's, not a real secret


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Store:
    """A thread-safe list of received messages, with an optional callback per message."""

    def __init__(self, kind: str, on_message: OnMessage | None) -> None:
        self.kind = kind
        self._lock = threading.Lock()
        self._items: list[Message] = []
        self._on_message = on_message

    def add(self, item: Message) -> None:
        with self._lock:
            self._items.append(item)
        if self._on_message is not None:
            self._on_message(self.kind, item)

    def snapshot(self) -> list[Message]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class _SmtpHandler:
    """aiosmtpd handler: parse each accepted message into a dict."""

    def __init__(self, store: _Store) -> None:
        self.store = store

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        msg = message_from_bytes(raw, policy=default_policy)
        body = ""
        if isinstance(msg, EmailMessage):
            part = msg.get_body(preferencelist=("plain", "html"))
            if part is not None and isinstance(part, EmailMessage):
                body = str(part.get_content()).replace("\r\n", "\n")
        self.store.add(
            {
                "received_at": time.time(),
                "mail_from": str(envelope.mail_from),
                "rcpt_tos": [str(r) for r in envelope.rcpt_tos],
                "subject": str(msg.get("Subject", "")),
                "body": body,
            }
        )
        return "250 Message accepted for delivery"


class SmtpSink:
    """A local SMTP server keeping every message; restartable on the same port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, on_message: OnMessage | None = None) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self._store = _Store("email", on_message)
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[Message]:
        """A copy of what was received so far."""
        return self._store.snapshot()

    def clear(self) -> None:
        """Forget what was received."""
        self._store.clear()

    def start(self) -> SmtpSink:
        """Listen (again) on host:port."""
        if self._controller is None:
            # aiosmtpd logs every envelope (recipients) at INFO: personal data, and noise.
            logging.getLogger("mail.log").setLevel(logging.WARNING)
            try:
                from aiosmtpd.controller import Controller
            except ImportError as e:
                raise RuntimeError(
                    "le puits SMTP local demande l'extra demo : pip install 'vigie[demo]'"
                ) from e
            ctl = Controller(_SmtpHandler(self._store), hostname=self.host, port=self.port, ready_timeout=10)
            ctl.start()
            self._controller = ctl
        return self

    def stop(self) -> None:
        """Close the port: senders now get 'connection refused', as with a dead mail server."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def apprise_url(self, to_addr: str, from_addr: str = "vigie@example.org") -> str:
        """The Apprise URL that sends to to_addr through this sink (plain SMTP, no login)."""
        return f"mailto://{self.host}:{self.port}?from={quote(from_addr)}&to={quote(to_addr)}&mode=insecure"


class _SmsHandler(BaseHTTPRequestHandler):
    """The SMSEagle JSON-RPC endpoint: answers like the gateway, records what it accepts."""

    server: _SmsServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the default writes every request (with its path) to stderr."""

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        """sms.send_sms: {"params": {"access_token", "to", "message", …}} -> result status ok."""
        sink = self.server.sink
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, 1_000_000))
        if self.path.split("?")[0] != SMS_PATH:
            self._answer(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        try:
            request = json.loads(raw)
            params = request["params"]
            to, text, token = str(params["to"]), str(params["message"]), params.get("access_token")
        except (ValueError, KeyError, TypeError):
            self._answer(
                HTTPStatus.BAD_REQUEST, {"result": {"error_text": "Invalid request", "status": "error"}}
            )
            return
        if sink.failing:
            self._answer(
                sink.fail_status, {"result": {"error_text": "Gateway unavailable", "status": "error"}}
            )
            return
        if token != sink.token or request.get("method") != "sms.send_sms":
            self._answer(
                HTTPStatus.OK, {"result": {"error_text": "Invalid login or password", "status": "error"}}
            )
            return
        ids = []
        for number in to.split(","):
            ids.append(sink.record(number, text))
        result: Any = [{"message_id": i, "status": "ok"} for i in ids]
        self._answer(HTTPStatus.OK, {"result": result[0] if len(result) == 1 else result})


class _SmsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sink: SmsSink) -> None:
        self.sink = sink
        super().__init__(address, _SmsHandler)


class SmsSink:
    """A local SMSEagle-compatible gateway; set .failing = True to answer errors."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_SMS_TOKEN,
        on_message: OnMessage | None = None,
    ) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self.token = token
        self.failing = False
        self.fail_status = int(HTTPStatus.SERVICE_UNAVAILABLE)
        self._store = _Store("sms", on_message)
        self._server: _SmsServer | None = None
        self._thread: threading.Thread | None = None
        self._next_id = 0
        self._id_lock = threading.Lock()

    @property
    def messages(self) -> list[Message]:
        """A copy of what was accepted so far."""
        return self._store.snapshot()

    def clear(self) -> None:
        """Forget what was received."""
        self._store.clear()

    def record(self, to: str, text: str) -> int:
        """Keep one accepted SMS; return its message id."""
        with self._id_lock:
            self._next_id += 1
            mid = self._next_id
        self._store.add({"received_at": time.time(), "to": to, "text": text, "message_id": mid})
        return mid

    def start(self) -> SmsSink:
        """Serve on host:port in a background thread."""
        if self._server is None:
            self._server = _SmsServer((self.host, self.port), self)
            self._thread = threading.Thread(target=self._server.serve_forever, name="sms-sink", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def apprise_url(self, to_number: str) -> str:
        """The Apprise URL that sends an SMS to to_number through this gateway."""
        return f"smseagle://{self.token}@{self.host}:{self.port}/{quote(to_number)}"

    def apprise_template(self) -> str:
        """The same URL with {number} left for Vigie's sign-up to fill in."""
        return f"smseagle://{self.token}@{self.host}:{self.port}/{{number}}"

    def receive(self, sender: str, text: str, webhook_url: str, key: str, timeout_s: float = 10.0) -> int:
        """An SMS from `sender` arrives: POST it to the webhook; returns the HTTP status."""
        import urllib.error
        import urllib.request

        data = json.dumps({"sender": sender, "msg": text}).encode()
        req = urllib.request.Request(  # noqa: S310  # the caller's own http(s) webhook
            webhook_url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", INBOUND_KEY_HEADER: key},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310
                return int(resp.status)
        except urllib.error.HTTPError as e:
            return int(e.code)


def _summary(kind: str, item: Message) -> str:
    if kind == "sms":
        return f"SMS -> {item['to']}: {item['text'][:100]}"
    return f"E-mail -> {', '.join(item['rcpt_tos'])}: {item['subject'][:100]}"


def sinks(
    smtp_port: Annotated[int, typer.Option(help="Port SMTP du puits d'e-mails.")] = 2525,
    sms_port: Annotated[int, typer.Option(help="Port HTTP de la passerelle SMS (API SMSEagle).")] = 8025,
    host: Annotated[str, typer.Option(help="Adresse d'écoute.")] = "127.0.0.1",
    token: Annotated[str, typer.Option(help="Jeton attendu par la passerelle SMS.")] = DEFAULT_SMS_TOKEN,
    log: Annotated[Path | None, typer.Option(help="Fichier JSON-lines où ajouter chaque message.")] = None,
) -> None:
    """Puits locaux d'e-mails (SMTP) et de SMS (API SMSEagle) pour la démo, jusqu'à SIGTERM."""
    lock = threading.Lock()

    def on_message(kind: str, item: Message) -> None:
        with lock:
            if log is not None:
                with log.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"kind": kind, **item}, ensure_ascii=False) + "\n")
            typer.echo(_summary(kind, item))

    smtp = SmtpSink(host, smtp_port, on_message=on_message)
    sms = SmsSink(host, sms_port, token=token, on_message=on_message)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    smtp.start()
    sms.start()
    typer.echo(f"SMTP sur {host}:{smtp.port}, SMS (SMSEagle) sur http://{host}:{sms.port}{SMS_PATH}")
    typer.echo(f"  e-mail : {smtp.apprise_url('habitant@example.org')}")
    typer.echo(f"  SMS    : {sms.apprise_url('+33612345678')}")
    try:
        stop.wait()
    finally:
        sms.stop()
        smtp.stop()
