"""The notifier's French texts: GSM-7 arithmetic, SMS wording and length, e-mail content."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from alerts import messages as m
from vigie.instructions import DEFAULTS, Instruction, key_for

WINTER = datetime(2026, 11, 28, 13, 5, tzinfo=UTC)  # 14h05 in Paris
SUMMER = datetime(2026, 7, 14, 13, 5, tzinfo=UTC)  # 15h05 in Paris
BASE = "https://vigie.example.org"


def change(**kw: object) -> m.ChangeView:
    base = m.ChangeView(
        incident_id=42,
        kind="opened",
        level="yellow",
        previous_level=None,
        at=WINTER,
        value=18.0,
        unit="mm",
        window_min=60,
        what="Cumul de pluie 1 h",
        place="Pluviomètre de la mairie, Thourotte",
        communes=("Thourotte",),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_gsm7_length_counts_extension_characters_twice_and_rejects_the_rest() -> None:
    assert m.gsm7_length("Mélicocq, Cambronne-lès-Ribécourt à 14h05") == 41
    assert m.gsm7_length("€ [x]") == 8
    assert m.gsm7_length("fenêtre") is None
    assert m.gsm7_length("") == 0


def test_transliteration_only_touches_characters_outside_gsm7() -> None:
    assert m.transliterate_gsm7("Fenêtre, garçon, cœur — « île » …") == (
        'Fenetre, garcon, coeur - " ile " ...'
    )
    assert m.transliterate_gsm7("Mélicocq à Pimprez") == "Mélicocq à Pimprez"
    assert m.gsm7_length(m.transliterate_gsm7("Ωmega ☂ ĉ")) is not None


def test_fit_sms_transliterates_only_when_that_saves_a_segment() -> None:
    short = "Crue prévue à 14h, fenêtre fermée"
    assert m.fit_sms([short]) == short  # 33 UCS-2 characters: one SMS as it is
    long = "Vigie ALERTE: fenêtre " + "x" * 100
    assert m.sms_segments(long) == 2
    assert m.fit_sms([long]) == "Vigie ALERTE: fenetre " + "x" * 100
    assert m.sms_segments("a" * 161) == 2 and m.sms_segments("a" * 160) == 1


def test_opening_sms_says_level_where_what_to_do_and_link_first() -> None:
    text = m.sms_single(change(), m.incident_url(BASE, 42))
    assert text == (
        "Vigie ALERTE JAUNE Thourotte: Cumul de pluie 1 h, 18 mm en 1 h. "
        "Evitez souterrains, bords de cours d'eau et points bas. "
        "https://vigie.example.org/incidents/42"
    )
    assert m.gsm7_length(text) is not None and len(text) <= 160


def test_the_time_is_shown_in_paris_time_when_it_fits() -> None:
    assert "15h05" in m.sms_single(change(at=SUMMER, value=None), "l")


def test_escalation_deescalation_end_reminder_wordings() -> None:
    link = m.incident_url(BASE, 42)
    esc = m.sms_single(change(kind="escalated", level="orange", previous_level="yellow", value=32.4), link)
    assert esc.startswith("Vigie ALERTE ORANGE Thourotte: ") and "Limitez vos trajets" in esc
    assert m.sms_segments(esc) == 1  # the measure gave way to the consigne
    down = m.sms_single(change(kind="deescalated", level="yellow", previous_level="orange"), link)
    assert down.startswith("Vigie alerte abaissée à JAUNE Thourotte: ")
    end = m.sms_single(change(kind="resolved", level="orange", value=2.0), link)
    assert end == (
        "Vigie FIN D'ALERTE Thourotte: Cumul de pluie 1 h, 14h05. "
        "Restez prudents pres des zones encore inondees. https://vigie.example.org/incidents/42"
    )
    rem = m.sms_single(change(kind="reminder", level="red", minutes_unacknowledged=30), link)
    assert rem.startswith("Vigie RAPPEL ALERTE ROUGE")
    assert "Danger: 112" in rem and m.sms_segments(rem) == 1


def test_each_level_carries_its_consigne_in_one_segment() -> None:
    link = m.incident_url(BASE, 123456)
    for level, kind in (("yellow", "opened"), ("orange", "opened"), ("red", "opened"), ("red", "resolved")):
        text = m.sms_single(change(level=level, kind=kind), link, footer=m.Footer(sms_keyword=True))
        advice = DEFAULTS[key_for(kind, level)].sms
        assert advice in text and m.sms_segments(text) == 1, text
        assert text.endswith(f"{link} STOP: repondez STOP")


def test_a_communes_own_consigne_replaces_the_default() -> None:
    own = Instruction("Fermez les vannes du Matz.", "Fermez les vannes du Matz.")
    text = m.sms_single(change(level="orange"), "l", advice=own)
    assert "Fermez les vannes du Matz." in text and "Limitez" not in text


def test_exercise_messages_start_with_exercice_on_every_channel() -> None:
    ctx = m.IncidentContext(change(exercise=True), "Cumul 1 h — Mairie (Thourotte)")
    texts = m.texts_for([ctx], BASE, "Mairie")
    assert texts.sms.split()[0] == "EXERCICE"
    assert texts.subject.split()[0] == "EXERCICE"
    assert texts.email.split()[0] == "EXERCICE"
    real = m.texts_for([m.IncidentContext(change(), "t")], BASE, "Mairie")
    assert "EXERCICE" not in real.sms + real.subject + real.email


def test_resident_messages_say_how_to_unsubscribe() -> None:
    footer = m.Footer(link="https://vigie.example.org/desinscription/abc", sms_keyword=True)
    texts = m.texts_for([m.IncidentContext(change(), "t")], BASE, "Habitant", footer)
    assert texts.sms.endswith("STOP: repondez STOP")
    assert "Pour ne plus recevoir ces alertes : https://vigie.example.org/desinscription/abc" in texts.email
    plain = m.texts_for([m.IncidentContext(change(), "t")], BASE, "Mairie")
    assert "STOP" not in plain.sms and "desinscription" not in plain.email


def test_return_period_and_intensity_amounts() -> None:
    assert m.amount_fr(change(unit="ans", value=12.0, window_min=60)) == ("période de retour 12 ans sur 1 h")
    assert m.amount_fr(change(unit="mm/h", value=62.5, window_min=None)) == "62,5 mm/h"
    assert m.amount_fr(change(value=None)) == ""


def test_many_communes_are_shortened_to_stay_in_one_sms() -> None:
    names = (
        "Cambronne-lès-Ribécourt",
        "Ribécourt-Dreslincourt",
        "Saint-Léger-aux-Bois",
        "Marest-sur-Matz",
        "Chiry-Ourscamp",
        "Longueil-Annel",
    )
    text = m.sms_single(
        change(communes=names, what="Ruissellement 24 h", window_min=1440), m.incident_url(BASE, 123456)
    )
    assert m.sms_segments(text) == 1
    assert "Cambronne-lès-Ribécourt" in text and "+" in text
    assert text.endswith("https://vigie.example.org/incidents/123456")


def test_grouped_sms_names_the_worst_level_and_the_communes_first() -> None:
    three = [
        change(incident_id=1, place="Mairie, Thourotte"),
        change(incident_id=2, value=16.0, place="Gare, Thourotte"),
        change(incident_id=3, value=21.0, communes=("Pimprez",), place="Stade, Pimprez"),
    ]
    text = m.sms_grouped(three, BASE)
    assert text.startswith("Vigie ALERTE JAUNE Thourotte, Pimprez: ") and m.sms_segments(text) == 1
    assert DEFAULTS["yellow"].sms in text and text.endswith("/incidents/1")
    mixed = [
        *three,
        change(
            incident_id=4, kind="escalated", level="orange", previous_level="yellow", value=31.0,
            communes=("Ribécourt-Dreslincourt",),
        ),
    ]
    worst = m.sms_grouped(mixed, BASE)
    assert worst.startswith("Vigie ALERTE ORANGE Ribécourt-Dreslincourt")
    assert DEFAULTS["orange"].sms in worst and worst.endswith("/incidents/4")
    ends = [change(incident_id=1, kind="resolved"), change(incident_id=2, kind="resolved")]
    over = m.sms_grouped(ends, BASE)
    assert over.startswith("Vigie FIN D'ALERTE Thourotte") and DEFAULTS["end"].sms in over


def test_sixteen_stations_no_longer_say_sixteen_alerts() -> None:
    names = ["Thourotte", "Pimprez", "Cambronne-lès-Ribécourt", "Ribécourt-Dreslincourt",
             "Saint-Léger-aux-Bois", "Marest-sur-Matz", "Chiry-Ourscamp", "Longueil-Annel"]
    many = [change(incident_id=i + 1, communes=(n,)) for i, n in enumerate(names * 2)]
    text = m.sms_grouped(many, BASE, footer=m.Footer(sms_keyword=True))
    assert "16 alertes" not in text and "alertes à" not in text
    assert text.startswith("Vigie ALERTE JAUNE Thourotte") and DEFAULTS["yellow"].sms in text
    assert m.sms_segments(text) == 1 and text.endswith("STOP: repondez STOP")
    subject = m.subject_for(many)
    assert subject.startswith("[Vigie] Alerte jaune - Thourotte, Pimprez, Cambronne")


def test_test_texts() -> None:
    t = m.texts_for_test("Mairie de Pimprez", "technicien", WINTER)
    assert "TEST" in t.sms and m.sms_segments(t.sms) == 1
    assert t.subject == "[Vigie] Message de test"
    assert "à la demande de technicien" in t.email and "28/11 à 14h05" in t.email


def test_email_carries_timeline_and_hourly_rain_table() -> None:
    hours = tuple(datetime(2026, 11, 28, h, 0, tzinfo=UTC) for h in (10, 11, 12, 13))
    ctx = m.IncidentContext(
        change=change(kind="escalated", level="orange", previous_level="yellow", value=32.0),
        title="Cumul de pluie 1 h — Pluviomètre de la mairie, Thourotte",
        timeline=(
            m.TimelineEntry(datetime(2026, 11, 28, 12, 50, tzinfo=UTC), "opened", "yellow", 18.0, "mm", ""),
            m.TimelineEntry(WINTER, "escalated", "orange", 32.0, "mm", ""),
        ),
        rain=m.RainTable(hours, (("Pluviomètre de la mairie", (None, 0.0, 12.4, 19.6)),)),
    )
    texts = m.texts_for([ctx], BASE, "Mairie de Thourotte")
    assert texts.subject == "[Vigie] Alerte orange - Thourotte - Cumul de pluie 1 h"
    body = texts.email
    assert body.startswith("Bonjour Mairie de Thourotte,")
    assert "28/11 à 13h50  ouverture (jaune) - 18 mm" in body
    assert "28/11 à 14h05  aggravation (orange) - 32 mm" in body
    assert "11h00  12h00  13h00  14h00" in body.replace("   ", "  ")
    assert "12,4" in body and "19,6" in body
    assert "https://vigie.example.org/incidents/42" in body
    assert m.message_for("sms", texts).subject is None
    assert m.message_for("email", texts).body == body
    assert m.message_for("webhook", texts) == m.Message(texts.subject, texts.sms)
