"""Residents' own sign-up through the real API, database, notifier and the SMS/SMTP stand-ins:
double opt-in, STOP by SMS (a real inbound HTTP exchange), unsubscription links, rate limits
shared by two API processes, RGPD erasure, the reach per commune, and hostile input."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from simulators.sinks import SmsSink, SmtpSink
from tests.alerts.notify_helpers import dispatching, now_utc, rain_and_evaluate, resolve_all, wait_settled
from tests.alerts.rain import only_rules
from tests.api.conftest import ADMIN
from tests.factories import make_station
from tests.support import Broker, free_port, wait_for
from vigie import proof
from vigie.settings import OutboundSettings, Settings, SignupSettings

Conn = psycopg.Connection[Any]
URL = "/api/v1/signup"
GATEWAY_KEY = "gateway-key-0123456789"
PHONE = "+33612345678"


@pytest.fixture
def stand_ins() -> Iterator[tuple[SmtpSink, SmsSink]]:
    smtp, sms = SmtpSink().start(), SmsSink().start()
    yield smtp, sms
    sms.stop()
    smtp.stop()


@pytest.fixture
def settings(
    database_url: str, broker: Broker, stand_ins: tuple[SmtpSink, SmsSink], api_settings: Settings
) -> Settings:
    """The API's settings with the stand-ins as sign-up gateways (api_settings seeds the accounts)."""
    smtp, sms = stand_ins
    return Settings(
        database_url=SecretStr(database_url),
        mqtt_url=SecretStr(broker.url("vigie-api")),
        public_url="https://vigie.example.org",
        outbound=OutboundSettings(allow_private=True),  # the stand-ins are on loopback
        signup=SignupSettings(
            sms_url=SecretStr(sms.apprise_template()),
            email_url=SecretStr(
                f"mailto://{smtp.host}:{smtp.port}?from=vigie@example.org&to={{email}}&mode=insecure"
            ),
            inbound_token=SecretStr(GATEWAY_KEY),
        ),
    )


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def live_api(settings: Settings) -> Iterator[str]:
    """The same app on a real uvicorn, for the gateway's inbound webhook."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-signup", daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=20)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=20)


def _code(sms: SmsSink, to: str) -> str:
    texts = [m["text"] for m in sms.messages if m["to"] == to]
    assert texts, sms.messages
    found = re.search(r"est (\d{6})", texts[-1])
    assert found is not None, texts[-1]
    return found.group(1)


def _sign_up_by_sms(
    api: TestClient, sms: SmsSink, phone: str = "06 12 34 56 78", **over: Any
) -> dict[str, Any]:
    r = api.post(
        URL, json={"commune": "60636", "min_level": "yellow", "phone": phone, "consent": True, **over}
    )
    assert r.status_code == 202, r.text
    to = "+33" + re.sub(r"\D", "", phone)[-9:]
    done = api.post(f"{URL}/confirm", json={"request": r.json()["request"], "code": _code(sms, to)})
    assert done.status_code == 200, done.text
    return dict(r.json())


def test_sms_opt_in_alerts_with_stop_then_stop_by_sms_works_at_once(
    api: TestClient, live_api: str, db: Conn, database_url: str, stand_ins: tuple[SmtpSink, SmsSink]
) -> None:
    _smtp, sms = stand_ins
    r = api.post(
        URL, json={"commune": "60636", "min_level": "yellow", "phone": "06 12 34 56 78", "consent": True}
    )
    assert r.status_code == 202, r.text
    assert r.json()["channel"] == "sms" and PHONE not in r.text
    code = _code(sms, PHONE)
    assert sms.messages[-1]["text"].startswith("Vigie: votre code d'inscription aux alertes de Thourotte")
    # Nothing is subscribed before the code comes back; a wrong code counts as an attempt.
    assert db.execute("SELECT count(*) FROM subscribers").fetchone() == (0,)
    wrong = "000000" if code != "000000" else "111111"
    bad = api.post(f"{URL}/confirm", json={"request": r.json()["request"], "code": wrong})
    assert bad.status_code == 422 and bad.json()["detail"] == "confirmation refusée : code incorrect"
    ok = api.post(f"{URL}/confirm", json={"request": r.json()["request"], "code": code})
    assert ok.status_code == 200, ok.text
    row = db.execute(
        "SELECT state, address, code_attempts, confirmed_at IS NOT NULL, consent_text, subscriber_id"
        " FROM residents"
    ).fetchone()
    assert row is not None and row[:4] == ("active", PHONE, 1, True) and "J'accepte" in row[4]
    again = api.post(f"{URL}/confirm", json={"request": r.json()["request"], "code": code})
    assert again.status_code == 422  # already confirmed

    make_station(db, "thourotte-mairie", commune="60636")
    only_rules(db, "Cumul 1 h%")
    t = now_utc()
    with dispatching(database_url, group_hold_s=0.0):
        rain_and_evaluate(db, "thourotte-mairie", 18.0, t)
        wait_for(lambda: sum(m["to"] == PHONE for m in sms.messages) == 2, timeout=20)
        alert = sms.messages[-1]["text"]
        assert alert.startswith("Vigie ALERTE JAUNE Thourotte") and alert.endswith("STOP: repondez STOP")
        assert len(alert) <= 160

        # The resident replies STOP: the gateway forwards it to Vigie over HTTP.
        assert sms.receive(PHONE, "Stop", f"{live_api}{URL}/sms-inbound", "wrong-key") == 401
        assert sms.receive(PHONE, "Stop", f"{live_api}{URL}/sms-inbound", GATEWAY_KEY) == 200
        assert db.execute("SELECT state FROM residents").fetchone() == ("unsubscribed",)
        assert db.execute("SELECT active FROM subscribers").fetchone() == (False,)
        wait_for(lambda: sms.messages[-1]["text"].startswith("Vous ne recevrez plus"), timeout=10)
        before = len(sms.messages)
        wait_settled(db)
        resolve_all(db, "thourotte-mairie", t)  # the end of alert would go to those warned...
        rain_and_evaluate(db, "thourotte-mairie", 40.0, t + timedelta(hours=4))  # ...and a new one
        wait_settled(db)
    assert len(sms.messages) == before  # nothing more to the unsubscribed number


def test_email_opt_in_by_link_and_unsubscribe_page(
    api: TestClient, db: Conn, stand_ins: tuple[SmtpSink, SmsSink]
) -> None:
    smtp, _sms = stand_ins
    r = api.post(
        URL,
        json={
            "commune": "60378",
            "email": "Habitant+alertes@Example.org",
            "consent": True,
            "min_level": "orange",
            "exercises": True,
        },
    )
    assert r.status_code == 202, r.text
    wait_for(lambda: smtp.messages, timeout=10)
    mail = smtp.messages[-1]
    assert mail["rcpt_tos"] == ["habitant+alertes@example.org"]
    link = re.search(r"https://vigie.example.org(/inscription/confirmer/\S+)", mail["body"])
    assert link is not None
    page = api.get(link.group(1))  # a mail scanner opening the link confirms nothing
    assert page.status_code == 200 and "<button" in page.text
    assert db.execute("SELECT state FROM residents").fetchone() == ("pending",)
    assert api.post(link.group(1)).status_code == 200
    sub = db.execute("SELECT min_level, exercises, active, communes FROM subscribers").fetchone()
    assert sub == ("orange", True, True, ["60378"])
    token = link.group(1).rsplit("/", 1)[1]
    assert "Me désinscrire" in api.get(f"/desinscription/{token}").text
    assert db.execute("SELECT active FROM subscribers").fetchone() == (True,)
    assert "C&#x27;est fait" in api.post(f"/desinscription/{token}").text
    assert db.execute("SELECT active FROM subscribers").fetchone() == (False,)
    assert api.post(f"{URL}/unsubscribe", json={"token": token}).json()["count"] == 0


def test_rate_limits_per_address_and_per_ip_hold_across_two_api_processes(
    settings: Settings, db: Conn, stand_ins: tuple[SmtpSink, SmsSink]
) -> None:
    _smtp, sms = stand_ins
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        body = {"commune": "60636", "phone": "0612345678", "consent": True}
        answers = [(one if i % 2 else two).post(URL, json=body).status_code for i in range(5)]
        assert answers == [202, 202, 202, 429, 429]
        assert sum(m["to"] == PHONE for m in sms.messages) == 3  # nobody can spam the number
        assert "réessayez plus tard" in one.post(URL, json=body).json()["detail"]
        # Other numbers from the same address: the per-IP limit (10 an hour) stops the form.
        codes = [
            (one if i % 2 else two).post(URL, json={**body, "phone": f"07000000{i:02d}"}).status_code
            for i in range(10)
        ]
        # 6 requests from this IP so far (the 429s count too): 4 more pass, then the door shuts.
        assert codes == [202] * 4 + [429] * 6
    # The keys are hashes: the table never holds a number or an IP.
    keys = " ".join(str(k) for (k,) in db.execute("SELECT key FROM signup_limits").fetchall())
    assert "0612345678" not in keys and "33612345678" not in keys and "testclient" not in keys


def test_rgpd_erasure_leaves_no_personal_data_and_keeps_the_proof(
    api: TestClient, db: Conn, database_url: str, stand_ins: tuple[SmtpSink, SmsSink]
) -> None:
    _smtp, sms = stand_ins
    _sign_up_by_sms(api, sms)
    _sign_up_by_sms(api, sms, phone="+33 7 11 22 33 44")
    make_station(db, "thourotte-mairie", commune="60636")
    only_rules(db, "Cumul 1 h%")
    with dispatching(database_url, group_hold_s=0.0):
        rain_and_evaluate(db, "thourotte-mairie", 18.0, now_utc())
        wait_settled(db)
    token = db.execute("SELECT token FROM residents WHERE address = %s", (PHONE,)).fetchone()
    assert token is not None
    reach = api.get("/api/v1/residents/reach", headers=ADMIN)
    assert reach.status_code == 200
    thourotte = next(c for c in reach.json() if c["insee"] == "60636")
    assert thourotte == {
        "insee": "60636",
        "name": "Thourotte",
        "population": 4463,
        "subscribed": 2,
        "sms": 2,
        "email": 0,
        "pending": 0,
        "per_1000": 0.4,
    }
    assert api.get("/api/v1/residents/reach").status_code == 401

    gone = api.post(f"{URL}/erase", json={"token": token[0]})
    assert gone.status_code == 200 and gone.json()["count"] == 1
    assert db.execute("SELECT count(*) FROM residents WHERE address = %s", (PHONE,)).fetchone() == (0,)
    everything = " ".join(
        str(r)
        for t in ("subscribers", "deliveries", "delivery_attempts", "delivery_proof", "signup_limits")
        for r in db.execute(f"SELECT * FROM {t}").fetchall()  # noqa: S608  # constant names
    )
    assert "612345678" not in everything
    assert "Habitant·e supprimé·e (RGPD)" in everything
    iid = db.execute("SELECT id FROM incidents").fetchone()
    assert iid is not None and proof.verify(db, int(iid[0]), None).ok
    # The admin erases the other one, who asked by letter.
    by_admin = api.post("/api/v1/residents/erase", json={"phone": "07 11 22 33 44"}, headers=ADMIN)
    assert by_admin.json()["count"] == 1
    assert db.execute("SELECT count(*) FROM residents").fetchone() == (0,)


HOSTILE_SIGNUPS = [
    ({"phone": "<script>alert(1)</script>"}, "mobile français"),
    ({"phone": "+44 7911 123456"}, "mobile français"),  # outside France: refused
    ({"phone": "+33 1 23 45 67 89"}, "mobile français"),  # a fixed line cannot read an SMS
    ({"phone": "06" * 30}, "40"),
    ({"email": "<script>@x.org"}, "e-mail invalide"),
    ({"email": "a@b"}, "e-mail invalide"),
    ({"email": "x" * 300 + "@example.org"}, "254"),
    ({"phone": PHONE, "email": "a@example.org"}, "un seul"),
    ({}, "un seul"),
    ({"phone": PHONE, "consent": False}, "consent"),
    ({"phone": PHONE, "commune": "75056"}, "commune"),
    ({"phone": PHONE, "commune": "60999"}, "commune inconnue"),
    ({"phone": PHONE, "min_level": "purple"}, "min_level"),
    ({"phone": PHONE, "name": "x" * 10_000}, "name"),  # no name is asked: refused, not stored
]


@pytest.mark.parametrize(("over", "reason"), HOSTILE_SIGNUPS)
def test_hostile_sign_ups_are_refused_in_french_without_echo(
    api: TestClient, db: Conn, over: dict[str, Any], reason: str
) -> None:
    body = {"commune": "60636", "consent": True, **over}
    r = api.post(URL, json=body)
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"] and "<script>" not in r.text and "x" * 100 not in r.text
    assert db.execute("SELECT count(*) FROM residents").fetchone() == (0,)


def test_malformed_and_oversized_bodies_on_the_new_routes(api: TestClient) -> None:
    for path in (URL, f"{URL}/confirm", f"{URL}/unsubscribe", f"{URL}/erase", f"{URL}/confirm-email"):
        assert api.post(
            path, content=b"{not json", headers={"Content-Type": "application/json"}
        ).status_code in (400, 422)
        big = api.post(
            path, content=b'{"a": "' + b"x" * 70_000 + b'"}', headers={"Content-Type": "application/json"}
        )
        assert big.status_code == 413
        assert api.post(path, json=[1, 2]).status_code == 422
    assert api.post(f"{URL}/confirm", json={"request": "short", "code": "123456"}).status_code == 422
    assert api.post(f"{URL}/confirm", json={"request": "a" * 43, "code": "<b>1</b>"}).status_code == 422
    assert api.post(f"{URL}/unsubscribe", json={"token": "'; DROP TABLE residents; --"}).status_code == 422
    assert api.get("/desinscription/%3Cscript%3E").status_code == 422
    assert api.post(f"{URL}/sms-inbound", json={"sender": PHONE, "msg": "STOP"}).status_code == 401
    inbound = {"X-Vigie-Gateway-Key": GATEWAY_KEY}
    assert api.post(
        f"{URL}/sms-inbound", json={"sender": "<script>", "msg": "STOP"}, headers=inbound
    ).json() == {"action": "ignored", "count": 0}
    assert (
        api.post(f"{URL}/sms-inbound", json={"sender": PHONE, "msg": "x" * 2000}, headers=inbound).status_code
        == 422
    )
    assert (
        api.post(f"{URL}/sms-inbound", json={"sender": PHONE, "msg": "bonjour"}, headers=inbound).json()[
            "action"
        ]
        == "ignored"
    )


def test_sign_up_without_a_gateway_says_so(database_url: str, broker: Broker) -> None:
    bare = Settings(database_url=SecretStr(database_url), mqtt_url=SecretStr(broker.url("vigie-api")))
    with TestClient(create_app(bare)) as c:
        r = c.post(URL, json={"commune": "60636", "phone": PHONE, "consent": True})
        assert r.status_code == 503 and "non disponible" in r.json()["detail"]
        assert (
            c.post(
                f"{URL}/sms-inbound",
                json={"sender": PHONE, "msg": "STOP"},
                headers={"X-Vigie-Gateway-Key": ""},
            ).status_code
            == 401
        )


def test_gateway_down_is_a_clear_503(api: TestClient, stand_ins: tuple[SmtpSink, SmsSink]) -> None:
    _smtp, sms = stand_ins
    sms.failing = True
    r = api.post(URL, json={"commune": "60636", "phone": PHONE, "consent": True})
    assert r.status_code == 503 and "réessayez" in r.json()["detail"]
    time.sleep(0)  # the service answered, and keeps answering
    assert api.get("/api/v1/instructions").status_code == 200


def test_signing_up_again_changes_the_level_of_the_one_subscription(
    api: TestClient, db: Conn, stand_ins: tuple[SmtpSink, SmsSink]
) -> None:
    _smtp, sms = stand_ins
    _sign_up_by_sms(api, sms)
    _sign_up_by_sms(api, sms, min_level="red", exercises=True)
    assert db.execute("SELECT state, min_level, exercises FROM residents").fetchall() == [
        ("active", "red", True)
    ]
    assert db.execute("SELECT min_level, exercises, active FROM subscribers").fetchall() == [
        ("red", True, True)
    ]
    # Another commune is another subscription.
    _sign_up_by_sms(api, sms, commune="60378")
    assert db.execute("SELECT count(*) FROM subscribers WHERE active").fetchone() == (2,)
