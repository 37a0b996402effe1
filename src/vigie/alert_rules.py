"""Alert rule definitions shared by the API and the engine: one pydantic params model per kind.

A rule that cannot fire is refused here with a reason in French (clear threshold on the wrong
side of the raise threshold, unknown window, return period outside the Montana table, a kind
on a scope it cannot watch). Whether the scope exists is checked by the caller against the DB.
Pure: no database, no I/O.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vigie.errors import ValidationFailed

Level = Literal["yellow", "orange", "red"]
Audience = Literal["public", "technicians"]
ScopeKind = Literal["station", "catchment", "commune"]
Kind = Literal["accumulation", "intensity", "return_period", "runoff", "station_health"]

LEVELS: tuple[str, ...] = ("yellow", "orange", "red")
LEVEL_FR = {"yellow": "jaune", "orange": "orange", "red": "rouge"}
# Rolling windows the engine maintains (minutes): 15 min … 72 h.
WINDOWS_MIN: tuple[int, ...] = (15, 30, 60, 120, 180, 360, 720, 1440, 4320)
# Windows with Montana bands in the shipped table (APIC: 1, 2, 3, 6, 12, 24 h; plus 15/30 min).
RETURN_PERIOD_WINDOWS_MIN: tuple[int, ...] = (15, 30, 60, 120, 180, 360, 720, 1440)
RETURN_PERIODS_Y: tuple[int, ...] = (5, 10, 20, 30, 50, 100)
HEALTH_CHECKS: tuple[str, ...] = (
    "no_data",
    "low_battery",
    "clogging",
    "stuck_counter",
    "clock_skew",
)
SCOPE_ALL = "*"

Threshold = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class RuleParams(BaseModel):
    """Common to every kind: raise and clear thresholds (hysteresis) and a 'for' duration."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # Which way the value must move to raise; 'below' is for battery voltage.
    direction: ClassVar[Literal["above", "below"]] = "above"
    audience_default: ClassVar[str] = "public"
    scope_kinds: ClassVar[frozenset[str]] = frozenset({"station", "catchment", "commune"})
    unit: ClassVar[str] = "mm"

    raise_: Threshold = Field(alias="raise")
    clear: Threshold
    for_min: int = Field(default=0, ge=0, le=1440)

    def is_below(self) -> bool:
        """True when the rule raises on low values (e.g. battery)."""
        return self.direction == "below"

    @model_validator(mode="after")
    def _hysteresis(self) -> RuleParams:
        if self.is_below():
            if self.clear <= self.raise_:
                raise ValueError(
                    f"le seuil de fin ({self.clear}) doit être au-dessus du seuil de "
                    f"déclenchement ({self.raise_}) pour une alerte sur valeur basse"
                )
        else:
            if self.raise_ <= 0:
                raise ValueError("le seuil de déclenchement doit être strictement positif")
            if self.clear >= self.raise_:
                raise ValueError(
                    f"le seuil de fin ({self.clear}) doit être strictement sous le seuil de "
                    f"déclenchement ({self.raise_}), sinon l'alerte clignote"
                )
        return self

    def group_part(self) -> str:
        """What besides the kind makes rules one incident group (window, check, measure)."""
        return ""


def _check_window(window: int, allowed: tuple[int, ...]) -> int:
    if window not in allowed:
        raise ValueError(
            f"fenêtre de {window} min inconnue ; fenêtres possibles : "
            + ", ".join(str(w) for w in allowed)
        )
    return window


class AccumulationParams(RuleParams):
    """Rain depth (mm) over one rolling window."""

    window_min: int

    @model_validator(mode="after")
    def _window(self) -> AccumulationParams:
        _check_window(self.window_min, WINDOWS_MIN)
        return self

    def group_part(self) -> str:
        return str(self.window_min)


class IntensityParams(RuleParams):
    """Rain rate (mm/h) estimated from the time between tips over at least min_span_min."""

    unit: ClassVar[str] = "mm/h"
    raise_: Threshold = Field(alias="raise", le=2000)
    min_span_min: int = Field(default=5, ge=5, le=60)
    lookback_min: int = Field(default=60, ge=5, le=360)

    @model_validator(mode="after")
    def _span(self) -> IntensityParams:
        if self.lookback_min < self.min_span_min:
            raise ValueError("lookback_min doit être au moins égal à min_span_min")
        return self


class ReturnPeriodParams(RuleParams):
    """Largest return period (years) over the windows, from Montana coefficients (APIC-like)."""

    unit: ClassVar[str] = "ans"
    windows: tuple[int, ...] = (60, 120, 180, 360, 720, 1440)
    montana_set: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _table(self) -> ReturnPeriodParams:
        if not self.windows:
            raise ValueError("au moins une fenêtre est nécessaire")
        for w in self.windows:
            _check_window(w, RETURN_PERIOD_WINDOWS_MIN)
        lo, hi = RETURN_PERIODS_Y[0], RETURN_PERIODS_Y[-1]
        if not lo <= self.raise_ <= hi:
            raise ValueError(
                f"période de retour {self.raise_:g} ans hors de la table Montana"
                f" ({lo} à {hi} ans) : la règle ne pourrait jamais se déclencher de façon fiable"
            )
        return self


