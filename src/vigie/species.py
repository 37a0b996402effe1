"""The species list of the naturalists' review (vigie/data/species.csv, sources in
SPECIES-SOURCE.md), and the accent- and case-blind search the species picker uses."""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

CLASSES = ("Mammalia", "Aves", "Reptilia", "Amphibia")


@dataclass(frozen=True)
class Taxon:
    """One line of the list."""

    scientific_name: str
    vernacular_name: str
    taxon_class: str
    rank: str
    taxref_cd_nom: int | None
    gbif_key: int | None


def fold(text: str) -> str:
    """Text without accents, case or extra spaces: "Écureuil  ROUX" -> "ecureuil roux"."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().replace("œ", "oe").replace("æ", "ae").split())


def _int_or_none(value: str) -> int | None:
    return int(value) if value.strip() else None


@cache
def load() -> tuple[Taxon, ...]:
    """Every taxon of the shipped list, in file order."""
    text = resources.files("vigie.data").joinpath("species.csv").read_text("utf-8")
    return tuple(
        Taxon(
            scientific_name=row["scientific_name"],
            vernacular_name=row["vernacular_name_fr"],
            taxon_class=row["class"],
            rank=row["rank"],
            taxref_cd_nom=_int_or_none(row["taxref_cd_nom"]),
            gbif_key=_int_or_none(row["gbif_key"]),
        )
        # Lines starting with "#" are the file's notes on its sources, not taxa.
        for row in csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    )


@cache
def by_name() -> dict[str, Taxon]:
    """The taxa by scientific name."""
    return {t.scientific_name: t for t in load()}


def lookup(scientific_name: str) -> Taxon | None:
    """The taxon of this scientific name (exact, as stored), or None."""
    return by_name().get(scientific_name)


@cache
def _folded() -> tuple[tuple[Taxon, str, str], ...]:
    return tuple((t, fold(t.scientific_name), fold(t.vernacular_name)) for t in load())


def search(query: str, limit: int = 20) -> list[Taxon]:
    """Taxa whose scientific or French name contains the query, accents and case ignored;
    names that start with it first, then a word that starts with it, then the rest."""
    q = fold(query)
    if not q:
        return list(load()[:limit])
    ranked: list[tuple[int, int, Taxon]] = []
    for index, (taxon, scientific, vernacular) in enumerate(_folded()):
        best = None
        for name in (scientific, vernacular):
            if name.startswith(q):
                rank = 0
            elif any(word.startswith(q) for word in name.replace("-", " ").replace("'", " ").split()):
                rank = 1
            elif q in name:
                rank = 2
            else:
                continue
            best = rank if best is None else min(best, rank)
        if best is not None:
            ranked.append((best, index, taxon))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [taxon for _, _, taxon in ranked[:limit]]


@cache
def _by_folded_name() -> dict[str, Taxon]:
    return {fold(t.scientific_name): t for t in load()}


def match(name: str) -> Taxon | None:
    """The taxon whose scientific name this is, accents, case and spaces ignored, or None."""
    return _by_folded_name().get(fold(name))
