"""Subscribers and the test send through the HTTP API: secrets never come back out."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN

URL = "/api/v1/subscribers"
SECRET = "s3cr3t-P4ss"
TOKEN = "tok-9f8e7d6c5b4a"


def _body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Mairie de Thourotte",
        "communes": ["60636"],
        "min_level": "orange",
        "channels": [
            {"kind": "email", "url": f"mailtos://maire:{SECRET}@smtp.example.org?to=maire@thourotte.fr"},
            {"kind": "sms", "url": f"smseagle://{TOKEN}@sms.example.org/+33612345678"},
        ],
        "quiet_start": "22:00",
        "quiet_end": "06:30",
        "timezone": "Europe/Paris",
    }
    body.update(over)
    return body


def _create(client: TestClient, **over: Any) -> dict[str, Any]:
    r = client.post(URL, json=_body(**over), headers=ADMIN)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_crud_round_trip_masks_channels(
    client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    made = _create(client)
    assert made["channels"] == [
        {"kind": "email", "url": "mailtos://smtp.example.org/***"},
        {"kind": "sms", "url": "smseagle://sms.example.org/***"},
    ]
    assert made["quiet_start"] == "22:00:00"
    sid = made["id"]
    for r in (client.get(URL, headers=ADMIN), client.get(f"{URL}/{sid}", headers=ADMIN)):
        assert r.status_code == 200
        assert SECRET not in r.text and TOKEN not in r.text and "maire@" not in r.text
    # The URL itself is stored as given: the notifier needs it.
    stored = db.execute("SELECT channels FROM subscribers WHERE id = %s", (sid,)).fetchone()
    assert stored is not None and SECRET in str(stored[0])

    patched = client.patch(
        f"{URL}/{sid}", json={"min_level": "red", "quiet_start": None, "quiet_end": None}, headers=ADMIN
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["min_level"] == "red" and patched.json()["quiet_start"] is None
    # Channels survive a patch that does not name them.
    assert len(patched.json()["channels"]) == 2
    assert SECRET in str(db.execute("SELECT channels FROM subscribers WHERE id = %s", (sid,)).fetchone())

    replaced = client.put(f"{URL}/{sid}", json=_body(name="Cellule de crise", channels=[]), headers=ADMIN)
    assert replaced.status_code == 200 and replaced.json()["channels"] == []
    assert client.delete(f"{URL}/{sid}", headers=ADMIN).status_code == 204
    assert client.get(f"{URL}/{sid}", headers=ADMIN).status_code == 404
    assert client.delete(f"{URL}/{sid}", headers=ADMIN).status_code == 404


def test_token_like_hosts_are_hidden() -> None:
    from vigie.subscribers import mask_url

    assert mask_url("slack://TokenA/TokenB/TokenC") == "slack://***/***"
    assert mask_url("tgram://123456:ABCDEF/987") == "tgram://***/***"
    assert mask_url("json://hooks.example.org:8443/path?secret=1") == "json://hooks.example.org/***"
    assert mask_url("not a url") == "***"


def test_every_subscriber_route_is_admin_only(client: TestClient) -> None:
    sid = _create(client)["id"]
    calls = [
        ("GET", URL),
        ("POST", URL),
        ("GET", f"{URL}/{sid}"),
        ("PUT", f"{URL}/{sid}"),
        ("PATCH", f"{URL}/{sid}"),
        ("DELETE", f"{URL}/{sid}"),
        ("POST", f"{URL}/{sid}/test"),
    ]
    for method, path in calls:
        assert client.request(method, path, json={}).status_code == 401, (method, path)
        bad = client.request(method, path, json={}, headers={"Authorization": "Bearer faux"})
        assert bad.status_code == 401


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"channels": [{"kind": "fax", "url": "mailto://a@b.fr"}]}, "channels.0.kind"),
        ({"channels": [{"kind": "sms", "url": f"mailtos://x:{SECRET}@smtp.example.org"}]}, "ne convient pas"),
        ({"channels": [{"kind": "email", "url": f"http://x:{SECRET}@example.org"}]}, "ne convient pas"),
        ({"channels": [{"kind": "email", "url": "nothing-here"}]}, "schéma"),
        # The notifier only sends webhooks as json://, form:// or xml://.
        ({"channels": [{"kind": "webhook", "url": "slack://TokenA/TokenB/TokenC"}]}, "ne convient pas"),
        ({"channels": [{"kind": "email", "url": f"mailto://a:{SECRET}@b.fr\r\nBcc: x"}]}, "contrôle"),
        ({"channels": [{"kind": "email", "url": "mailto://" + "a" * 3000}]}, "trop long"),
        ({"channels": [{"kind": "email", "url": "mailto://a@b.fr"}] * 11}, "trop d'éléments"),
        ({"channels": [{"kind": "email", "url": "mailto://a@b.fr", "extra": 1}]}, "champ inconnu"),
        ({"quiet_start": "22:00", "quiet_end": None}, "vont ensemble"),
        ({"quiet_start": "25:00"}, "heure"),
        ({"timezone": "Mars/Olympus"}, "fuseau"),
        ({"timezone": "../../etc/passwd"}, "fuseau"),
        ({"communes": ["60999"]}, "60999"),
        ({"communes": ["75056"]}, "format invalide"),
        ({"communes": "60636"}, "liste attendue"),
        ({"catchments": ["bassin-fantome"]}, "bassin-fantome"),
        ({"min_level": "green"}, "valeurs possibles"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "trop long"),
        ({"name": "a\x00b"}, "contrôle"),
        ({"active": "peut-être"}, "booléen"),
        ({"audience": "everyone"}, "audience"),
        ({"surprise": True}, "champ inconnu"),
    ],
)
def test_bad_subscriber_is_refused_without_echoing_secrets(
    client: TestClient, over: dict[str, Any], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        r = client.post(URL, json=_body(**over), headers=ADMIN)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and reason in detail, detail
    assert SECRET not in r.text and TOKEN not in r.text
    assert SECRET not in caplog.text and TOKEN not in caplog.text


def test_malformed_and_oversized_bodies(client: TestClient) -> None:
    h = {**ADMIN, "Content-Type": "application/json"}
    bad_json = client.post(URL, content=b'{"name": "x", ', headers=h)
    assert bad_json.status_code == 422 and "JSON invalide" in bad_json.json()["detail"]
    not_object = client.post(URL, json=["a", "b"], headers=ADMIN)
    assert not_object.status_code == 422 and "objet JSON" in not_object.json()["detail"]
    big = client.post(URL, content=b'{"name": "' + b"x" * 200_000 + b'"}', headers=h)
    assert big.status_code == 413 and "trop volumineux" in big.json()["detail"]
    assert client.get(f"{URL}/abc", headers=ADMIN).status_code == 422
    assert client.get(f"{URL}/0", headers=ADMIN).status_code == 422
    assert client.get(f"{URL}/{2**70}", headers=ADMIN).status_code == 422
    assert client.get(f"{URL}/987654", headers=ADMIN).status_code == 404
    assert client.patch(f"{URL}/987654", json={}, headers=ADMIN).status_code == 404


def test_hostile_strings_are_stored_as_text(
    client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    name = "Robert'); DROP TABLE subscribers;-- é 🌧"
    made = _create(client, name=name)
    assert made["name"] == name
    assert db.execute("SELECT count(*) FROM subscribers").fetchone() == (1,)


def test_test_send_queues_one_delivery_per_channel(
    client: TestClient, db: psycopg.Connection[tuple[object, ...]]
) -> None:
    sid = _create(client)["id"]
    r = client.post(f"{URL}/{sid}/test", headers=ADMIN)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["requested_by"] == "admin"
    assert [(d["channel_index"], d["kind"]) for d in body["deliveries"]] == [(0, "email"), (1, "sms")]
    assert SECRET not in r.text and TOKEN not in r.text
    rows = db.execute(
        "SELECT purpose, state, requested_by, channel_kind FROM deliveries WHERE subscriber_id = %s"
        " ORDER BY channel_index",
        (sid,),
    ).fetchall()
    assert rows == [("test", "pending", "admin", "email"), ("test", "pending", "admin", "sms")]

    empty = _create(client, name="Sans canal", channels=[])["id"]
    no_channel = client.post(f"{URL}/{empty}/test", headers=ADMIN)
    assert no_channel.status_code == 422 and "aucun canal" in no_channel.json()["detail"]
    assert client.post(f"{URL}/424242/test", headers=ADMIN).status_code == 404
