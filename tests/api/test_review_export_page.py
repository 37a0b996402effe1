"""The Camtrap DP export page (/revue/export): its counts are what the download holds, its
download link carries the chosen range, deployments and media, and its inputs when malformed,
oversized, out of range or hostile get a French sentence, never a 500. The browser flow
(download and validate) is in tests/web/test_review_export_page.py."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from tests.api.review_support import NATURALIST, T0, VIEWER, Conn, media_dir, review
from tests.api.test_camtrap_export import rows, seed, unpack
from tests.camtrap_check import profile_errors, table_errors

__all__ = ["media_dir", "review"]
PAGE = "/revue/export"


def _figures(text: str) -> list[str]:
    section = text.split('id="apercu"', 1)[1].split("</ul>", 1)[0]
    return [html.unescape(v).replace("\u202f", "") for v in re.findall(r"<strong>([^<]*)</strong>", section)]


def _link(text: str) -> str:
    match = re.search(r'id="telecharger" href="([^"]*)"', text)
    assert match is not None
    return html.unescape(match.group(1))


def test_the_counts_are_the_downloads_and_it_validates(
    review: TestClient, db: Conn, media_dir: Path, tmp_path: Path
) -> None:
    s = seed(review, db, media_dir)
    day = T0.date().isoformat()
    choice = {"voir": "1", "du": day, "au": day, "deploiement": str(s["dep"])}
    r = review.get(PAGE, params=choice, headers=NATURALIST)
    assert r.status_code == 200, r.text
    # One deployment; two clips (roe, fox: the false positive and the clip-less event are not
    # media); three observations (the consensus: roe, fox, heron).
    assert _figures(r.text) == ["1", "2", "3"]
    link = _link(r.text)
    query = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == "/api/v1/camtrap-dp.zip"
    assert query["deployment"] == [str(s["dep"])] and query["media"] == ["url"]
    # Paris days: 28 November 00:00 to 29 November 00:00, local time.
    assert query["start"] == ["2026-11-27T23:00:00+00:00"] and query["end"] == ["2026-11-28T23:00:00+00:00"]
    got = review.get(link, headers=NATURALIST)
    assert got.status_code == 200
    folder = unpack(got.content, tmp_path / "pkg")
    assert profile_errors(json.loads((folder / "datapackage.json").read_text())) == []
    assert table_errors(folder) == []
    assert [len(rows(folder, n)) for n in ("deployments", "media", "observations")] == [1, 2, 3]

    # Clips included: the link asks for files, and the zip holds them.
    r = review.get(PAGE, params={"voir": "1", "medias": "fichiers"}, headers=NATURALIST)
    files = review.get(_link(r.text), headers=NATURALIST)
    assert parse_qs(urlsplit(_link(r.text)).query)["media"] == ["files"]
    names = unpack(files.content, tmp_path / "files").joinpath("media")
    assert sorted(p.name for p in names.iterdir()) == [f"media-{s['roe']}.mp4", f"media-{s['fox']}.mp4"]

    # A range with no event still counts the deployment, and says so.
    later = (T0 + timedelta(days=3)).date().isoformat()
    r = review.get(PAGE, params={"voir": "1", "du": later, "au": later}, headers=NATURALIST)
    assert r.status_code == 200 and _figures(r.text) == ["1", "0", "0"]
    assert "aucun clip retenu" in html.unescape(r.text)


def test_the_form_lists_the_deployments_and_the_links_lead_to_it(
    review: TestClient, db: Conn, media_dir: Path
) -> None:
    s = seed(review, db, media_dir)
    r = review.get(PAGE, headers=NATURALIST)
    assert r.status_code == 200
    assert f'name="deploiement" value="{s["dep"]}"' in r.text and "Étang nord" in html.unescape(r.text)
    assert 'id="apercu"' not in r.text  # nothing counted before it is asked
    for page in ("/revue", "/revue/statistiques"):
        assert 'href="/revue/export"' in review.get(page, headers=NATURALIST).text
        # An elected official reads the gallery but does not export: no link, and no page.
        assert 'href="/revue/export"' not in review.get(page, headers=VIEWER).text
    assert review.get(PAGE, headers=VIEWER).status_code == 403


def test_bad_choices_are_refused_in_french(review: TestClient, db: Conn, media_dir: Path) -> None:
    seed(review, db, media_dir)
    too_many = "&".join(f"deploiement={i}" for i in range(1, 52))
    for query, words in (
        ("du=2026-13-01", "n'existe pas"),
        ("du=01/12/2026", "AAAA-MM-JJ"),
        ("du=2026-12-02&au=2026-12-01", "même jour que « du » ou après"),
        ("du=1999-12-31", "entre les années 2000 et 2099"),
        ("au=2100-01-01", "entre les années 2000 et 2099"),
        ("deploiement=abc", "déploiement invalide"),
        ("deploiement=99999999999999999999", "déploiement invalide"),
        ("deploiement=0", "déploiement invalide"),
        ("deploiement=4242", "déploiement inconnu : 4242"),
        (too_many, "au plus 50 déploiements"),
        ("du=2001-01-01&au=2001-01-02", "aucun déploiement ne couvre cette période"),
    ):
        r = review.get(f"{PAGE}?voir=1&{query}", headers=NATURALIST)
        assert r.status_code == 422, (query, r.status_code)
        assert words.lower() in html.unescape(r.text).lower(), query
        assert 'role="alert"' in r.text and 'id="telecharger"' not in r.text
    # Oversized and unknown values are cut or ignored, never a 500; hostile text is escaped.
    hostile = "<script>alert(1)</script>"
    r = review.get(PAGE, params={"voir": "1", "du": "2" * 5000, "medias": hostile}, headers=NATURALIST)
    assert r.status_code == 422 and hostile not in r.text
    r = review.get(PAGE, params={"voir": "1", "deploiement": hostile}, headers=NATURALIST)
    assert r.status_code == 422 and hostile not in r.text
    # The page still works beside them.
    assert review.get(f"{PAGE}?voir=1", headers=NATURALIST).status_code == 200
