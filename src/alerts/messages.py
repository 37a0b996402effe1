"""The French texts of the notifier: SMS (one GSM-7 segment when possible), e-mail, test sends.

Pure functions over small frozen dataclasses: no database, no I/O, so every wording is tested
directly. Times are shown in Europe/Paris; the link goes to the incident's page in the web app.
Every alert carries what to do (the commune's consigne, vigie.instructions); an exercise starts
with EXERCICE on every channel; a resident's messages end with how to unsubscribe.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from vigie import urls
from vigie.instructions import DEFAULTS, Instruction, key_for

PARIS = ZoneInfo("Europe/Paris")
SMS_SEGMENT = 160  # GSM-7 characters in one SMS
UCS2_SEGMENT = 70  # characters in one SMS once a single non-GSM-7 character forces UCS-2

LEVEL_FR = {"yellow": "jaune", "orange": "orange", "red": "rouge"}
_RANK = {"yellow": 1, "orange": 2, "red": 3}

# GSM 03.38 basic set (1 septet each) and its extension table (escape + 1 septet = 2).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

# French letters and typography outside GSM-7, with the nearest GSM-7 spelling.
_TRANSLIT = {
    "â": "a",
    "ê": "e",
    "î": "i",
    "ô": "o",
    "û": "u",
    "ë": "e",
    "ï": "i",
    "ÿ": "y",
    "ç": "c",
    "œ": "oe",
    "Œ": "OE",
    "À": "A",
    "Â": "A",
    "È": "E",
    "Ê": "E",
    "Ë": "E",
    "Î": "I",
    "Ï": "I",
    "Ô": "O",
    "Ù": "U",
    "Û": "U",
    "Ÿ": "Y",
    "—": "-",
    "\u2013": "-",
    "\u2019": "'",
    "\u2018": "'",
    "«": '"',
    "»": '"',
    "“": '"',
    "”": '"',
    "…": "...",
    "\u00a0": " ",
    "\u202f": " ",
    "°": "o",
}


def gsm7_length(text: str) -> int | None:
    """Septets needed to send text in GSM-7, or None when a character is outside GSM-7."""
    n = 0
    for ch in text:
        if ch in GSM7_BASIC:
            n += 1
        elif ch in GSM7_EXTENSION:
            n += 2
        else:
            return None
    return n


def transliterate_gsm7(text: str) -> str:
    """text with every non-GSM-7 character replaced by its nearest GSM-7 spelling ('?' last)."""
    out = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
            continue
        if ch in _TRANSLIT:
            out.append(_TRANSLIT[ch])
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base and gsm7_length(base) is not None else "?")
    return "".join(out)


def sms_segments(text: str) -> int:
    """How many SMS a provider bills for text (GSM-7 153 / UCS-2 67 per part once split)."""
    n = gsm7_length(text)
    if n is not None:
        return 1 if n <= SMS_SEGMENT else -(-n // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= UCS2_SEGMENT else -(-units // 67)


def fit_sms(candidates: Sequence[str]) -> str:
    """The first candidate (richest first) that fits one SMS, transliterated only if that is what
    makes it fit; the most compact one when none fits."""
    for text in candidates:
        if sms_segments(text) == 1:
            return text
        plain = transliterate_gsm7(text)
        if sms_segments(plain) == 1:
            return plain
    return candidates[-1]


# -- what the dispatcher hands over --------------------------------------------------------------
@dataclass(frozen=True)
class ChangeView:
    """One incident change as the recipient should read it."""

    incident_id: int
    kind: str  # opened | escalated | deescalated | resolved | reminder
    level: str
    previous_level: str | None
    at: datetime
    value: float | None
    unit: str
    window_min: int | None
    what: str  # e.g. "Cumul de pluie 1 h"
    place: str  # e.g. "Pluviomètre de la mairie, Thourotte"
    communes: tuple[str, ...]  # commune names
    summary: str = ""
    minutes_unacknowledged: int | None = None
    exercise: bool = False  # an exercise incident: every text starts with EXERCICE


@dataclass(frozen=True)
class TimelineEntry:
    """One row of an incident's timeline."""

    at: datetime
    kind: str
    level: str
    value: float | None
    unit: str
    summary: str


