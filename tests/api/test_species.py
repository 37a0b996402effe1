"""The species list file and its accent- and case-blind search."""

from __future__ import annotations

from importlib import resources

from fastapi.testclient import TestClient

from tests.api.review_support import NATURALIST, VIEWER, media_dir, review
from vigie import species

__all__ = ["media_dir", "review"]


def test_the_list_file_is_sound() -> None:
    taxa = species.load()
    names = [t.scientific_name for t in taxa]
    assert len(taxa) >= 60
    assert len(set(names)) == len(names)
    assert {t.taxon_class for t in taxa} == set(species.CLASSES)
    for cls in species.CLASSES:
        assert sum(t.taxon_class == cls for t in taxa) >= 5, cls
    assert all(t.vernacular_name and t.rank for t in taxa)
    assert all(t.gbif_key is None or t.gbif_key > 0 for t in taxa)
    assert species.lookup("Sus scrofa") is not None and species.lookup("Sus scrofa").gbif_key == 7705930  # type: ignore[union-attr]


def test_the_cited_ids_are_read_and_every_id_is_cited() -> None:
    """The ids SPECIES-SOURCE.md cites are the file's, the source notes are not taxa, and no id is
    in the file without a line of the notes naming its taxon (a guessed id would have none)."""
    taxa = species.load()
    assert not any(t.scientific_name.startswith("#") for t in taxa)
    capreolus, fox = species.lookup("Capreolus capreolus"), species.lookup("Vulpes vulpes")
    assert capreolus is not None and capreolus.taxref_cd_nom == 61057
    assert fox is not None and fox.gbif_key == 5219243
    text = resources.files("vigie.data").joinpath("species.csv").read_text("utf-8")
    notes = " ".join(line for line in text.splitlines() if line.startswith("#"))
    for t in taxa:
        if t.taxref_cd_nom is not None or t.gbif_key is not None:
            assert t.scientific_name in notes, t.scientific_name


def test_search_ignores_accents_and_case(review: TestClient) -> None:
    def names(q: str) -> list[str]:
        r = review.get("/api/v1/species", params={"q": q}, headers=VIEWER)
        assert r.status_code == 200
        return [t["scientific_name"] for t in r.json()]

    assert names("chevreuil")[0] == "Capreolus capreolus"
    assert names("Capreolus")[0] == "Capreolus capreolus"
    assert names("CHEVREUIL") == names("chevreuil")
    assert names("ecureuil") == ["Sciurus vulgaris"] == names("Écureuil")
    assert names("herisson") == ["Erinaceus europaeus"]
    assert "Bufo bufo" in names("crapaud")
    assert names("zzzz") == []
    # Names that start with the query come first.
    assert names("pic")[0] in {"Picus viridis", "Pica pica", "Dendrocopos major"}
    assert len(review.get("/api/v1/species", params={"limit": 200}, headers=NATURALIST).json()) == len(
        species.load()
    )


def test_hostile_queries(review: TestClient) -> None:
    for q in ("<script>", "'; DROP TABLE users; --", "%", "\x00"):
        r = review.get("/api/v1/species", params={"q": q}, headers=VIEWER)
        assert r.status_code == 200 and r.json() == [], q
    assert review.get("/api/v1/species", params={"q": "x" * 101}, headers=VIEWER).status_code == 422
    assert review.get("/api/v1/species", params={"limit": 0}, headers=VIEWER).status_code == 422
    assert review.get("/api/v1/species").status_code == 401