class RunoffParams(RuleParams):
    """SCS-CN runoff of a catchment: depth Q (mm) or volume (m³) over the rain window."""

    scope_kinds: ClassVar[frozenset[str]] = frozenset({"catchment"})
    measure: Literal["q_mm", "volume_m3"] = "q_mm"
    window_min: int = 1440
    ia_ratio: float = Field(default=0.2, ge=0.01, le=0.5)

    @model_validator(mode="after")
    def _window(self) -> RunoffParams:
        _check_window(self.window_min, WINDOWS_MIN)
        return self

    def group_part(self) -> str:
        return f"{self.measure}:{self.window_min}"


class StationHealthParams(RuleParams):
    """Technical checks of one gauge; these go to technicians, never to the public."""

    audience_default: ClassVar[str] = "technicians"
    scope_kinds: ClassVar[frozenset[str]] = frozenset({"station"})
    unit: ClassVar[str] = ""
    check: Literal["no_data", "low_battery", "clogging", "stuck_counter", "clock_skew"]
    radius_km: float = Field(default=5.0, gt=0, le=100)
    window_min: int = 60

    def is_below(self) -> bool:
        """Low battery raises on a low voltage."""
        return self.check == "low_battery"

    @model_validator(mode="after")
    def _check(self) -> StationHealthParams:
        _check_window(self.window_min, WINDOWS_MIN)
        if self.check == "low_battery" and self.raise_ > 20:
            raise ValueError("seuil de batterie au-delà de 20 V : jamais atteint")
        if self.check == "no_data" and self.raise_ < 1:
            raise ValueError(
                "no_data : le seuil est un multiple de l'intervalle attendu"
                " et doit valoir au moins 1"
            )
        return self

    def group_part(self) -> str:
        return self.check


PARAMS_BY_KIND: dict[str, type[RuleParams]] = {
    "accumulation": AccumulationParams,
    "intensity": IntensityParams,
    "return_period": ReturnPeriodParams,
    "runoff": RunoffParams,
    "station_health": StationHealthParams,
}


class RuleIn(BaseModel):
    """A rule as written by an administrator (API) or seeded; params are checked per kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    kind: Kind
    scope_kind: ScopeKind
    scope_id: str = Field(min_length=1, max_length=64, pattern=r"^(\*|[a-z0-9][a-z0-9-]{1,62})$")
    level: Level
    params: dict[str, Any]
    audience: Audience | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _kind_params(self) -> RuleIn:
        model = PARAMS_BY_KIND[self.kind]
        if self.scope_kind not in model.scope_kinds:
            allowed = ", ".join(sorted(model.scope_kinds))
            raise ValueError(
                f"une règle '{self.kind}' ne peut pas porter sur un(e) {self.scope_kind} "
                f"(portées possibles : {allowed})"
            )
        is_insee = self.scope_id.isdigit()
        if self.scope_kind == "commune" and self.scope_id != SCOPE_ALL and not is_insee:
            raise ValueError("une commune se désigne par son code INSEE (ex. 60636) ou '*'")
        parse_params(self.kind, self.params)
        return self

    def typed_params(self) -> RuleParams:
        """The params as their kind's model."""
        return parse_params(self.kind, self.params)

    def normalized_params(self) -> dict[str, Any]:
        """The params with defaults filled in, as they should be stored (JSON-ready)."""
        return self.typed_params().model_dump(mode="json", by_alias=True)

    def effective_audience(self) -> str:
        """The audience given, or the kind's default (technicians for station health)."""
        return self.audience or PARAMS_BY_KIND[self.kind].audience_default


def parse_params(kind: str, params: dict[str, Any]) -> RuleParams:
    """Validate params for kind; raise ValueError with a French reason when it cannot fire."""
    model = PARAMS_BY_KIND.get(kind)
    if model is None:
        raise ValueError(f"type de règle inconnu : {kind!r}")
    if not isinstance(params, dict):
        raise ValueError("params doit être un objet JSON")
    return model.model_validate(params)


def group_key(kind: str, params: RuleParams) -> str:
    """Rules sharing this key on one scope form ONE incident whose level moves."""
    part = params.group_part()
    return f"{kind}:{part}" if part else kind


def validate_rule(data: dict[str, Any]) -> RuleIn:
    """Parse a rule; ValidationFailed with every reason joined, for the API and the CLI."""
    try:
        return RuleIn.model_validate(data)
    except ValidationError as exc:
        reasons = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err.get("loc", ()))
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            reasons.append(f"{where}: {msg}" if where else msg)
        raise ValidationFailed("règle refusée : " + " ; ".join(reasons)) from exc