@dataclass(frozen=True)
class RainTable:
    """Hourly rain (mm) of the incident's stations: hours (UTC starts) x stations."""

    hours: tuple[datetime, ...]
    rows: tuple[tuple[str, tuple[float | None, ...]], ...]


@dataclass(frozen=True)
class IncidentContext:
    """A change plus what the e-mail shows around it."""

    change: ChangeView
    title: str
    timeline: tuple[TimelineEntry, ...] = ()
    rain: RainTable | None = None
    advice: Instruction | None = None  # the consigne for the recipient's commune and this level


@dataclass(frozen=True)
class Message:
    """What goes out on one channel: subject (None for SMS) and body."""

    subject: str | None
    body: str


@dataclass(frozen=True)
class Texts:
    """Everything a channel may need, built once per group."""

    sms: str
    subject: str
    email: str
    extra: dict[str, str] = field(default_factory=dict)


# -- small French helpers -------------------------------------------------------------------------
def fr_number(x: float) -> str:
    """12.34 -> '12,3'; 12.0 -> '12' (French decimal comma, no useless zero)."""
    text = f"{x:.1f}".replace(".", ",")
    return text[:-2] if text.endswith(",0") else text


def window_fr(minutes: int) -> str:
    """60 -> '1 h', 15 -> '15 min', 90 -> '1 h 30'."""
    if minutes >= 60:
        h, m = divmod(minutes, 60)
        return f"{h} h" if m == 0 else f"{h} h {m:02d}"
    return f"{minutes} min"


def hour_fr(at: datetime) -> str:
    """'14h05' in Europe/Paris."""
    local = at.astimezone(PARIS)
    return f"{local.hour}h{local.minute:02d}"


def datetime_fr(at: datetime) -> str:
    """'28/11 à 14h05' in Europe/Paris."""
    local = at.astimezone(PARIS)
    return f"{local.day:02d}/{local.month:02d} à {hour_fr(at)}"


def incident_url(base_url: str, incident_id: int) -> str:
    """The incident's page in the web app."""
    return urls.incident_page_url(base_url, incident_id)


def amount_fr(c: ChangeView) -> str:
    """'32 mm en 1 h', '62 mm/h', 'période de retour 12 ans sur 1 h'; '' without a value."""
    if c.value is None:
        return ""
    if c.unit == "ans":
        text = f"période de retour {fr_number(c.value)} ans"
        return text + (f" sur {window_fr(c.window_min)}" if c.window_min else "")
    text = f"{fr_number(c.value)} {c.unit}".strip()
    if c.window_min and c.unit == "mm":
        text += f" en {window_fr(c.window_min)}"
    return text


def where_fr(communes: Sequence[str], place: str, limit: int | None = None) -> str:
    """The commune names ('Thourotte, Pimprez'), shortened to limit names plus '+N'."""
    names = list(dict.fromkeys(communes)) or [place]
    if limit is not None and len(names) > limit:
        return ", ".join(names[:limit]) + f" +{len(names) - limit}"
    return ", ".join(names)


def _headline(c: ChangeView, with_previous: bool = True) -> str:
    """What happened, in capitals where it matters: the first words people read."""
    lvl = LEVEL_FR.get(c.level, c.level).upper()
    prev = LEVEL_FR.get(c.previous_level or "", c.previous_level or "")
    was = f" (était {prev})" if with_previous else ""
    if c.kind == "escalated":
        return f"ALERTE {lvl}{was}"
    if c.kind == "deescalated":
        return f"alerte abaissée à {lvl}{was}"
    if c.kind == "resolved":
        return "FIN D'ALERTE"
    if c.kind == "reminder":
        return f"RAPPEL ALERTE {lvl} non prise en compte" if with_previous else f"RAPPEL ALERTE {lvl}"
    return f"ALERTE {lvl}"


