"""Proof of warning: the hash chain of an incident's deliveries (`delivery_proof`, migration 160).

The database appends the rows (triggers on deliveries and delivery_attempts); this module reads
them back and recomputes every link, for `vigie incidents verify` and for the exports that print
the chain's head. Row n's hash is sha256(hash of row n-1 + "\\n" + row n's payload), the first row
chaining onto 64 zeros.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import psycopg

GENESIS = "0" * 64


@dataclass(frozen=True)
class ProofRow:
    """One link of the chain, as stored."""

    seq: int
    delivery_id: int
    event: str
    payload: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Verdict:
    """What checking one incident's chain found."""

    incident_id: int
    rows: int
    head: str
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when every link holds (and the expected head, if one was given, matched)."""
        return not self.problems


def link_hash(prev_hash: str, payload: str) -> str:
    """The hash a row must carry, given the row before it."""
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()


def check_chain(incident_id: int, rows: list[ProofRow], expected_head: str | None = None) -> Verdict:
    """Recompute the chain; name every broken link (French, for the person who runs it)."""
    problems: list[str] = []
    prev = GENESIS
    for i, row in enumerate(rows, start=1):
        if row.seq != i:
            problems.append(f"maillon {i} : numéro {row.seq} attendu {i} (maillon supprimé ou ajouté)")
        if row.prev_hash != prev:
            problems.append(f"maillon {row.seq} : ne suit pas le maillon précédent")
        if link_hash(row.prev_hash, row.payload) != row.hash:
            problems.append(f"maillon {row.seq} : contenu modifié (empreinte différente)")
        try:
            body: Any = json.loads(row.payload)
            if body.get("delivery") != row.delivery_id or body.get("event") != row.event:
                problems.append(f"maillon {row.seq} : colonnes différentes du contenu signé")
        except (ValueError, AttributeError):
            problems.append(f"maillon {row.seq} : contenu illisible")
        prev = row.hash
    head = rows[-1].hash if rows else GENESIS
    if expected_head is not None and expected_head.lower() != head:
        problems.append(f"tête de chaîne {head} différente de celle attendue {expected_head}")
    return Verdict(incident_id, len(rows), head, tuple(problems))


_CHAIN = (
    "SELECT seq, delivery_id, event, payload, prev_hash, hash FROM delivery_proof"
    " WHERE incident_id = %s ORDER BY seq"
)


def _row(r: Any) -> ProofRow:
    return ProofRow(int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]))


def load_chain(conn: psycopg.Connection[Any], incident_id: int) -> list[ProofRow]:
    """The stored chain of one incident, in order."""
    return [_row(r) for r in conn.execute(_CHAIN, (incident_id,))]


def verify(conn: psycopg.Connection[Any], incident_id: int, expected_head: str | None = None) -> Verdict:
    """Load and check one incident's chain."""
    return check_chain(incident_id, load_chain(conn, incident_id), expected_head)


async def verify_async(conn: psycopg.AsyncConnection[Any], incident_id: int) -> Verdict:
    """verify() for the API: load and check one incident's chain."""
    cur = await conn.execute(_CHAIN, (incident_id,))
    return check_chain(incident_id, [_row(r) for r in await cur.fetchall()])
