"""The proof of warning as documents: an incident's delivery log as CSV and as PDF, each ending
with the hash chain's verdict and head (vigie.proof), so that the paper in the mayor's Plan
Communal de Sauvegarde can later be checked with `vigie incidents verify ID --head HEAD`.

Pure functions over rows the query module returns: no SQL, no I/O.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from vigie.levels import LEVEL_FR
from vigie.proof import Verdict
from vigie.subscribers import recipient_hint

STATE_FR = {
    "pending": "en attente",
    "sending": "en cours d'envoi",
    "accepted": "accepté par le fournisseur",
    "refused": "refusé",
    "given_up": "abandonné",
}
CHANNEL_FR = {"sms": "SMS", "email": "e-mail", "webhook": "webhook"}
PURPOSE_FR = {"alert": "alerte", "end": "fin d'alerte", "reminder": "rappel", "test": "test"}
COLUMNS = ("n°", "destinataire", "canal", "adresse (masquée)", "objet", "niveau", "mis en file",
           "envoyé", "essais", "état", "dernier résultat")


@dataclass(frozen=True)
class ProofDocument:
    """What both formats show: the incident, one line per message, the chain's verdict."""

    incident_id: int
    title: str
    rows: tuple[tuple[str, ...], ...]
    verdict: Verdict
    made_at: datetime
    tz: ZoneInfo


def _when(at: Any, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%d/%m/%Y %H:%M:%S") if isinstance(at, datetime) else ""


def build(
    incident: dict[str, Any], deliveries: Sequence[dict[str, Any]], verdict: Verdict, made_at: datetime,
    tz: ZoneInfo,
) -> ProofDocument:
    """Shape the rows: masked recipients, French words, local times."""
    rows = tuple(
        (
            str(d["id"]),
            str(d["subscriber"]),
            CHANNEL_FR.get(str(d["channel_kind"]), str(d["channel_kind"])),
            recipient_hint(str(d["channel_kind"]), str(d["channel_url"] or "")),
            PURPOSE_FR.get(str(d["purpose"]), str(d["purpose"])),
            LEVEL_FR.get(str(d["level"]), "") if d["level"] else "",
            _when(d["queued_at"], tz),
            _when(d["sent_at"], tz),
            str(d["attempts"]),
            STATE_FR.get(str(d["state"]), str(d["state"]))
            + (f" (groupé dans n° {d['grouped_into']})" if d["grouped_into"] else ""),
            str(d["last_detail"] or ""),
        )
        for d in deliveries
    )
    return ProofDocument(int(incident["id"]), str(incident["title"]), rows, verdict, made_at, tz)


def _verdict_lines(doc: ProofDocument) -> list[str]:
    v = doc.verdict
    state = "intègre" if v.ok else "ROMPUE : " + " ; ".join(v.problems)
    return [
        f"Chaîne de preuve : {state} ({v.rows} maillon(s)).",
        f"Tête de chaîne : {v.head}",
        f"Vérification : vigie incidents verify {doc.incident_id} --head {v.head}",
    ]


def to_csv(doc: ProofDocument, *, sep: str = ";") -> str:
    """The log as CSV (`;` by default, what a French spreadsheet opens), verdict rows last."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\r\n")
    writer.writerow([f"Journal d'envoi de l'incident {doc.incident_id} : {doc.title}"])
    writer.writerow([f"Établi le {_when(doc.made_at, doc.tz)} ({doc.tz.key})"])
    writer.writerow(COLUMNS)
    writer.writerows(doc.rows)
    for line in _verdict_lines(doc):
        writer.writerow([line])
    return out.getvalue()


# The PDF's core fonts speak Latin-1: French needs only these few replacements.
_LATIN1 = str.maketrans({"•": "*", "\u2019": "'", "œ": "oe", "Œ": "OE", "\u2014": "-", "\u2013": "-",
                         "…": "...", "€": "EUR", "\u202f": " "})


def _latin1(text: str) -> str:
    return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def to_pdf(doc: ProofDocument) -> bytes:
    """The log as an A4 landscape PDF, uncompressed so that its text stays searchable."""
    # Imported here: fpdf (with fontTools and numpy) is half a second of CPU at import, paid at
    # every start of the API for a document that is asked for now and then (issue 14: restarts).
    from fpdf import FPDF

    pdf = FPDF(orientation="L", format="A4")
    pdf.set_compression(False)
    pdf.set_title(_latin1(f"Journal d'envoi - incident {doc.incident_id}"))
    pdf.set_creator("Vigie")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 7, _latin1(f"Journal d'envoi de l'incident {doc.incident_id} : {doc.title}"))
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 6, _latin1(f"Établi le {_when(doc.made_at, doc.tz)} ({doc.tz.key}) par Vigie."),
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    widths = (12, 38, 14, 34, 20, 14, 30, 30, 12, 34, 39)
    pdf.set_font("Helvetica", "B", 7)
    for w, title in zip(widths, COLUMNS, strict=True):
        pdf.cell(w, 6, _latin1(title), border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 7)
    for row in doc.rows:
        for w, value in zip(widths, row, strict=True):
            # One line per cell: a long value is cut so the table stays a table; the CSV has it whole.
            text = _latin1(value)
            while text and pdf.get_string_width(text) > w - 1:
                text = text[:-2] + "~"
            pdf.cell(w, 5, text, border=1)
        pdf.ln()
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 9)
    for line in _verdict_lines(doc):
        pdf.multi_cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