def _facts(c: ChangeView, limit: int | None, with_amount: bool = True) -> str:
    amount = amount_fr(c) if with_amount and c.kind != "resolved" else ""
    where = where_fr(c.communes, c.place, limit)
    return f"{c.what}, {amount} à {where}" if amount else f"{c.what} à {where}"


# -- SMS ------------------------------------------------------------------------------------------
EXERCISE_WORD = "EXERCICE"  # the first word of every exercise message, on every channel
STOP_SMS = " STOP: repondez STOP"  # residents' SMS: the unsubscribe keyword (inbound webhook)


@dataclass(frozen=True)
class Footer:
    """What a self-registered resident's messages end with: how to unsubscribe."""

    link: str | None = None  # e-mail: the unsubscribe page
    sms_keyword: bool = False  # SMS: "reply STOP"


def _x(exercise: bool) -> str:
    return f"{EXERCISE_WORD} " if exercise else ""


def _advice(c: ChangeView, advice: Instruction | None) -> str:
    return (advice or DEFAULTS[key_for(c.kind, c.level)]).sms


def sms_single(
    c: ChangeView, link: str, advice: Instruction | None = None, footer: Footer | None = None
) -> str:
    """One change as one SMS, in the order residents need it: level, where, what to do, link;
    then the measure and the time when they fit."""
    stop = STOP_SMS if footer is not None and footer.sms_keyword else ""
    since = (
        f" depuis {c.minutes_unacknowledged} min" if c.kind == "reminder" and c.minutes_unacknowledged else ""
    )
    head = f"{_x(c.exercise)}Vigie {_headline(c)}{since}"
    short = f"{_x(c.exercise)}Vigie {_headline(c, with_previous=False)}"
    todo = _advice(c, advice)
    tail = f" {todo} {link}{stop}"
    def facts(with_amount: bool, with_time: bool) -> str:
        amount = amount_fr(c) if with_amount and c.kind != "resolved" else ""
        text = f"{c.what}, {amount}" if amount else c.what
        return text + (f", {hour_fr(c.at)}" if with_time else "")

    return fit_sms(
        [
            f"{h} {where_fr(c.communes, c.place, limit)}: {facts(amount, when)}.{tail}"
            for h, limit, amount, when in (
                (head, None, True, True),
                (short, None, True, True),
                (head, None, True, False),
                (short, None, True, False),
                (short, 2, True, False),
                (short, None, False, False),
                (short, 2, False, False),
                (short, 1, False, False),
            )
        ]
        + [f"{short} {where_fr(c.communes, c.place, 1)}.{tail}"]
    )


def _short_line(c: ChangeView, limit: int | None) -> str:
    where = where_fr(c.communes, c.place, limit)
    if c.kind == "resolved":
        return f"fin {c.what} à {where}"
    amount = amount_fr(c)
    lvl = LEVEL_FR.get(c.level, c.level)
    return f"{lvl} {c.what} {amount} à {where}".replace("  ", " ")


def worst(changes: Sequence[ChangeView]) -> ChangeView:
    """The change that leads a group: highest level, alerts before ends, earliest first."""
    return max(
        changes,
        key=lambda c: (c.kind != "resolved", _RANK.get(c.level, 0), -c.at.timestamp()),
    )


def _group_communes(changes: Sequence[ChangeView]) -> list[str]:
    """The communes of a group, where it is worst first (alerts by level, then ends)."""
    ranked = sorted(changes, key=lambda c: (c.kind == "resolved", -_RANK.get(c.level, 0), c.at))
    return [n for c in ranked for n in (c.communes or (c.place,))]


