"""The table of rule kinds: each kind names its params model, its evaluator and its audience.

An evaluator turns a Snapshot and a scope into one Measurement (a value compared with the rule's
raise/clear thresholds, plus the inputs that explain it). Adding a kind is adding a row.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alerts.hydrology import (
    amc_from_antecedent_mm,
    areal_mean_mm,
    cn_for_amc,
    return_period_from_points,
    runoff_volume_m3,
    scs_runoff_mm,
    tip_intensity_mm_h,
)
from alerts.snapshot import Snapshot
from vigie.alert_rules import (
    PARAMS_BY_KIND,
    AccumulationParams,
    IntensityParams,
    ReturnPeriodParams,
    RuleParams,
    RunoffParams,
    StationHealthParams,
)


@dataclass(frozen=True)
class Scope:
    """A concrete place a rule watches: one station, one commune or one catchment."""

    kind: str
    id: str
    stations: tuple[str, ...]
    communes: tuple[str, ...]
    catchment_id: str | None
    label: str


@dataclass(frozen=True)
class Measurement:
    """What a rule measured at a scope and why; value None means 'nothing to judge'."""

    value: float | None
    window_min: int | None = None
    station_id: str | None = None
    summary: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Needs:
    """Which parts of a Snapshot a rule needs."""

    long_windows: bool = False
    antecedent_window: int | None = None
    intensity_lookback_min: int = 0
    intensity_span_min: int = 0  # the intensity rule's min_span_min (alerts.snapshot._RECENT_SQL)
    stuck: bool = False
    neighbours_km: float = 0.0
    neighbours_window: int = 0
    status: bool = False
    rain: bool = True  # False: the check reads device_status only (battery, silence, clock)
    every_sweep: bool = False  # judged at every station on each sweep (silence needs no data)


def fr_number(x: float, digits: int = 1) -> str:
    """12.34 -> '12,3' (French decimal comma)."""
    return f"{x:.{digits}f}".replace(".", ",")


def window_fr(minutes: int) -> str:
    """60 -> '1 h', 15 -> '15 min'."""
    return f"{minutes // 60} h" if minutes >= 60 and minutes % 60 == 0 else f"{minutes} min"


def _worst(
    snap: Snapshot, scope: Scope, per_station: Callable[[str], Measurement]
) -> Measurement:
    """The scope's value is its worst gauge (largest value): a storm cell hits one gauge."""
    best: Measurement | None = None
    for sid in scope.stations:
        if sid not in snap.directory.stations:
            continue
        m = per_station(sid)
        if m.value is not None and (best is None or best.value is None or m.value > best.value):
            best = m
    return best or Measurement(None, summary="aucune donnée")


def _accumulation(snap: Snapshot, p: RuleParams, scope: Scope) -> Measurement:
    assert isinstance(p, AccumulationParams)

    def one(sid: str) -> Measurement:
        mm = snap.depth(sid, p.window_min)
        return Measurement(
            mm, p.window_min, sid, f"{fr_number(mm)} mm en {window_fr(p.window_min)}",
            {"mm": round(mm, 2)},
        )

    return _worst(snap, scope, one)


def _intensity(snap: Snapshot, p: RuleParams, scope: Scope) -> Measurement:
    assert isinstance(p, IntensityParams)

    def one(sid: str) -> Measurement:
        tip = snap.directory.stations[sid].tip_mm
        rate = tip_intensity_mm_h(
            snap.recent.get(sid, []), snap.now, tip, p.min_span_min, p.lookback_min
        )
        return Measurement(
            rate, None, sid, f"intensité {fr_number(rate)} mm/h", {"mm_h": round(rate, 2)}
        )

    return _worst(snap, scope, one)


def _return_period(snap: Snapshot, p: RuleParams, scope: Scope) -> Measurement:
    assert isinstance(p, ReturnPeriodParams)

    def one(sid: str) -> Measurement:
        montana = snap.directory.montana_for(sid, scope.catchment_id)
        best_t, best_w, best_mm = 0.0, p.windows[0], 0.0
        for w in p.windows:
            mm = snap.depth(sid, w)
            if mm <= 0:
                continue
            points = snap.directory.return_period_points(montana, w)
            years = return_period_from_points(mm, points) or 0.0
            if years > best_t:
                best_t, best_w, best_mm = years, w, mm
        text = (
            f"période de retour ≈ {best_t:.0f} ans ({fr_number(best_mm)} mm en {window_fr(best_w)})"
            if best_t else "période de retour < 5 ans"
        )
        return Measurement(
            best_t, best_w, sid, text,
            {"years": round(best_t, 1), "mm": round(best_mm, 2), "montana_set": montana.id,
             "montana_example": montana.is_example},
        )

    return _worst(snap, scope, one)


