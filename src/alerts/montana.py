"""Montana intensity-duration-frequency coefficients: h(t) = a·t^(1-b), h in mm, t in minutes.

Coefficients come per return period (years) and per duration band. EXAMPLE_SET below is a
clearly labelled EXAMPLE, shaped like northern-France curves but NOT official Météo-France values;
the migration seeds the same numbers as montana_sets 'exemple-nord'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerts.engine_errors import AlertsConfigError


@dataclass(frozen=True)
class MontanaBand:
    """Coefficients valid for durations in [min_duration_min, max_duration_min]."""

    min_duration_min: float
    max_duration_min: float
    # return period (years) -> (a, b)
    coefficients: Mapping[float, tuple[float, float]]

    def covers(self, duration_min: float) -> bool:
        """True when duration_min lies inside this band (ends included)."""
        return self.min_duration_min <= duration_min <= self.max_duration_min


@dataclass(frozen=True)
class MontanaSet:
    """A named set of bands; the band that covers a duration gives its coefficients."""

    id: str
    label: str
    is_example: bool
    bands: tuple[MontanaBand, ...]

    def band_for(self, duration_min: float) -> MontanaBand | None:
        """The first band covering duration_min, or None outside every band."""
        for band in self.bands:
            if band.covers(duration_min):
                return band
        return None


def parse_set(set_id: str, label: str, is_example: bool, data: Any) -> MontanaSet:
    """Build a MontanaSet from its JSON form; AlertsConfigError with the reason if malformed."""
    try:
        bands = []
        for raw in data["bands"]:
            coeffs: dict[float, tuple[float, float]] = {}
            for period, ab in raw["coefficients"].items():
                a, b = float(ab["a"]), float(ab["b"])
                if not (a > 0 and 0 < b < 1):
                    raise ValueError(f"a > 0 et 0 < b < 1 attendus (T={period}: a={a}, b={b})")
                coeffs[float(period)] = (a, b)
            if len(coeffs) < 2:
                raise ValueError("au moins deux périodes de retour par bande")
            lo, hi = float(raw["min_duration_min"]), float(raw["max_duration_min"])
            if not 0 < lo < hi:
                raise ValueError(f"bande de durée invalide {lo}-{hi} min")
            bands.append(MontanaBand(lo, hi, dict(sorted(coeffs.items()))))
    except (KeyError, TypeError, ValueError) as exc:
        raise AlertsConfigError(f"coefficients de Montana '{set_id}' invalides : {exc}") from exc
    if not bands:
        raise AlertsConfigError(f"coefficients de Montana '{set_id}' : aucune bande")
    return MontanaSet(set_id, label, is_example, tuple(bands))


EXAMPLE_JSON: dict[str, Any] = {
    "bands": [
        {"min_duration_min": 6, "max_duration_min": 60, "coefficients": {
            "5": {"a": 4.195, "b": 0.574}, "10": {"a": 5.039, "b": 0.564},
            "20": {"a": 5.885, "b": 0.558}, "30": {"a": 6.185, "b": 0.544},
            "50": {"a": 7.156, "b": 0.551}, "100": {"a": 7.884, "b": 0.539}}},
        {"min_duration_min": 60, "max_duration_min": 1440, "coefficients": {
            "5": {"a": 9.826, "b": 0.782}, "10": {"a": 13.122, "b": 0.798},
            "20": {"a": 16.488, "b": 0.809}, "30": {"a": 19.099, "b": 0.819},
            "50": {"a": 22.154, "b": 0.827}, "100": {"a": 26.403, "b": 0.834}}},
    ]
}

# EXAMPLE ONLY — illustrative, not official. Derived from round depths (e.g. 10 years: 11 mm in
# 6 min, 30 mm in 1 h, 57 mm in 24 h) so that curves are monotonic in the return period.
EXAMPLE_SET = parse_set(
    "exemple-nord",
    "EXEMPLE — coefficients illustratifs, non officiels (ne pas utiliser pour décider)",
    True,
    EXAMPLE_JSON,
)
