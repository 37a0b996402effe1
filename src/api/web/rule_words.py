"""An alert rule in French words, for the rules page: « Cumul sur 1 h ≥ 30 mm (fin sous 20 mm),
station thourotte-mairie : alerte orange »."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vigie.alert_rules import LEVEL_FR, SCOPE_ALL

KIND_FR = {
    "accumulation": "cumul de pluie",
    "intensity": "intensité de pluie",
    "return_period": "période de retour",
    "runoff": "ruissellement d'un bassin",
    "station_health": "santé d'une station",
}
SCOPE_FR = {"station": "station", "catchment": "bassin versant", "commune": "commune"}
CHECK_FR = {
    "no_data": "plus de données",
    "low_battery": "batterie faible",
    "clogging": "entonnoir bouché",
    "stuck_counter": "compteur bloqué",
    "clock_skew": "horloge décalée",
}


def duration_fr(minutes: Any) -> str:
    """'15 min', '1 h', '3 j' for a window in minutes."""
    try:
        m = int(minutes)
    except (TypeError, ValueError):
        return str(minutes)
    if m % 1440 == 0 and m > 1440:  # 24 h reads better than 1 j; 72 h as 3 j
        return f"{m // 1440} j"
    if m % 60 == 0:
        return f"{m // 60} h"
    return f"{m} min"


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace(".", ",")


def _what(kind: str, p: Mapping[str, Any]) -> str:
    raise_, clear = _num(p.get("raise")), _num(p.get("clear"))
    if kind == "accumulation":
        return f"Cumul sur {duration_fr(p.get('window_min'))} ≥ {raise_} mm (fin sous {clear} mm)"
    if kind == "intensity":
        return f"Intensité ≥ {raise_} mm/h (fin sous {clear} mm/h)"
    if kind == "return_period":
        windows = ", ".join(duration_fr(w) for w in p.get("windows", ()))
        return f"Période de retour ≥ {raise_} ans sur {windows} (fin sous {clear} ans)"
    if kind == "runoff":
        unit = "m³" if p.get("measure") == "volume_m3" else "mm"
        window = duration_fr(p.get("window_min", 1440))
        return f"Ruissellement sur {window} ≥ {raise_} {unit} (fin sous {clear} {unit})"
    if kind == "station_health":
        check = CHECK_FR.get(str(p.get("check")), str(p.get("check")))
        return f"Santé de la station : {check} (seuil {raise_}, fin à {clear})"
    return KIND_FR.get(kind, kind)


def describe_rule(rule: Mapping[str, Any], communes: Mapping[str, str]) -> str:
    """The rule in one French sentence (what, where, which level)."""
    params = rule.get("params") or {}
    kind = str(rule.get("kind"))
    what = _what(kind, params)
    for_min = params.get("for_min") or 0
    if for_min:
        what += f", pendant {duration_fr(for_min)}"
    scope_kind, scope_id = str(rule.get("scope_kind")), str(rule.get("scope_id"))
    if scope_id == SCOPE_ALL:
        where = {
            "station": "toutes les stations",
            "catchment": "tous les bassins",
            "commune": "toutes les communes",
        }[scope_kind]
    elif scope_kind == "commune":
        where = f"commune de {communes.get(scope_id, scope_id)}"
    else:
        where = f"{SCOPE_FR.get(scope_kind, scope_kind)} {scope_id}"
    level = LEVEL_FR.get(str(rule.get("level")), str(rule.get("level")))
    return f"{what} — {where} : alerte {level}."