def sms_grouped(
    changes: Sequence[ChangeView],
    base_url: str,
    advice: Instruction | None = None,
    footer: Footer | None = None,
) -> str:
    """Several changes for one recipient as ONE SMS (same storm over several stations): the
    worst level and the communes first, then what to do and the link; the details if they fit."""
    if len(changes) == 1:
        return sms_single(changes[0], incident_url(base_url, changes[0].incident_id), advice, footer)
    lead = worst(changes)
    link = incident_url(base_url, lead.incident_id)
    stop = STOP_SMS if footer is not None and footer.sms_keyword else ""
    ordered = sorted(changes, key=lambda c: c is not lead)
    alerts = [c for c in changes if c.kind != "resolved"]
    exercise = any(c.exercise for c in changes)
    lvl = LEVEL_FR.get(lead.level, lead.level).upper()
    head = f"{_x(exercise)}Vigie ALERTE {lvl}" if alerts else f"{_x(exercise)}Vigie FIN D'ALERTE"
    communes = _group_communes(changes)
    todo = _advice(lead, advice)
    gist = "fortes pluies" if alerts else "alerte terminee"
    tail = f" {todo} {link}{stop}"
    return fit_sms(
        [
            f"{head} {where_fr(communes, '', None)}: "
            + "; ".join(_short_line(c, None) for c in ordered)
            + f".{tail}",
            f"{head} {where_fr(communes, '', None)}: {gist}.{tail}",
            f"{head} {where_fr(communes, '', 3)}: {gist}.{tail}",
            f"{head} {where_fr(communes, '', 2)}: {gist}.{tail}",
            f"{head} {where_fr(communes, '', 1)}.{tail}",
        ]
    )


def sms_for_test(subscriber: str, at: datetime) -> str:
    """The SMS of a test send."""
    return fit_sms(
        [
            f"Vigie: message de TEST pour {subscriber}, {hour_fr(at)}. Si vous le recevez, "
            "ce canal d'alerte fonctionne. Aucune action requise.",
            f"Vigie: message de TEST, {hour_fr(at)}. Ce canal d'alerte fonctionne.",
        ]
    )


# -- e-mail ---------------------------------------------------------------------------------------
_KIND_FR = {
    "opened": "ouverture",
    "escalated": "aggravation",
    "deescalated": "amélioration",
    "resolved": "fin d'alerte",
    "acknowledged": "prise en compte",
    "reminder": "rappel",
}


def subject_for(changes: Sequence[ChangeView]) -> str:
    """The e-mail subject: level, then where, then what, so the inbox list alone is enough."""
    lead = worst(changes)
    lvl = LEVEL_FR.get(lead.level, lead.level)
    x = f"{EXERCISE_WORD} - " if any(c.exercise for c in changes) else ""
    if len(changes) == 1:
        c = changes[0]
        head = {
            "resolved": "Fin d'alerte",
            "reminder": f"Rappel alerte {lvl}",
            "deescalated": f"Alerte abaissée à {lvl}",
        }.get(c.kind, f"Alerte {lvl}")
        return f"{x}[Vigie] {head} - {where_fr(c.communes, c.place, 3)} - {c.what}"
    communes = _group_communes(changes)
    what = f"Alerte {lvl}" if any(c.kind != "resolved" for c in changes) else "Fin d'alerte"
    return f"{x}[Vigie] {what} - {where_fr(communes, '', 3)} - {len(changes)} messages"


def _timeline_text(entries: Sequence[TimelineEntry]) -> list[str]:
    lines = ["Chronologie (heure de Paris) :"]
    for e in entries:
        value = f" - {fr_number(e.value)} {e.unit}".rstrip() if e.value is not None else ""
        lvl = LEVEL_FR.get(e.level, e.level)
        lines.append(f"  {datetime_fr(e.at)}  {_KIND_FR.get(e.kind, e.kind)} ({lvl}){value}")
    return lines


def rain_table_text(table: RainTable) -> list[str]:
    """A fixed-width table of hourly rain: one row per station, one column per hour (Paris)."""
    if not table.hours or not table.rows:
        return []
    width = max(len(name) for name, _ in table.rows)
    width = min(max(width, 7), 40)
    header = "Station".ljust(width) + "".join(f"{hour_fr(h):>7}" for h in table.hours)
    lines = ["Pluie des dernières heures (mm par heure, heure de début, Paris) :", header]
    for name, values in table.rows:
        cells = "".join(f"{'-' if v is None else fr_number(v):>7}" for v in values)
        lines.append(name[:width].ljust(width) + cells)
    return lines


