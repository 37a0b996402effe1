"""Catchments through the HTTP API: public reads, admin writes, references checked."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN
from tests.factories import make_station

URL = "/api/v1/catchments"
Db = psycopg.Connection[tuple[object, ...]]
SQUARE = {"type": "Polygon", "coordinates": [[[2.87, 49.47], [2.88, 49.47], [2.88, 49.48], [2.87, 49.47]]]}
MONTANA = {
    "bands": [
        {
            "min_duration_min": 6,
            "max_duration_min": 60,
            "coefficients": {"10": {"a": 5.0, "b": 0.56}, "100": {"a": 7.9, "b": 0.54}},
        }
    ]
}


def _body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "ru-de-thourotte",
        "name": "Ru de Thourotte",
        "area_km2": 4.2,
        "cn2": 78,
        "communes": ["60636"],
    }
    body.update(over)
    return body


def _post(client: TestClient, **over: Any) -> dict[str, Any]:
    r = client.post(URL, json=_body(**over), headers=ADMIN)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_crud_round_trip(client: TestClient, db: Db) -> None:
    st = make_station(db).id
    made = _post(client, stations=[{"station_id": st, "weight": 2}], polygon=SQUARE, montana=MONTANA)
    assert made["stations"] == [{"station_id": st, "weight": 2.0}]
    assert made["polygon"] == SQUARE
    # Reading is public: a resident's map shows catchments.
    assert client.get(URL).json()[0]["id"] == "ru-de-thourotte"
    assert client.get(f"{URL}/ru-de-thourotte").json()["cn2"] == 78

    patched = client.patch(f"{URL}/ru-de-thourotte", json={"cn2": 85, "montana": None}, headers=ADMIN)
    assert patched.status_code == 200, patched.text
    assert patched.json()["cn2"] == 85 and patched.json()["montana"] is None
    assert patched.json()["stations"] == [{"station_id": st, "weight": 2.0}]

    body = _body(name="Ru (remplacé)")
    del body["id"]
    replaced = client.put(f"{URL}/ru-de-thourotte", json=body, headers=ADMIN)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["stations"] == [] and replaced.json()["polygon"] is None

    assert client.delete(f"{URL}/ru-de-thourotte", headers=ADMIN).status_code == 204
    assert client.get(f"{URL}/ru-de-thourotte").status_code == 404


def test_writes_are_admin_only(client: TestClient) -> None:
    _post(client)
    for method, path in [
        ("POST", URL),
        ("PUT", f"{URL}/ru-de-thourotte"),
        ("PATCH", f"{URL}/ru-de-thourotte"),
        ("DELETE", f"{URL}/ru-de-thourotte"),
    ]:
        assert client.request(method, path, json={}).status_code == 401, (method, path)


def test_duplicate_and_references(client: TestClient) -> None:
    _post(client)
    dup = client.post(URL, json=_body(), headers=ADMIN)
    assert dup.status_code == 409 and "existe déjà" in dup.json()["detail"]
    _post(client, id="matz-aval", upstream=["ru-de-thourotte"])
    # Upstream may not loop back.
    loop = client.patch(f"{URL}/ru-de-thourotte", json={"upstream": ["matz-aval"]}, headers=ADMIN)
    assert loop.status_code == 422 and "reviendrait" in loop.json()["detail"]
    # Something still names it: refuse to delete, and say what.
    rule = client.post(
        "/api/v1/rules",
        json={
            "name": "R",
            "kind": "runoff",
            "scope_kind": "catchment",
            "scope_id": "ru-de-thourotte",
            "level": "red",
            "params": {"raise": 40, "clear": 20},
        },
        headers=ADMIN,
    )
    assert rule.status_code == 201, rule.text
    busy = client.delete(f"{URL}/ru-de-thourotte", headers=ADMIN)
    assert busy.status_code == 409
    assert "règle n°" in busy.json()["detail"] and "matz-aval" in busy.json()["detail"]


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"id": "Pas Valide!"}, "id : format invalide"),
        ({"area_km2": 0}, "area_km2"),
        ({"area_km2": -3}, "area_km2"),
        ({"cn2": 101}, "cn2"),
        ({"cn2": "élevé"}, "nombre attendu"),
        ({"communes": ["60999"]}, "60999"),
        ({"upstream": ["nulle-part"]}, "nulle-part"),
        ({"upstream": ["ru-de-thourotte"]}, "lui-même"),
        ({"stations": [{"station_id": "fantome", "weight": 1}]}, "fantome"),
        ({"stations": [{"station_id": "fantome", "weight": 0}]}, "weight"),
        ({"polygon": {"type": "Point", "coordinates": [2.8, 49.4]}}, "polygon"),
        (
            {"polygon": {"type": "Polygon", "coordinates": [[[2.8, 49.4], [2.9, 49.4], [2.9, 49.5]]]}},
            "4 positions",
        ),
        (
            {
                "polygon": {
                    "type": "Polygon",
                    "coordinates": [[[2.8, 49.4], [2.9, 49.4], [2.9, 49.5], [2.8, 49.5]]],
                }
            },
            "fermé",
        ),
        (
            {
                "polygon": {
                    "type": "Polygon",
                    "coordinates": [[[200, 49.4], [2.9, 49.4], [2.9, 49.5], [200, 49.4]]],
                }
            },
            "bornes",
        ),
        (
            {
                "montana": {
                    "bands": [
                        {
                            "min_duration_min": 60,
                            "max_duration_min": 6,
                            "coefficients": MONTANA["bands"][0]["coefficients"],
                        }
                    ]
                }
            },
            "bande",
        ),
        (
            {
                "montana": {
                    "bands": [
                        {
                            "min_duration_min": 6,
                            "max_duration_min": 60,
                            "coefficients": {"10": {"a": 5, "b": 1.5}, "20": {"a": 5, "b": 0.5}},
                        }
                    ]
                }
            },
            "b",
        ),
        ({"name": "\x07"}, "contrôle"),
        ({"name": "x" * 10_000}, "trop long"),
    ],
)
def test_bad_catchment_is_refused(client: TestClient, over: dict[str, Any], reason: str) -> None:
    r = client.post(URL, json=_body(**over), headers=ADMIN)
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"], r.json()["detail"]


def test_bad_requests_never_crash(client: TestClient, db: Db) -> None:
    h = {**ADMIN, "Content-Type": "application/json"}
    assert client.post(URL, content=b'{"id": ', headers=h).status_code == 422
    assert client.post(URL, content=b"x" * 600_000, headers=h).status_code == 413
    assert client.get(f"{URL}/'; DROP TABLE catchments; --").status_code == 404
    assert client.get(f"{URL}/{'a' * 500}").status_code == 422
    assert client.patch(f"{URL}/inconnu", json={"cn2": 50}, headers=ADMIN).status_code == 404
    assert client.delete(f"{URL}/inconnu", headers=ADMIN).status_code == 404
    assert db.execute("SELECT count(*) FROM catchments").fetchone() == (0,)
