"""Alert rules through the HTTP API: a rule that cannot fire is refused with a French reason."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN
from tests.factories import make_station

URL = "/api/v1/rules"
Db = psycopg.Connection[tuple[object, ...]]


def _rule(**over: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": "Cumul 3 h — jaune (Thourotte)",
        "kind": "accumulation",
        "scope_kind": "commune",
        "scope_id": "60636",
        "level": "yellow",
        "params": {"window_min": 180, "raise": 25, "clear": 15},
    }
    rule.update(over)
    return rule


def _post(client: TestClient, **over: Any) -> dict[str, Any]:
    r = client.post(URL, json=_rule(**over), headers=ADMIN)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_crud_round_trip(client: TestClient, db: Db) -> None:
    made = _post(client)
    assert made["params"] == {"raise": 25.0, "clear": 15.0, "for_min": 0, "window_min": 180}
    assert made["audience"] == "public" and made["group_key"] == "accumulation:180"
    rid = made["id"]
    assert client.get(f"{URL}/{rid}", headers=ADMIN).json()["name"] == made["name"]
    assert rid in [r["id"] for r in client.get(URL, headers=ADMIN).json()]

    patched = client.patch(
        f"{URL}/{rid}",
        content=b'{"params": {"raise": 30}, "enabled": false}',
        headers={**ADMIN, "Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["params"]["raise"] == 30 and patched.json()["params"]["clear"] == 15
    assert patched.json()["enabled"] is False

    replaced = client.put(f"{URL}/{rid}", json=_rule(level="orange", name="Remplacée"), headers=ADMIN)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["level"] == "orange" and replaced.json()["enabled"] is True

    assert client.delete(f"{URL}/{rid}", headers=ADMIN).status_code == 204
    assert client.get(f"{URL}/{rid}", headers=ADMIN).status_code == 404
    assert db.execute("SELECT count(*) FROM rules WHERE id = %s", (rid,)).fetchone() == (0,)


def test_station_health_defaults_to_technicians(client: TestClient, db: Db) -> None:
    st = make_station(db).id
    made = _post(
        client,
        kind="station_health",
        scope_kind="station",
        scope_id=st,
        level="orange",
        params={"check": "low_battery", "raise": 3.3, "clear": 3.5},
    )
    assert made["audience"] == "technicians"


def test_rules_are_admin_only(client: TestClient) -> None:
    rid = _post(client)["id"]
    for method, path in [
        ("GET", URL),
        ("POST", URL),
        ("GET", f"{URL}/{rid}"),
        ("PUT", f"{URL}/{rid}"),
        ("PATCH", f"{URL}/{rid}"),
        ("DELETE", f"{URL}/{rid}"),
    ]:
        assert client.request(method, path, json={}).status_code == 401, (method, path)


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"params": {"window_min": 180, "raise": 25, "clear": 30}}, "clignote"),
        ({"params": {"window_min": 45, "raise": 25, "clear": 15}}, "fenêtre de 45 min inconnue"),
        ({"kind": "runoff", "params": {"raise": 5, "clear": 2}}, "ne peut pas porter sur"),
        ({"kind": "return_period", "params": {"raise": 500, "clear": 5}}, "hors de la table Montana"),
        (
            {"kind": "return_period", "params": {"raise": 10, "clear": 5, "montana_set": "inconnu"}},
            "Montana inconnu",
        ),
        ({"scope_id": "60999"}, "commune inconnue"),
        ({"scope_kind": "station", "scope_id": "pas-de-station"}, "station inconnue"),
        (
            {
                "kind": "runoff",
                "scope_kind": "catchment",
                "scope_id": "bassin-x",
                "params": {"raise": 5, "clear": 2},
            },
            "bassin versant inconnu",
        ),
        ({"scope_id": "'; DROP TABLE rules; --"}, "scope_id"),
        ({"level": "violet"}, "level"),
        ({"kind": "tsunami"}, "kind"),
        ({"params": [1, 2]}, "params"),
        ({"params": {"window_min": 180, "raise": "beaucoup", "clear": 1}}, "raise"),
        ({"name": "x" * 201}, "name"),
        ({"name": ""}, "name"),
        ({"enabled": "oui"}, "enabled"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_rule_that_cannot_fire_is_refused(client: TestClient, over: dict[str, Any], reason: str) -> None:
    r = client.post(URL, json=_rule(**over), headers=ADMIN)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail.startswith("règle refusée") and reason in detail, detail


def test_levels_of_one_group_must_rise_with_their_threshold(client: TestClient) -> None:
    _post(client)  # yellow at 25 mm / 3 h on Thourotte
    lower_orange = client.post(
        URL, json=_rule(level="orange", params={"window_min": 180, "raise": 20, "clear": 10}), headers=ADMIN
    )
    assert lower_orange.status_code == 422 and "ne se déclencherait" in lower_orange.json()["detail"]
    twin = client.post(URL, json=_rule(name="Doublon"), headers=ADMIN)
    assert twin.status_code == 409 and "jaune" in twin.json()["detail"]
    # Another window is another incident group: no conflict.
    _post(client, params={"window_min": 360, "raise": 35, "clear": 20})
    # A disabled rule does not take part in its group.
    _post(client, name="Brouillon", enabled=False)
    orange = _post(client, level="orange", params={"window_min": 180, "raise": 40, "clear": 30})
    # Patching it below the yellow threshold is re-checked against the group.
    bad = client.patch(f"{URL}/{orange['id']}", json={"params": {"raise": 10, "clear": 5}}, headers=ADMIN)
    assert bad.status_code == 422, bad.text


def test_battery_levels_fall_with_their_threshold(client: TestClient, db: Db) -> None:
    st = make_station(db).id
    base = {"kind": "station_health", "scope_kind": "station", "scope_id": st}
    _post(client, **base, level="yellow", params={"check": "low_battery", "raise": 3.4, "clear": 3.5})
    ok = client.post(
        URL,
        json=_rule(**base, level="orange", params={"check": "low_battery", "raise": 3.2, "clear": 3.5}),
        headers=ADMIN,
    )
    assert ok.status_code == 201, ok.text
    bad = client.post(
        URL,
        json=_rule(**base, level="red", params={"check": "low_battery", "raise": 3.3, "clear": 3.5}),
        headers=ADMIN,
    )
    assert bad.status_code == 422, bad.text


def test_patch_and_put_revalidate_the_whole_rule(client: TestClient) -> None:
    rid = _post(client)["id"]
    for method, body in [
        ("PATCH", {"params": {"clear": 99}}),
        ("PATCH", {"kind": "runoff"}),
        ("PATCH", {"params": None}),
        ("PUT", {"name": "incomplète"}),
    ]:
        r = client.request(method, f"{URL}/{rid}", json=body, headers=ADMIN)
        assert r.status_code == 422, (method, body, r.text)
    assert client.get(f"{URL}/{rid}", headers=ADMIN).json()["params"]["clear"] == 15


def test_bad_requests_never_crash(client: TestClient, db: Db) -> None:
    h = {**ADMIN, "Content-Type": "application/json"}
    assert client.post(URL, content=b"{nope", headers=h).status_code == 422
    assert client.post(URL, content=b"", headers=h).status_code == 422
    assert client.post(URL, content=b"null", headers=h).status_code == 422
    assert client.post(URL, content=b'"\x00"', headers=h).status_code == 422
    for number in (b"1e999", b"NaN", b"-Infinity"):
        raw = b'{"name": "n", "kind": "accumulation", "scope_kind": "station", "scope_id": "*",'
        raw += b' "level": "red", "params": {"window_min": 60, "raise": ' + number + b', "clear": 1}}'
        r = client.post(URL, content=raw, headers=h)
        assert r.status_code == 422 and "raise : nombre fini attendu" in r.json()["detail"], r.text
    assert client.post(URL, content=b"[" * 100_000, headers=h).status_code == 413
    assert client.get(f"{URL}/un", headers=ADMIN).status_code == 422
    assert client.get(f"{URL}/-1", headers=ADMIN).status_code == 422
    assert client.get(f"{URL}/99999999", headers=ADMIN).status_code == 404
    assert client.put(f"{URL}/99999999", json=_rule(), headers=ADMIN).status_code == 404
    assert client.patch(f"{URL}/99999999", json={}, headers=ADMIN).status_code == 404
    assert client.delete(f"{URL}/99999999", headers=ADMIN).status_code == 404
    weird = _post(client, name="Règle « pluie » ; DELETE FROM rules; -- \u202e🌧")
    assert weird["name"].startswith("Règle « pluie »")
    assert db.execute("SELECT count(*) FROM rules").fetchone() == (18,)
