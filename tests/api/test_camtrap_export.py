"""The Camtrap DP 1.0.2 export and the species summary, on the real database, with deployments,
observations, verdicts and false positives made through the API's own routes.

The zip is checked against the official profile (jsonschema) and table schemas (frictionless),
copied into tests/data/camtrap-dp-1.0.2/; packages broken on purpose (a dangling mediaID, a
latitude of 123, a missing required field) must fail the same checks, so the checks are real."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api import camtrap
from api.queries import camtrap as camtrap_queries
from tests.api.review_support import (
    ADMIN,
    NATURALIST,
    T0,
    VIEWER,
    Conn,
    event_with_clip,
    make_camera,
    make_event,
    media_dir,
    review,
)
from tests.camtrap_check import BASE, profile_errors, table_errors
from tests.support import run_async
from vigie.db import make_async_pool

__all__ = ["media_dir", "review"]
URL = "/api/v1/camtrap-dp.zip"
TABLES = ("deployments", "media", "observations")
# Quotes, a separator, a newline and markup: the CSV must carry them as they are.
HOSTILE = 'deux "chevreuils", dont un jeune ;\n<script>alert(1)</script> =HYPERLINK("x")'
RANGE = {"start": (T0 - timedelta(days=1)).isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}


def unpack(body: bytes, folder: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None
        zf.extractall(folder)
    return folder


def rows(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def rewrite(folder: Path, name: str, change: Any) -> None:
    """Apply change(rows) to a CSV of the unpacked package, keeping its header."""
    table = rows(folder, name)
    header = list(table[0].keys())
    table, header = change(table, header)
    with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\r\n")
        w.writeheader()
        w.writerows(table)


def _post(client: TestClient, url: str, body: dict[str, Any], headers: dict[str, str] = NATURALIST) -> Any:
    r = client.post(url, json=body, headers=headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


def seed(review: TestClient, db: Conn, media_dir: Path) -> dict[str, Any]:
    """One deployment still running, and its events:
    - roe: a validated roe deer (with a box and a span) and a proposed fox (left out: the event
      has a validated observation);
    - fox: a proposed fox only (exported: nothing was validated there);
    - false: a boar on an event marked false positive (left out);
    - noclip: an event without a clip, with a rejected badger (left out) and a proposed heron
      (exported, without a mediaID);
    and an event outside any deployment (another camera), left out."""
    make_camera(db)
    make_camera(db, "autre-camera")
    dep = _post(
        review,
        "/api/v1/deployments",
        {
            "camera_id": "etang-nord",
            "location_name": "Étang nord",
            "lat": 49.4123,
            "lon": 2.8234,
            "coordinate_uncertainty_m": 10,
            "habitat": "roselière",
            "feature_type": "waterSource",
            "camera_height_m": 0.8,
            "camera_tilt_deg": -10,
            "camera_heading_deg": 270,
            "setup_by": "Camille",
            "start_ts": (T0 - timedelta(days=30)).isoformat(),
        },
    )
    roe, roe_clip = event_with_clip(db, media_dir, start=T0)
    fox, _ = event_with_clip(db, media_dir, start=T0 + timedelta(minutes=5))
    false, _ = event_with_clip(db, media_dir, start=T0 + timedelta(minutes=10))
    noclip = make_event(db, start=T0 + timedelta(minutes=15))
    make_event(db, "autre-camera", start=T0)
    roe_obs = _post(
        review,
        f"/api/v1/events/{roe}/observations",
        {
            "scientific_name": "Capreolus capreolus",
            "count": 2,
            "life_stage": "adult",
            "bbox": {"x": 0.25, "y": 0.5, "w": 0.5, "h": 0.25},
            "event_start_s": 1.0,
            "event_end_s": 4.0,
            "individual_id": "chevrette-1",
            "comments": HOSTILE,
        },
    )
    _post(review, f"/api/v1/observations/{roe_obs['id']}/validation", {"decision": "confirm"}, ADMIN)
    second = _post(review, f"/api/v1/events/{roe}/observations", {"scientific_name": "Vulpes vulpes"})
    fox_obs = _post(review, f"/api/v1/events/{fox}/observations", {"scientific_name": "Vulpes vulpes"})
    _post(review, f"/api/v1/events/{false}/observations", {"scientific_name": "Sus scrofa"})
    r = review.patch(f"/api/v1/events/{false}", json={"false_positive": True}, headers=NATURALIST)
    assert r.status_code == 200, r.text
    badger = _post(review, f"/api/v1/events/{noclip}/observations", {"scientific_name": "Meles meles"})
    _post(review, f"/api/v1/observations/{badger['id']}/validation", {"decision": "reject"}, ADMIN)
    heron = _post(review, f"/api/v1/events/{noclip}/observations", {"scientific_name": "Ardea cinerea"})
    return {
        "dep": dep["id"],
        "roe": roe,
        "roe_clip": roe_clip,
        "fox": fox,
        "false": false,
        "noclip": noclip,
        "roe_obs": roe_obs["id"],
        "second": second["id"],
        "fox_obs": fox_obs["id"],
        "heron": heron["id"],
    }


def test_the_export_carries_the_consensus_and_validates(
    review: TestClient, db: Conn, media_dir: Path, tmp_path: Path, database_url: str
) -> None:
    s = seed(review, db, media_dir)
    r = review.get(URL, params=RANGE, headers=NATURALIST)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    folder = unpack(r.content, tmp_path / "pkg")
    assert sorted(p.name for p in folder.iterdir()) == [
        "datapackage.json",
        "deployments.csv",
        "media.csv",
        "observations.csv",
    ]
    descriptor = json.loads((folder / "datapackage.json").read_text())
    assert profile_errors(descriptor) == []
    assert table_errors(folder) == []

    assert descriptor["profile"] == f"{BASE}/camtrap-dp-profile.json"
    assert [t["scientificName"] for t in descriptor["taxonomic"]] == [
        "Ardea cinerea",
        "Capreolus capreolus",
        "Vulpes vulpes",
    ]
    assert descriptor["taxonomic"][1]["vernacularNames"] == {"fra": "Chevreuil européen"}
    assert descriptor["temporal"]["start"] == (T0 - timedelta(days=1)).date().isoformat()
    assert descriptor["spatial"] == {"type": "Point", "coordinates": [2.8234, 49.4123]}
    assert descriptor["project"]["individualAnimals"] is True
    assert {c["title"] for c in descriptor["contributors"]} == {"naturalist", "admin"}

    (dep,) = rows(folder, "deployments")
    assert dep["deploymentID"] == f"dep-{s['dep']}" and dep["latitude"] == "49.4123"
    assert dep["featureType"] == "waterSource" and dep["cameraTilt"] == "-10"
    # Still running: it ends, in the package, at the export's end.
    assert dep["deploymentEnd"] == (T0 + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    media = rows(folder, "media")
    assert [m["mediaID"] for m in media] == [f"media-{s['roe']}", f"media-{s['fox']}"]
    assert {m["fileMediatype"] for m in media} == {"video/mp4"}
    assert media[0]["filePath"] == f"http://127.0.0.1:8080/api/v1/events/{s['roe']}/clip"
    assert media[0]["timestamp"] == T0.strftime("%Y-%m-%dT%H:%M:%SZ")

    obs = {o["observationID"]: o for o in rows(folder, "observations")}
    assert sorted(obs) == sorted(f"obs-{s[k]}" for k in ("roe_obs", "fox_obs", "heron"))
    roe = obs[f"obs-{s['roe_obs']}"]
    assert roe["eventStart"] == (T0 + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert roe["eventEnd"] == (T0 + timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (roe["bboxX"], roe["bboxY"], roe["bboxWidth"], roe["bboxHeight"]) == ("0.25", "0.5", "0.5", "0.25")
    assert roe["observationLevel"] == "event" and roe["classificationMethod"] == "human"
    assert roe["classifiedBy"] == "naturalist" and roe["mediaID"] == f"media-{s['roe']}"
    assert "validation:validated" in roe["observationTags"] and roe["count"] == "2"
    assert roe["observationComments"] == HOSTILE
    assert obs[f"obs-{s['fox_obs']}"]["observationTags"] == "validation:proposed"
    assert obs[f"obs-{s['heron']}"]["mediaID"] == ""  # its event has no clip

    with psycopg.connect(database_url) as conn:
        logged = conn.execute(
            "SELECT actor, detail FROM audit_log WHERE action = 'export' AND target = %s", (URL,)
        ).fetchall()
    assert len(logged) == 1 and logged[0][0] == "naturalist"
    assert logged[0][1]["deployments"] == [s["dep"]] and logged[0][1]["media"] == "url"


def test_media_files_puts_the_clips_in_the_zip(
    review: TestClient, db: Conn, media_dir: Path, tmp_path: Path
) -> None:
    s = seed(review, db, media_dir)
    # A stored path that points out of the media directory is not followed: given by URL.
    db.execute("UPDATE camera_events SET clip_path = '../../etc/passwd' WHERE id = %s", (s["fox"],))
    r = review.get(URL, params={**RANGE, "media": "files", "deployment": s["dep"]}, headers=ADMIN)
    assert r.status_code == 200, r.text
    folder = unpack(r.content, tmp_path / "pkg")
    media = {m["mediaID"]: m for m in rows(folder, "media")}
    inside = media[f"media-{s['roe']}"]["filePath"]
    assert inside == f"media/media-{s['roe']}.mp4"
    assert (folder / inside).read_bytes() == s["roe_clip"].read_bytes()
    assert media[f"media-{s['fox']}"]["filePath"].startswith("http://127.0.0.1:8080/api/v1/events/")
    assert [p.name for p in (folder / "media").iterdir()] == [f"media-{s['roe']}.mp4"]
    assert table_errors(folder) == []
    assert profile_errors(json.loads((folder / "datapackage.json").read_text())) == []


@pytest.fixture
def valid_package(review: TestClient, db: Conn, media_dir: Path, tmp_path: Path) -> Path:
    seed(review, db, media_dir)
    r = review.get(URL, params=RANGE, headers=NATURALIST)
    assert r.status_code == 200, r.text
    folder = unpack(r.content, tmp_path / "pkg")
    assert table_errors(folder) == []
    return folder


def test_a_dangling_media_id_fails_validation(valid_package: Path) -> None:
    def dangle(table: list[dict[str, str]], header: list[str]) -> tuple[Any, list[str]]:
        table[0]["mediaID"] = "media-999999"
        return table, header

    rewrite(valid_package, "observations", dangle)
    errors = table_errors(valid_package)
    assert any(e.startswith("foreign-key") for e in errors), errors


def test_a_latitude_of_123_fails_validation(valid_package: Path) -> None:
    def north(table: list[dict[str, str]], header: list[str]) -> tuple[Any, list[str]]:
        table[0]["latitude"] = "123"
        return table, header

    rewrite(valid_package, "deployments", north)
    errors = table_errors(valid_package)
    assert any(e.startswith("constraint-error") and "maximum" in e for e in errors), errors


def test_a_missing_required_field_fails_validation(valid_package: Path) -> None:
    def untimed(table: list[dict[str, str]], header: list[str]) -> tuple[Any, list[str]]:
        for row in table:
            row["timestamp"] = ""
        return table, header

    rewrite(valid_package, "media", untimed)
    errors = table_errors(valid_package)
    assert any(e.startswith("constraint-error") and "required" in e for e in errors), errors

    descriptor = json.loads((valid_package / "datapackage.json").read_text())
    assert profile_errors(descriptor) == []
    del descriptor["project"]["samplingDesign"]
    assert any("samplingDesign" in e for e in profile_errors(descriptor))
    del descriptor["taxonomic"]
    assert any("taxonomic" in e for e in profile_errors(descriptor))


def test_roles_and_bad_requests_are_refused_in_french(review: TestClient, db: Conn) -> None:
    s = seed(review, db, Path("/nonexistent"))  # no clip is read: media=url
    assert review.get(URL, params=RANGE, headers=VIEWER).status_code == 403
    assert review.get(URL, params=RANGE).status_code == 401
    bad: list[tuple[dict[str, Any], str]] = [
        ({"start": RANGE["end"], "end": RANGE["start"]}, "postérieur"),
        ({**RANGE, "deployment": 999999}, "déploiement inconnu : 999999"),
        ({**RANGE, "deployment": 0}, ""),
        ({**RANGE, "deployment": [str(i) for i in range(1, 52)]}, ""),
        ({"start": "1900-01-01T00:00:00Z"}, "2000 à 2099"),
        ({"end": "9999-01-01T00:00:00Z"}, "2000 à 2099"),
        ({"start": "demain"}, ""),
        ({"start": "2026-11-01T00:00:00"}, ""),  # no offset: ambiguous
        ({**RANGE, "media": "ftp"}, ""),
        ({**RANGE, "deployment": "1 OR 1=1"}, ""),
        ({**RANGE, "deployment": str(2**63)}, ""),
        ({"start": "2026-11-01T00:00:00Z" + "0" * 5000}, ""),
        ({"start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"}, "aucun déploiement"),
    ]
    for params, words in bad:
        r = review.get(URL, params=params, headers=NATURALIST)
        assert r.status_code == 422, (params, r.text)
        assert words in r.json()["detail"], (params, r.json())
        assert "refusée" in r.json()["detail"] or "requête" in r.json()["detail"], r.json()
    summary = review.get("/api/v1/species-summary", params={**RANGE, "deployment": 424242}, headers=VIEWER)
    assert summary.status_code == 422 and "déploiement inconnu" in summary.json()["detail"]
    summary = review.get(
        "/api/v1/species-summary", params={"start": RANGE["end"], "end": RANGE["start"]}, headers=VIEWER
    )
    assert summary.status_code == 422 and "postérieur" in summary.json()["detail"]
    summary = review.get("/api/v1/species-summary", params={"end": "1999-12-31T23:00:00Z"}, headers=VIEWER)
    assert summary.status_code == 422 and "2000 à 2099" in summary.json()["detail"]
    assert s["dep"] >= 1


def test_species_summary_counts_the_consensus(review: TestClient, db: Conn, media_dir: Path) -> None:
    s = seed(review, db, media_dir)
    # A second month: a validated fox on 2 December.
    later = make_event(db, start=T0 + timedelta(days=4))
    fox = _post(
        review, f"/api/v1/events/{later}/observations", {"scientific_name": "Vulpes vulpes", "count": 3}
    )
    _post(review, f"/api/v1/observations/{fox['id']}/validation", {"decision": "confirm"}, ADMIN)
    # Outside any deployment: counted under no deployment.
    outside = make_event(db, "autre-camera", start=T0 + timedelta(hours=1))
    _post(review, f"/api/v1/events/{outside}/observations", {"scientific_name": "Vulpes vulpes"})

    r = review.get("/api/v1/species-summary", headers=VIEWER)
    assert r.status_code == 200, r.text
    keys = ("scientific_name", "deployment_id", "month", "observations", "individuals", "events")
    got = [tuple(i[k] for k in keys) for i in r.json()["items"]]
    assert got == [
        ("Ardea cinerea", s["dep"], "2026-11", 1, 1, 1),
        ("Capreolus capreolus", s["dep"], "2026-11", 1, 2, 1),
        ("Vulpes vulpes", s["dep"], "2026-11", 1, 1, 1),  # the roe event's proposed fox is not counted
        ("Vulpes vulpes", s["dep"], "2026-12", 1, 3, 1),
        ("Vulpes vulpes", None, "2026-11", 1, 1, 1),
    ]
    assert r.json()["items"][1]["vernacular_name"] == "Chevreuil européen"

    r = review.get(
        "/api/v1/species-summary",
        params={"format": "csv", "deployment": s["dep"], "start": "2026-12-01T00:00:00+01:00"},
        headers=NATURALIST,
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines == [
        "nom_scientifique;nom_vernaculaire;deploiement;lieu;mois;observations;individus;evenements",
        f"Vulpes vulpes;Renard roux;{s['dep']};Étang nord;2026-12;1;3;1",
    ]
    assert review.get("/api/v1/species-summary", params={"format": "xls"}, headers=VIEWER).status_code == 422
    assert review.get("/api/v1/species-summary").status_code == 401


def test_the_zip_is_sent_in_chunks_as_the_batches_stream(
    review: TestClient, db: Conn, service_db_url: Callable[[str], str], tmp_path: Path
) -> None:
    """4,500 events (three database batches of media, three of observations): the package
    comes as many chunks, none near the whole, and the joined chunks are the valid zip."""
    s = seed(review, db, tmp_path)
    db.execute(
        "INSERT INTO camera_events (camera_id, event_key, start_ts, end_ts, clip_start_ts, clip_path)"
        " SELECT 'etang-nord', 'bulk-' || i, %(t)s + i * interval '1 second',"
        " %(t)s + i * interval '1 second' + interval '5 seconds', %(t)s + i * interval '1 second',"
        " 'etang-nord/bulk-' || i || '.mp4' FROM generate_series(1, 4500) AS i",
        {"t": T0 + timedelta(hours=2)},
    )
    db.execute(
        "INSERT INTO observations (event_id, scientific_name, in_species_list, count, classified_by)"
        " SELECT id, 'Vulpes vulpes', true, 1, 'naturalist' FROM camera_events WHERE event_key LIKE 'bulk-%%'"
    )

    async def collect() -> list[bytes]:
        pool = make_async_pool(service_db_url("api"), name="vigie-test-camtrap")
        await pool.open()
        try:
            async with pool.connection() as conn:
                found = await camtrap_queries.deployments(conn, None, None, None)
            req = camtrap.Request(
                start=None,
                end=None,
                deployments=found,
                media="url",
                public_url="https://vigie.example.org/",
                media_dir=tmp_path,
                exported_by="naturalist",
            )
            return [chunk async for chunk in camtrap.package(pool, req)]
        finally:
            await pool.close()

    chunks = run_async(collect())
    whole = b"".join(chunks)
    assert len([c for c in chunks if c]) >= 6, [len(c) for c in chunks]
    assert max(len(c) for c in chunks) < len(whole) / 2
    folder = unpack(whole, tmp_path / "pkg")
    assert len(rows(folder, "media")) == 4500 + 2
    assert len(rows(folder, "observations")) == 4500 + 3
    assert rows(folder, "media")[0]["filePath"] == f"https://vigie.example.org/api/v1/events/{s['roe']}/clip"
    assert table_errors(folder) == []
