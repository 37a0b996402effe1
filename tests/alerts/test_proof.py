"""Proof of warning: the real notifier's deliveries form an intact hash chain per incident, and
`vigie incidents verify` finds a row altered, removed or re-chained after the fact."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import psycopg
import pytest

from tests.alerts.notify_helpers import (
    add_subscriber,
    dispatching,
    now_utc,
    rain_and_evaluate,
    resolve_all,
    sinks,
    wait_settled,
)
from tests.alerts.rain import only_rules
from tests.factories import make_station
from vigie import proof

Conn = psycopg.Connection[Any]


def _storm(db: Conn, database_url: str) -> int:
    """One yellow incident opened and ended, sent to two subscribers; returns its id."""
    make_station(db, "thourotte-mairie", commune="60636")
    only_rules(db, "Cumul 1 h%")
    with sinks() as (smtp, sms):
        add_subscriber(
            db,
            "Mairie",
            [
                {"kind": "email", "url": smtp.apprise_url("mairie@thourotte.example")},
                {"kind": "sms", "url": sms.apprise_url("+33611111111")},
            ],
            communes=("60636",),
        )
        add_subscriber(db, "Élu", [{"kind": "sms", "url": sms.apprise_url("+33622222222")}])
        t = now_utc()
        with dispatching(database_url):
            rain_and_evaluate(db, "thourotte-mairie", 18.0, t)
            wait_settled(db)
            resolve_all(db, "thourotte-mairie", t)
            wait_settled(db)
    row = db.execute("SELECT id FROM incidents").fetchone()
    assert row is not None
    return int(row[0])


def _verify_cli(database_url: str, incident: int, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIE_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "vigie.cli", "incidents", "verify", str(incident), *extra],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def test_notifier_deliveries_chain_and_verify_passes(db: Conn, database_url: str) -> None:
    incident = _storm(db, database_url)
    deliveries = db.execute("SELECT count(*) FROM deliveries WHERE incident_id = %s", (incident,)).fetchone()
    attempts = db.execute(
        "SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id"
        " WHERE d.incident_id = %s",
        (incident,),
    ).fetchone()
    assert deliveries is not None and attempts is not None and int(deliveries[0]) == 6  # 3 channels x 2
    verdict = proof.verify(db, incident)
    assert verdict.ok, verdict.problems
    # One link per message queued and one per attempt's outcome.
    assert verdict.rows == int(deliveries[0]) + int(attempts[0])
    events = [r.event for r in proof.load_chain(db, incident)]
    assert events.count("queued") == 6 and events.count("accepted") == 6

    done = _verify_cli(database_url, incident, "--head", verdict.head)
    assert done.returncode == 0, done.stderr
    assert "chaîne intègre" in done.stdout and verdict.head in done.stdout


def test_rows_cannot_be_rewritten_through_sql(db: Conn, database_url: str) -> None:
    incident = _storm(db, database_url)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("UPDATE delivery_proof SET payload = '{}' WHERE incident_id = %s", (incident,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("DELETE FROM delivery_proof WHERE incident_id = %s", (incident,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("TRUNCATE delivery_proof")


@pytest.mark.parametrize("tamper", ["edit", "delete", "rechain"])
def test_altered_chain_fails_verify(db: Conn, database_url: str, tamper: str) -> None:
    incident = _storm(db, database_url)
    head = proof.verify(db, incident).head
    rows = proof.load_chain(db, incident)
    accepted = next(r.seq for r in rows if r.event == "accepted" and r.seq > 1)
    # A superuser (the curious admin of docs/security.md) can switch the guard off.
    db.execute("ALTER TABLE delivery_proof DISABLE TRIGGER delivery_proof_append_only")
    if tamper == "edit":
        db.execute(
            "UPDATE delivery_proof SET payload = replace(payload, 'accepted', 'refused')"
            " WHERE incident_id = %s AND seq = %s",
            (incident, accepted),
        )
    elif tamper == "delete":
        db.execute("DELETE FROM delivery_proof WHERE incident_id = %s AND seq = 3", (incident,))
    else:
        # Rewrite a row and recompute every hash after it: the chain holds, but not the head.
        prev = rows[accepted - 1].prev_hash
        for r in rows[accepted - 1 :]:
            payload = r.payload.replace("accepted", "refused") if r.seq == accepted else r.payload
            new = proof.link_hash(prev, payload)
            db.execute(
                "UPDATE delivery_proof SET payload = %s, prev_hash = %s, hash = %s"
                " WHERE incident_id = %s AND seq = %s",
                (payload, prev, new, incident, r.seq),
            )
            prev = new
    done = _verify_cli(database_url, incident, "--head", head)
    assert done.returncode == 1
    assert "ROMPUE" in done.stderr
    expected = {"edit": "contenu modifié", "delete": "maillon supprimé", "rechain": "tête de chaîne"}
    assert expected[tamper] in done.stderr