def _runoff(snap: Snapshot, p: RuleParams, scope: Scope) -> Measurement:
    assert isinstance(p, RunoffParams)
    cat = snap.directory.catchments.get(scope.catchment_id or "")
    if cat is None or not cat.weights:
        return Measurement(None, p.window_min, summary="bassin sans pluviomètre")
    depths: dict[str, float | None] = {
        sid: snap.depth(sid, p.window_min) for sid in cat.weights if sid in snap.windows
    }
    p_mm = areal_mean_mm(depths, cat.weights)
    if p_mm is None:
        # No rain stored at any gauge of the catchment in the window: nothing ran off.
        p_mm = 0.0
    ante = areal_mean_mm(
        {sid: snap.antecedent.get(sid, {}).get(p.window_min, 0.0) for sid in cat.weights},
        cat.weights,
    ) or 0.0
    amc = amc_from_antecedent_mm(ante, snap.growing_season)
    cn = cn_for_amc(cat.cn2, amc)
    q = scs_runoff_mm(p_mm, cn, p.ia_ratio)
    vol = runoff_volume_m3(q, cat.area_km2)
    value = q if p.measure == "q_mm" else vol
    vol_text = f"{vol:,.0f}".replace(",", "\u202f")
    summary = (
        f"ruissellement {fr_number(q)} mm ({vol_text} m³) pour {fr_number(p_mm)} mm de pluie "
        f"en {window_fr(p.window_min)} (CA{'I' * amc}, CN {fr_number(cn, 0)})"
    )
    return Measurement(
        value, p.window_min, None, summary,
        {"areal_mm": round(p_mm, 2), "antecedent_5d_mm": round(ante, 2), "amc": amc,
         "cn": round(cn, 1), "q_mm": round(q, 2), "volume_m3": round(vol), "area_km2": cat.area_km2},
    )


# ---- station health: its own small table of checks -------------------------------------------


@dataclass(frozen=True)
class HealthCheck:
    """One technical check of a gauge."""

    name: str
    label_fr: str
    measure: Callable[[Snapshot, StationHealthParams, str], Measurement]


def _no_data(snap: Snapshot, p: StationHealthParams, sid: str) -> Measurement:
    meta = snap.directory.stations[sid]
    st = snap.status.get(sid)
    last = (st.last_ts if st and st.last_ts else None) or meta.created_at
    silence_s = max(0.0, (snap.now - last).total_seconds())
    ratio = silence_s / meta.interval_s
    return Measurement(
        ratio, None, sid,
        f"aucune donnée depuis {silence_s / 60:.0f} min (intervalle attendu "
        f"{meta.interval_s // 60} min)",
        {"silence_s": round(silence_s), "expected_interval_s": meta.interval_s},
    )


def _low_battery(snap: Snapshot, p: StationHealthParams, sid: str) -> Measurement:
    st = snap.status.get(sid)
    if st is None or st.battery_v is None:
        return Measurement(None, None, sid, "tension batterie inconnue")
    return Measurement(
        st.battery_v, None, sid, f"batterie {fr_number(st.battery_v, 2)} V",
        {"battery_v": st.battery_v},
    )


def _clogging(snap: Snapshot, p: StationHealthParams, sid: str) -> Measurement:
    mine = snap.depth(sid, p.window_min)
    reported = snap.counts.get(sid, {}).get(p.window_min, 0)
    neighbours = [
        n for n in snap.directory.neighbours(sid, p.radius_km)
        if snap.counts.get(n, {}).get(p.window_min, 0) > 0
    ]
    if not neighbours or reported == 0:
        # Silence is the no_data check's business; without neighbours there is no comparison.
        return Measurement(0.0, p.window_min, sid, "pas de comparaison possible")
    others = statistics.median(snap.depth(n, p.window_min) for n in neighbours)
    value = others if mine == 0 else 0.0
    return Measurement(
        value, p.window_min, sid,
        f"{fr_number(mine)} mm ici contre {fr_number(others)} mm (médiane de {len(neighbours)} "
        f"voisins à moins de {fr_number(p.radius_km, 0)} km) en {window_fr(p.window_min)}",
        {"mm": mine, "neighbours_median_mm": round(others, 2), "neighbours": len(neighbours)},
    )


