"""Log redaction through the real logging set-up (a process of its own, as a service logs): each
form of secret is logged, and the output shows the context but not the secret."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from vigie.logs import redact

# (what is logged, the secret that must not appear, context that must still appear)
FORMS = [
    ("mqtt://vigie-ingest:pa/ss@word@127.0.0.1:1883", "pa/ss@word", "127.0.0.1:1883"),
    ("postgresql://vigie_api:p@ss/w0rd@db:5432/vigie", "p@ss/w0rd", "db:5432/vigie"),
    (
        "mailto://me@example.com:s3cr/et@smtp.example.org:587?to=crise@deux-vallees.example",
        "s3cr/et",
        "smtp.example.org:587?to=crise@deux-vallees.example",
    ),
    ("smseagle://sink-token-123@127.0.0.1:8025/%2B33600000001", "sink-token-123", "127.0.0.1:8025"),
    ("json://hooks.example/notify?token=tok-in-query&x=1", "tok-in-query", "x=1"),
    ("password=hunter2 user=vigie", "hunter2", "user=vigie"),
    ("VIGIE_MQTT_PASSWORD_INGEST=envpw-42", "envpw-42", "VIGIE_MQTT_PASSWORD_INGEST"),
    ('{"password": "jsonpw-7", "name": "x"}', "jsonpw-7", '"name": "x"'),
    ("host=db password=libpq-pw dbname=vigie", "libpq-pw", "dbname=vigie"),
    ("Authorization: Bearer abcdefghijklmnop123", "abcdefghijklmnop123", "Authorization"),
]

SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from vigie.logs import setup_logging
    setup_logging("INFO")
    log = logging.getLogger("vigie.test")
    for form in sys.argv[1:]:
        log.info("as message: " + form)
        log.info("as argument: %s", form)
    try:
        try:
            raise OSError("cause with token=causepw-1 in mqtt://u:causepw-2@broker:1883")
        except OSError as exc:
            raise RuntimeError("connecting to mqtt://ingest:tb/pw@3@broker:8883 failed") from exc
    except RuntimeError:
        log.exception("broker unreachable")
    log.warning("stack", stack_info=True)
    """
)


def test_every_form_is_redacted_in_a_services_output() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, *(f for f, _, _ in FORMS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    out = proc.stderr
    assert out.count("as message:") == len(FORMS) and out.count("as argument:") == len(FORMS)
    for _form, secret, context in FORMS:
        assert secret not in out, secret
        assert context in out, context
    # The traceback: the exception's message and its chained cause.
    assert "The above exception was the direct cause" in out
    for secret in ("causepw-1", "causepw-2", "tb/pw@3"):
        assert secret not in out
    assert "RuntimeError: connecting to mqtt://ingest:***@broker:8883 failed" in out
    assert "OSError: cause with token=***" in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mqtt://u:p@h", "mqtt://u:***@h"),
        ("mqtt://u@h:1883", "mqtt://***@h:1883"),
        ("mqtt://127.0.0.1:18830", "mqtt://127.0.0.1:18830"),  # nothing secret: unchanged
        ("mailto://127.0.0.1:2525?to=a@b.example", "mailto://127.0.0.1:2525?to=a@b.example"),
        ("rtsp://cam:pw@192.0.2.1/stream 'rtsp://x:y@z'", "rtsp://cam:***@192.0.2.1/stream 'rtsp://x:***@z'"),
    ],
)
def test_redact_keeps_what_is_not_secret(text: str, expected: str) -> None:
    assert redact(text) == expected
