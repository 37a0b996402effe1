"""A species' reference picture: a naturalist marks a clip's frame (event, seconds) as the
species' picture; the viewer shows it beside any clip of that species. Chosen, replaced, read,
its JPEG made from the clip; refused in French for names outside the list, clip-less events,
times outside the clip, bad bodies; only naturalists and admins choose."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

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

__all__ = ["media_dir", "review"]
URL = "/api/v1/species-references"


def test_choose_replace_read_and_see_the_picture(review: TestClient, db: Conn, media_dir: Path) -> None:
    make_camera(db)
    first, _ = event_with_clip(db, media_dir)
    second, _ = event_with_clip(db, media_dir, start=T0 + timedelta(minutes=5))
    choice = {"scientific_name": "capreolus  CAPREOLUS", "event_id": first, "t": 1.5}
    r = review.put(URL, json=choice, headers=NATURALIST)
    assert r.status_code == 200, r.text
    body = r.json()
    # Stored as the list spells it, by whom, with its picture's URL.
    assert body["scientific_name"] == "Capreolus capreolus" and body["chosen_by"] == "naturalist"
    assert body["image"] == f"/api/v1/events/{first}/frame?t=1.500"
    picture = review.get(body["image"], headers=VIEWER)
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert picture.content[:2] == b"\xff\xd8"  # a JPEG, made from the clip
    # Another frame replaces it: one picture per species.
    choice = {"scientific_name": "Capreolus capreolus", "event_id": second, "t": 0}
    r = review.put(URL, json=choice, headers=ADMIN)
    assert r.status_code == 200
    listed = review.get(URL, headers=VIEWER).json()
    assert [(x["scientific_name"], x["event_id"], x["chosen_by"]) for x in listed] == [
        ("Capreolus capreolus", second, "admin")
    ]
    assert review.get(URL, params={"name": "Vulpes vulpes"}, headers=VIEWER).json() == []


def test_the_viewer_shows_the_reference_beside_a_clip_of_the_species(
    review: TestClient, db: Conn, media_dir: Path
) -> None:
    make_camera(db)
    chosen, _ = event_with_clip(db, media_dir)
    other, _ = event_with_clip(db, media_dir, start=T0 + timedelta(minutes=5))
    for event_id in (chosen, other):
        badger = {"scientific_name": "Meles meles"}
        r = review.post(f"/api/v1/events/{event_id}/observations", json=badger, headers=NATURALIST)
        assert r.status_code == 201
    page = review.get(f"/revue/evenements/{other}", headers=NATURALIST)
    assert "Images de référence" not in page.text and "data-reference-form" in page.text
    # Through the page's form (the browser sets t from the video's time).
    r = review.post(
        f"/revue/evenements/{chosen}/reference",
        data={"scientific_name": "Meles meles", "t": "2,5"},
        headers=NATURALIST,
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith("fait=revue-reference")
    page = review.get(f"/revue/evenements/{other}", headers=VIEWER)
    assert "Images de référence" in page.text
    assert f'src="/api/v1/events/{chosen}/frame?t=2.500"' in page.text
    assert "data-reference-form" not in page.text  # an elected official does not choose


def test_bad_choices_are_refused_in_french(review: TestClient, db: Conn, media_dir: Path) -> None:
    make_camera(db)
    clip, _ = event_with_clip(db, media_dir)
    noclip = make_event(db, start=T0 + timedelta(minutes=9))
    for body, status, words in (
        ({"scientific_name": "Dahu montagnard", "event_id": clip, "t": 0}, 422, "pas dans la liste"),
        ({"scientific_name": "Meles meles", "event_id": noclip, "t": 0}, 422, "pas de clip"),
        ({"scientific_name": "Meles meles", "event_id": clip, "t": 999}, 422, "au-delà du clip"),
        ({"scientific_name": "Meles meles", "event_id": clip, "t": -1}, 422, "refusée"),
        ({"scientific_name": "Meles meles", "event_id": 987654, "t": 0}, 404, "événement inconnu"),
        ({"scientific_name": "Meles meles", "event_id": clip, "t": 0, "extra": 1}, 422, "refusée"),
        ({"scientific_name": "<script>x</script>", "event_id": clip, "t": 0}, 422, "pas dans la liste"),
        ({"scientific_name": "x" * 5000, "event_id": clip, "t": 0}, 422, "refusée"),
    ):
        r = review.put(URL, json=body, headers=NATURALIST)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["detail"], body
    as_json = NATURALIST | {"content-type": "application/json"}
    broken = review.put(URL, content=b"{pas du json", headers=as_json)
    assert broken.status_code == 422
    fine = {"scientific_name": "Meles meles", "event_id": clip, "t": 0}
    assert review.put(URL, json=fine, headers=VIEWER).status_code == 403
    assert review.get(URL, headers=VIEWER).json() == []  # nothing was stored
    # The list's name filter: a NUL or control character is a clear 422, not the database's 500.
    for bad in ("Meles\x00meles", "Meles\x1bmeles", ""):
        r = review.get(URL, params={"name": bad}, headers=VIEWER)
        assert r.status_code == 422, (bad, r.text)
    assert review.get(URL, params={"name": "Meles meles"}, headers=VIEWER).json() == []
    # The picture route refuses what it cannot read.
    assert review.get(f"/api/v1/events/{noclip}/frame", headers=VIEWER).status_code == 404
    assert review.get(f"/api/v1/events/{clip}/frame?t=-3", headers=VIEWER).status_code == 422
    assert review.get(f"/api/v1/events/{clip}/frame?t=nan", headers=VIEWER).status_code == 422
    # The page's form: a time that is not a number is said, nothing chosen.
    form = {"scientific_name": "Meles meles", "t": "abc"}
    r = review.post(f"/revue/evenements/{clip}/reference", data=form, headers=NATURALIST)
    assert r.status_code == 422 and "moment du clip est invalide" in html.unescape(r.text)
    assert review.get(URL, headers=VIEWER).json() == []