def _stuck_counter(snap: Snapshot, p: StationHealthParams, sid: str) -> Measurement:
    tips = snap.last_tips.get(sid, [])
    run = 0
    if tips and tips[0]:
        for t in tips:
            if t != tips[0]:
                break
            run += 1
    return Measurement(
        float(run), None, sid,
        f"{run} relevés identiques de suite ({tips[0] if tips else 0} basculements)",
        {"identical_readings": run},
    )


def _clock_skew(snap: Snapshot, p: StationHealthParams, sid: str) -> Measurement:
    st = snap.status.get(sid)
    if st is None or st.clock_offset_s is None:
        return Measurement(None, None, sid, "décalage d'horloge inconnu")
    off = abs(st.clock_offset_s)
    return Measurement(
        off, None, sid, f"horloge décalée de {off:.0f} s", {"clock_offset_s": st.clock_offset_s}
    )


HEALTH_CHECKS: dict[str, HealthCheck] = {
    c.name: c
    for c in (
        HealthCheck("no_data", "Station muette", _no_data),
        HealthCheck("low_battery", "Batterie faible", _low_battery),
        HealthCheck("clogging", "Colmatage suspecté", _clogging),
        HealthCheck("stuck_counter", "Compteur bloqué", _stuck_counter),
        HealthCheck("clock_skew", "Horloge décalée", _clock_skew),
    )
}


def _station_health(snap: Snapshot, p: RuleParams, scope: Scope) -> Measurement:
    assert isinstance(p, StationHealthParams)
    check = HEALTH_CHECKS[p.check]
    sid = scope.stations[0] if scope.stations else ""
    if sid not in snap.directory.stations:
        return Measurement(None, summary="station inconnue ou retirée")
    return check.measure(snap, p, sid)


# ---- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleKind:
    """One kind of rule: how to read its params, what it needs, how to evaluate it."""

    name: str
    label_fr: str
    params: type[RuleParams]
    evaluate: Callable[[Snapshot, RuleParams, Scope], Measurement]
    needs: Callable[[RuleParams], Needs]
    audience: str

    def title(self, p: RuleParams) -> str:
        """French incident title prefix, e.g. 'Cumul de pluie 1 h'."""
        if isinstance(p, AccumulationParams):
            return f"{self.label_fr} {window_fr(p.window_min)}"
        if isinstance(p, StationHealthParams):
            return HEALTH_CHECKS[p.check].label_fr
        if isinstance(p, RunoffParams):
            return f"{self.label_fr} {window_fr(p.window_min)}"
        return self.label_fr


def _acc_needs(p: RuleParams) -> Needs:
    assert isinstance(p, AccumulationParams)
    return Needs(long_windows=p.window_min > 1440)


def _int_needs(p: RuleParams) -> Needs:
    assert isinstance(p, IntensityParams)
    return Needs(intensity_lookback_min=p.lookback_min, intensity_span_min=p.min_span_min)


def _runoff_needs(p: RuleParams) -> Needs:
    assert isinstance(p, RunoffParams)
    return Needs(long_windows=p.window_min > 1440, antecedent_window=p.window_min)


def _health_needs(p: RuleParams) -> Needs:
    assert isinstance(p, StationHealthParams)
    return Needs(
        status=True,
        rain=p.check in ("clogging", "stuck_counter"),
        every_sweep=p.check == "no_data",
        stuck=p.check == "stuck_counter",
        neighbours_km=p.radius_km if p.check == "clogging" else 0.0,
        neighbours_window=p.window_min,
        long_windows=p.window_min > 1440 and p.check == "clogging",
    )


KINDS: dict[str, RuleKind] = {
    k.name: k
    for k in (
        RuleKind("accumulation", "Cumul de pluie", PARAMS_BY_KIND["accumulation"],
                 _accumulation, _acc_needs, "public"),
        RuleKind("intensity", "Intensité de pluie", PARAMS_BY_KIND["intensity"],
                 _intensity, _int_needs, "public"),
        RuleKind("return_period", "Pluie intense (période de retour)",
                 PARAMS_BY_KIND["return_period"], _return_period, lambda _p: Needs(), "public"),
        RuleKind("runoff", "Ruissellement", PARAMS_BY_KIND["runoff"],
                 _runoff, _runoff_needs, "public"),
        RuleKind("station_health", "État de la station", PARAMS_BY_KIND["station_health"],
                 _station_health, _health_needs, "technicians"),
    )
}
