"""The review pages' inputs (query strings and forms) when they are malformed, oversized, out of
range or hostile: a French sentence on the page, the right status, nothing changed, and no
redirect to another site. The browser flows are in tests/web/test_review_pages.py."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.review_support import NATURALIST, VIEWER, Conn, make_camera, make_event, media_dir, review

__all__ = ["media_dir", "review"]


def _says(text: str, words: str) -> bool:
    """Whether the page says these words (as read: entities decoded, any case)."""
    return words.lower() in html.unescape(text).lower()


def _state(db: Conn, event_id: int) -> tuple[object, ...]:
    row = db.execute(
        "SELECT status, favourite, (SELECT count(*) FROM observations WHERE event_id = e.id)"
        " FROM camera_events e WHERE id = %s",
        (event_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_gallery_filters_refuse_bad_values_in_french(review: TestClient, db: Conn, media_dir: Path) -> None:
    make_camera(db)
    make_event(db)
    ok = review.get("/revue", headers=VIEWER)
    assert ok.status_code == 200 and "1 événement." in ok.text
    for query, words in (
        ("du=2026-13-01", "n'existe pas"),
        ("du=01/12/2026", "AAAA-MM-JJ"),
        ("du=2026-12-02&au=2026-12-01", "même jour que « du » ou après"),
        ("deploiement=abc", "numéro"),
        ("deploiement=99999999999999999999", "numéro"),
        ("deploiement=42", "déploiement inconnu"),
        ("curseur=pas-un-curseur", "curseur invalide"),
        ("camera=../../etc", "identifiant de caméra invalide"),
    ):
        r = review.get(f"/revue?{query}", headers=VIEWER)
        assert r.status_code == 422, (query, r.status_code)
        assert _says(r.text, words), query
        assert 'role="alert"' in r.text
    # Oversized and unknown values are cut or ignored, never a 500.
    r = review.get("/revue?espece=" + "a" * 5000 + "&statut=drop&tri=x&mois=9999-99", headers=VIEWER)
    assert r.status_code == 200 and "0 événement" in r.text
    hostile = "<script>alert(1)</script>"
    r = review.get("/revue", params={"espece": hostile}, headers=VIEWER)
    assert hostile not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_bulk_form_refuses_bad_selections_and_changes_nothing(
    review: TestClient, db: Conn, media_dir: Path
) -> None:
    make_camera(db)
    eid = make_event(db)
    before = _state(db, eid)
    for form, words in (
        ({"action": "tag", "ids": [str(eid)]}, "choisissez une espèce"),
        ({"action": "explode", "ids": [str(eid)]}, "action inconnue"),
        ({"action": "favourite"}, "aucun événement choisi"),
        ({"action": "favourite", "ids": ["1; DROP TABLE camera_events"]}, "sélection invalide"),
        ({"action": "favourite", "ids": ["99999999999999999999"]}, "sélection invalide"),
        ({"action": "delete", "ids": [str(eid)]}, "action inconnue"),  # no deletion from this form
    ):
        r = review.post("/revue/lot", data=form, headers=NATURALIST)
        assert r.status_code == 422, (form["action"], r.status_code)
        assert _says(r.text, words), form["action"]
    # More fields than a form may carry (the page shows 48 tiles): refused before any handler.
    r = review.post("/revue/lot", data={"action": "favourite", "ids": [str(eid)] * 250}, headers=NATURALIST)
    assert r.status_code == 400 and _says(r.text, "formulaire illisible")
    assert _state(db, eid) == before
    # A viewer may not act; a hostile return address stays on our pages.
    r = review.post("/revue/lot", data={"action": "favourite", "ids": [str(eid)]}, headers=VIEWER)
    assert r.status_code == 403 and _state(db, eid) == before
    for back in ("https://evil.example/", "//evil.example", "/revue\\@evil", "javascript:alert(1)"):
        r = review.post(
            "/revue/lot",
            data={"action": "favourite", "ids": [str(eid)], "retour": back},
            headers=NATURALIST,
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/revue?fait=revue-lot"), back
    assert _state(db, eid)[1] is True


def test_viewer_forms_refuse_bad_input(review: TestClient, db: Conn, media_dir: Path) -> None:
    make_camera(db)
    eid = make_event(db)
    before = _state(db, eid)
    url = f"/revue/evenements/{eid}"
    for path, form, status, words in (
        ("/etat", {"action": "supprimer"}, 422, "action inconnue"),
        ("/observations", {"scientific_name": "Vulpes vulpes", "count": "0"}, 422, "count"),
        ("/observations", {"scientific_name": "Vulpes vulpes", "count": "-3"}, 422, "entier de 1 à 10 000"),
        ("/observations", {"scientific_name": "Vulpes vulpes", "count": "9" * 30}, 422, "entier de 1 à"),
        ("/observations", {"scientific_name": ""}, 422, "choisissez une espèce"),
        ("/observations", {"scientific_name": "x" * 300}, 422, "scientific_name"),
        ("/observations", {"scientific_name": "Vulpes\x00vulpes"}, 422, "observation refusée"),
    ):
        r = review.post(url + path, data=form, headers=NATURALIST)
        assert r.status_code == status, (path, form, r.status_code)
        assert _says(r.text, words), (path, form)
    assert _state(db, eid) == before
    for bad in ("0", "-1", str(2**63), "abc"):
        assert review.get(f"/revue/evenements/{bad}", headers=VIEWER).status_code in (404, 422), bad
    assert review.get("/revue/evenements/999999", headers=VIEWER).status_code == 404
    r = review.post(
        "/revue/observations/999999/validation",
        data={"decision": "confirm", "evenement": str(eid)},
        headers=NATURALIST,
    )
    assert r.status_code == 404
    r = review.post(
        "/revue/observations/1/validation",
        data={"decision": "peut-être", "evenement": str(eid)},
        headers=NATURALIST,
    )
    assert r.status_code == 422 and _says(r.text, "décision inconnue")
    # "Next" after a review is a number only: a hostile one stays on this event.
    r = review.post(
        url + "/etat",
        data={"action": "vu", "suivant": "//evil.example"},
        headers=NATURALIST,
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"{url}?fait=revue-vu"


def test_statistics_count_events_per_day_the_share_reviewed_and_species(
    review: TestClient, db: Conn, media_dir: Path
) -> None:
    make_camera(db)
    now = datetime.now(UTC)
    recent = [make_event(db, start=now - timedelta(hours=1, minutes=i)) for i in range(4)]
    old = make_event(db, start=now - timedelta(days=40))  # outside the 30 days
    db.execute("UPDATE camera_events SET status = 'reviewed' WHERE id = %s", (recent[0],))
    db.execute("UPDATE camera_events SET status = 'false_positive' WHERE id = %s", (recent[1],))
    for eid, name, count, status in (
        (recent[0], "Vulpes vulpes", 2, "validated"),
        (recent[2], "Vulpes vulpes", 1, "proposed"),
        (recent[3], "Vulpes vulpes", 5, "rejected"),  # left out
        (old, "Sus scrofa", 3, "validated"),  # outside the period
    ):
        db.execute(
            "INSERT INTO observations (event_id, scientific_name, count, status, classified_by,"
            " in_species_list) VALUES (%s, %s, %s, %s, 'test', true)",
            (eid, name, count, status),
        )
    r = review.get("/revue/statistiques", headers=VIEWER)
    assert r.status_code == 200
    text = " ".join(html.unescape(r.text).split())
    plain = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    assert "4 événements" in plain and "50 % revus (2, dont 1 faux positif)" in plain
    assert "1 espèce notée" in plain
    row = re.search(r"Renard roux — <i>Vulpes vulpes</i></td> (.*?)</tr>", text)
    assert row is not None
    assert re.findall(r'<td class="num">([^<]*)</td>', row.group(1)) == ["2", "3", "1 / 2"]
    assert "Sus scrofa" not in text
    r = review.get("/revue/statistiques?periode=365j", headers=VIEWER)
    assert "<strong>5</strong> événements" in " ".join(r.text.split()) and "Sus scrofa" in r.text
    # An unknown period is the default one, not an error.
    r = review.get("/revue/statistiques?periode=<script>", headers=VIEWER)
    assert r.status_code == 200 and "<script>" not in r.text.split("<main", 1)[1]
