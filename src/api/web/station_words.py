"""The technicians' pages in words: a gauge's status, the maintenance reasons, the quality
flags, and the rain classes that colour the map (each class also has its words, so colour is
never the only signal)."""

from __future__ import annotations

from vigie.device_health import Health

STATUS_WORDS: dict[str, str] = {
    Health.ONLINE.value: "en ligne",
    Health.LATE.value: "en retard",
    Health.OFFLINE.value: "hors ligne",
    Health.LOW_BATTERY.value: "batterie faible",
}
# The badge of each status (vigie.css): online is green, late and low battery amber, offline grey.
STATUS_BADGE: dict[str, str] = {
    Health.ONLINE.value: "ok",
    Health.LATE.value: "neutral",
    Health.OFFLINE.value: "off",
    Health.LOW_BATTERY.value: "neutral",
}
REASON_WORDS: dict[str, str] = {
    "offline": "Hors ligne",
    "late": "En retard",
    "low_battery": "Batterie faible",
    "double_tips": "Doubles basculements",
    "clogged_funnel": "Entonnoir bouché ?",
    "dead_letters": "Messages refusés",
}
FLAG_WORDS: dict[str, str] = {
    "double_tip": "double basculement",
    "counter_reset": "compteur remis à zéro",
    "clock_skew": "horloge en avance",
    "out_of_order": "arrivé dans le désordre",
    "counter_baseline": "premier relevé du compteur",
}

# Upper bounds (mm, exclusive) of the rain classes 1 to 3; class 4 is above, class 0 is no rain.
BOUNDS_1H: tuple[float, ...] = (2.0, 5.0, 10.0)
BOUNDS_24H: tuple[float, ...] = (5.0, 20.0, 50.0)
CLASS_WORDS: tuple[str, ...] = ("sèche", "faible", "modérée", "forte", "très forte")


def rain_class(mm: float | None, bounds: tuple[float, ...]) -> int:
    """0 when no rain (or no reading), else 1 + how many bounds mm reaches."""
    if mm is None or mm <= 0:
        return 0
    return 1 + sum(1 for b in bounds if mm >= b)


def status_word(status: str) -> str:
    return STATUS_WORDS.get(status, status)


def reason_word(reason: str) -> str:
    return REASON_WORDS.get(reason, reason)


def flag_word(flag: str) -> str:
    return FLAG_WORDS.get(flag, flag)
