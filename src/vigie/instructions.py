"""What residents should do ("consignes"), per commune and level, shared by the notifier (SMS,
e-mail), the CAP writer (<instruction>) and the API (public page, admin edits).

The defaults below are civil-protection wording for runoff and flash floods; an admin replaces
them per commune and level (table commune_instructions), and deleting the row brings the default
back. Each has two forms: `text` for the e-mail, CAP and the page, and `sms`, short enough to sit
beside the alert in one GSM-7 SMS. Pure, plus one sync loader for the notifier and CAP writer
(the API's async queries are in vigie.instructions_queries).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

InstructionKey = Literal["yellow", "orange", "red", "end"]
KEYS: tuple[InstructionKey, ...] = ("yellow", "orange", "red", "end")
TEXT_MAX = 1000
SMS_MAX = 90


@dataclass(frozen=True)
class Instruction:
    """The consigne of one level: the full text and the SMS form."""

    text: str
    sms: str


# The SMS forms avoid letters outside GSM-7 (ê, ç, ô…) so that they never force UCS-2 (70
# characters per SMS); the texts are written for reading on a phone or in a CAP client.
DEFAULTS: Mapping[str, Instruction] = {
    "yellow": Instruction(
        "Vigilance jaune : des ruissellements et des débordements localisés sont possibles. "
        "Évitez les passages souterrains, les bords de cours d'eau et les points bas ; ne "
        "stationnez pas près des rivières et des fossés. Tenez-vous informés de l'évolution.",
        "Evitez souterrains, bords de cours d'eau et points bas.",
    ),
    "orange": Instruction(
        "Vigilance orange : limitez vos déplacements. Ne vous engagez jamais, à pied ou en "
        "voiture, sur une route ou un passage inondé : 30 cm d'eau suffisent à emporter une "
        "voiture. Mettez à l'abri vos biens exposés (caves, sous-sols, véhicules), placez vos "
        "papiers et objets de valeur en hauteur et surveillez la montée des eaux.",
        "Limitez vos trajets, jamais sur route inondee. Protegez caves.",
    ),
    "red": Instruction(
        "Vigilance rouge : danger. Évitez tout déplacement. Ne descendez pas dans les caves "
        "ni les sous-sols ; si l'eau monte, réfugiez-vous à l'étage avec de l'eau, une lampe "
        "et un téléphone chargé. Coupez l'électricité et le gaz si l'eau atteint votre "
        "logement. N'allez pas chercher vos enfants à l'école : ils y sont en sécurité. "
        "Suivez les consignes de la mairie et de la préfecture. En cas de danger, appelez le 112.",
        "Restez chez vous, a l'etage si l'eau monte. Danger: 112",
    ),
    "end": Instruction(
        "Fin d'alerte : la pluie ne dépasse plus les seuils. Restez prudents, l'eau peut rester "
        "haute quelques heures : ne touchez pas aux installations électriques mouillées, aérez "
        "et nettoyez les pièces inondées, signalez les dégâts à votre mairie.",
        "Restez prudents pres des zones encore inondees.",
    ),
}


def key_for(kind: str, level: str) -> InstructionKey:
    """Which consigne a change calls for: the end-of-alert one for 'resolved', else its level."""
    if kind == "resolved":
        return "end"
    return level if level in ("yellow", "orange", "red") else "red"  # type: ignore[return-value]


def _has_control(text: str) -> bool:
    return any((ord(c) < 32 and c != "\n") or ord(c) == 127 for c in text)


class InstructionIn(BaseModel):
    """A consigne as an admin writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=TEXT_MAX)
    sms: str = Field(min_length=1, max_length=SMS_MAX)

    @field_validator("text", "sms")
    @classmethod
    def _printable(cls, value: str) -> str:
        if _has_control(value) or not value.strip():
            raise ValueError("ne doit pas être vide ni contenir de caractères de contrôle")
        return value.strip()

    @field_validator("sms")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value:
            raise ValueError("la forme SMS tient sur une ligne")
        return value


Overrides = Mapping[tuple[str, str], Instruction]


def effective(overrides: Overrides, insee: str | None, key: str) -> Instruction:
    """The commune's own consigne for this key, else the default."""
    if insee is not None and (insee, key) in overrides:
        return overrides[(insee, key)]
    return DEFAULTS[key]


def for_communes(overrides: Overrides, codes: Sequence[str], key: str) -> Instruction:
    """One consigne for a message about these communes: the first commune's (the recipient's
    own commune should come first); the default when there is none."""
    return effective(overrides, codes[0] if codes else None, key)


def combined_text(overrides: Overrides, communes: Iterable[tuple[str, str]], key: str) -> str:
    """The text for a message read by every commune at once (CAP): one text when they agree,
    else one line per commune ('Thourotte : …')."""
    pairs = [(name, effective(overrides, insee, key).text) for insee, name in communes]
    texts = list(dict.fromkeys(t for _, t in pairs))
    if not texts:
        return DEFAULTS[key].text
    if len(texts) == 1:
        return texts[0]
    return "\n".join(f"{name} : {text}" for name, text in pairs)


def load(conn: Any, codes: Sequence[str]) -> dict[tuple[str, str], Instruction]:
    """The stored consignes of these communes (sync psycopg connection: notifier, CAP writer)."""
    if not codes:
        return {}
    rows = conn.execute(
        "SELECT commune_insee, level, text, sms FROM commune_instructions WHERE commune_insee = ANY (%s)",
        (list(codes),),
    ).fetchall()
    return {(str(r[0]), str(r[1])): Instruction(str(r[2]), str(r[3])) for r in rows}
