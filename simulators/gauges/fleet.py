"""A fleet of simulated stations spread over the 16 communes of the Deux Vallées."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

import psycopg

from simulators.gauges.errors import SimulatorError
from vigie import stations
from vigie.errors import ConflictError
from vigie.stations import StationIn


@dataclass(frozen=True)
class Commune:
    """A commune of the Deux Vallées: INSEE code, name and the approximate centre of its town."""

    insee: str
    name: str
    lat: float
    lon: float


# Same codes and names as the `communes` table (tests/simulators checks them against the DB).
COMMUNES: tuple[Commune, ...] = (
    Commune("60043", "Bailly", 49.507, 2.972),
    Commune("60119", "Cambronne-lès-Ribécourt", 49.503, 2.893),
    Commune("60147", "Chevincourt", 49.505, 2.861),
    Commune("60150", "Chiry-Ourscamp", 49.543, 2.954),
    Commune("60368", "Longueil-Annel", 49.469, 2.868),
    Commune("60373", "Machemont", 49.496, 2.866),
    Commune("60378", "Marest-sur-Matz", 49.504, 2.826),
    Commune("60392", "Mélicocq", 49.487, 2.859),
    Commune("60423", "Montmacq", 49.482, 2.905),
    Commune("60492", "Pimprez", 49.522, 2.946),
    Commune("60501", "Le Plessis-Brion", 49.464, 2.898),
    Commune("60537", "Ribécourt-Dreslincourt", 49.512, 2.925),
    Commune("60582", "Saint-Léger-aux-Bois", 49.480, 2.988),
    Commune("60636", "Thourotte", 49.475, 2.882),
    Commune("60642", "Tracy-le-Val", 49.487, 3.010),
    Commune("60654", "Vandélicourt", 49.501, 2.797),
)

MAX_STATIONS = 9999


@dataclass(frozen=True)
class SimStation:
    """One simulated gauge's identity and place."""

    id: str
    name: str
    commune: Commune
    lat: float
    lon: float
    tip_mm: float
    interval_s: int


def slug(text: str) -> str:
    """ASCII, lower-case, dash-separated: 'Mélicocq' → 'melicocq'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = "".join(c if c.isalnum() else " " for c in ascii_text.lower()).split()
    return "-".join(words)


def make_fleet(
    count: int,
    *,
    seed: int = 0,
    interval_s: int = 300,
    tip_mm: float = 0.2,
    prefix: str = "",
) -> list[SimStation]:
    """`count` stations, dealt round-robin over the communes, within ~1 km of each centre.

    Ids are `<prefix><commune-slug>-NN`; the same seed always gives the same fleet.
    """
    if not 1 <= count <= MAX_STATIONS:
        raise SimulatorError(f"the fleet needs 1 to {MAX_STATIONS} stations, not {count}")
    if prefix and slug(prefix) + "-" != prefix:
        raise SimulatorError("prefix must be lower-case letters, digits and '-', ending in '-'")
    rng = random.Random(seed)
    fleet = []
    for i in range(count):
        commune = COMMUNES[i % len(COMMUNES)]
        number = i // len(COMMUNES) + 1
        sid = f"{prefix}{slug(commune.name)}-{number:02d}"
        fleet.append(
            SimStation(
                id=sid,
                name=f"Pluviomètre {commune.name} {number}",
                commune=commune,
                lat=round(commune.lat + rng.uniform(-0.009, 0.009), 5),
                lon=round(commune.lon + rng.uniform(-0.013, 0.013), 5),
                tip_mm=tip_mm,
                interval_s=interval_s,
            )
        )
    return fleet


def register(conn: psycopg.Connection[tuple[object, ...]], fleet: list[SimStation]) -> int:
    """Create the fleet's stations that are missing, through vigie.stations.add; return how many."""
    created = 0
    for st in fleet:
        try:
            stations.add(
                conn,
                StationIn(
                    id=st.id,
                    name=st.name,
                    commune_insee=st.commune.insee,
                    lat=st.lat,
                    lon=st.lon,
                    tip_mm=st.tip_mm,
                    expected_interval_s=st.interval_s,
                ),
            )
            created += 1
        except ConflictError:
            continue
    return created