def email_body(
    contexts: Sequence[IncidentContext], base_url: str, recipient: str, footer: Footer | None = None
) -> str:
    """Plain-text e-mail: per incident, the alert sentence, what to do, its timeline and the
    rain table; an exercise says so before anything else."""
    lines: list[str] = []
    if any(ctx.change.exercise for ctx in contexts):
        lines += [
            f"{EXERCISE_WORD} - ceci est un exercice du Plan Communal de Sauvegarde, pas une "
            "alerte réelle. Aucune action n'est attendue de vous.",
            "",
        ]
    lines += [f"Bonjour {recipient},", ""]
    if len(contexts) > 1:
        lines += [f"{len(contexts)} messages d'alerte Vigie vous concernent :", ""]
    for ctx in contexts:
        c = ctx.change
        lines.append(f"{_x(c.exercise)}{_headline(c)} - {where_fr(c.communes, c.place)} - {ctx.title}")
        lines.append("=" * min(len(lines[-1]), 78))
        if c.kind == "resolved":
            lines.append(f"L'alerte est terminée : {_facts(c, None)}, le {datetime_fr(c.at)}.")
        else:
            lines.append(f"{_facts(c, None)}, le {datetime_fr(c.at)}.")
        if c.summary:
            lines.append(c.summary)
        advice = ctx.advice or DEFAULTS[key_for(c.kind, c.level)]
        lines += ["", f"Que faire : {advice.text}", ""]
        lines.append(f"Détails : {incident_url(base_url, c.incident_id)}")
        lines.append("")
        if ctx.timeline:
            lines += [*_timeline_text(ctx.timeline), ""]
        if ctx.rain is not None:
            table = rain_table_text(ctx.rain)
            if table:
                lines += [*table, ""]
    lines += [
        "--",
        "Vigie - surveillance des pluies de la Communauté de communes des Deux Vallées.",
        "Vous recevez ce message car vous êtes inscrit aux alertes de votre commune.",
    ]
    if footer is not None and footer.link:
        lines.append(f"Pour ne plus recevoir ces alertes : {footer.link}")
    return "\n".join(lines)


def texts_for(
    contexts: Sequence[IncidentContext], base_url: str, recipient: str, footer: Footer | None = None
) -> Texts:
    """SMS, subject and e-mail body for one group of changes."""
    changes = [ctx.change for ctx in contexts]
    lead = worst(changes)
    advice = next((ctx.advice for ctx in contexts if ctx.change is lead), None)
    return Texts(
        sms=sms_grouped(changes, base_url, advice, footer),
        subject=subject_for(changes),
        email=email_body(contexts, base_url, recipient, footer),
    )


def texts_for_test(subscriber: str, requested_by: str | None, at: datetime) -> Texts:
    """Texts of a test send (no incident)."""
    who = f" à la demande de {requested_by}" if requested_by else ""
    body = "\n".join(
        [
            f"Bonjour {subscriber},",
            "",
            f"Ceci est un message de TEST envoyé par Vigie le {datetime_fr(at)}{who}.",
            "Si vous le recevez, ce canal d'alerte fonctionne. Aucune action n'est requise.",
            "",
            "--",
            "Vigie - surveillance des pluies de la Communauté de communes des Deux Vallées.",
        ]
    )
    return Texts(sms=sms_for_test(subscriber, at), subject="[Vigie] Message de test", email=body)


def message_for(kind: str, texts: Texts) -> Message:
    """What one channel kind sends: SMS text alone, or subject + body (e-mail, webhook)."""
    if kind == "sms":
        return Message(None, texts.sms)
    if kind == "webhook":
        return Message(texts.subject, texts.sms)
    return Message(texts.subject, texts.email)
