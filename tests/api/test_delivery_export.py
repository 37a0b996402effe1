"""The proof of warning exported: the delivery log as CSV and PDF, with masked recipients and the
hash chain's verdict and head, which `vigie incidents verify --head` then confirms."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.alerts.test_proof import _storm
from tests.api.conftest import bearer, role_token
from vigie import proof

Conn = psycopg.Connection[Any]


def test_delivery_log_exports_as_csv_and_pdf_with_a_verifiable_head(
    client: TestClient, db: Conn, database_url: str
) -> None:
    incident = _storm(db, database_url)
    head = proof.verify(db, incident).head
    duty = bearer(role_token("duty"))

    csv_r = client.get(f"/api/v1/incidents/{incident}/deliveries.csv", headers=duty)
    assert csv_r.status_code == 200, csv_r.text
    assert csv_r.headers["content-type"].startswith("text/csv")
    text = csv_r.content.decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[2].startswith("n°;destinataire;canal")
    body = [ln for ln in lines[3:] if re.match(r"^\d+;", ln)]
    assert len(body) == 6  # 3 channels x (alert + end of alert)
    assert sum("Mairie;SMS;+336•••••11" in ln for ln in body) == 2
    assert sum("m•••@thourotte.example" in ln for ln in body) == 2
    assert all("accepté par le fournisseur" in ln for ln in body)
    # Recipients are masked: neither the number nor the address is in the export.
    assert "+33611111111" not in text and "mairie@thourotte.example" not in text
    assert f"Tête de chaîne : {head}" in text and "intègre" in text

    pdf_r = client.get(f"/api/v1/incidents/{incident}/deliveries.pdf", headers=duty)
    assert pdf_r.status_code == 200 and pdf_r.content.startswith(b"%PDF")
    # Uncompressed, Latin-1 text in the page's content stream: "Tête de chaîne : <head>".
    printed = re.search(rb"T\xeate de cha\xeene : ([0-9a-f]{64})", pdf_r.content)
    assert printed is not None and printed.group(1).decode() == head

    # The head printed on paper is what verify checks later.
    done = subprocess.run(
        [sys.executable, "-m", "vigie.cli", "incidents", "verify", str(incident), "--head",
         printed.group(1).decode()],
        env={**os.environ, "VIGIE_DATABASE_URL": database_url},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr

    # Each export is in the audit log, with who asked.
    exports = db.execute("SELECT count(*) FROM audit_log WHERE action = 'export'").fetchone()
    assert exports == (2,)


def test_delivery_log_export_is_for_the_person_on_duty(
    client: TestClient, db: Conn, database_url: str
) -> None:
    incident = _storm(db, database_url)
    for ext in ("csv", "pdf"):
        url = f"/api/v1/incidents/{incident}/deliveries.{ext}"
        assert client.get(url).status_code == 401
        assert client.get(url, headers=bearer(role_token("viewer"))).status_code == 403
        assert client.get(url, headers=bearer(role_token("admin"))).status_code == 200
    missing = client.get("/api/v1/incidents/999999/deliveries.pdf", headers=bearer(role_token("duty")))
    assert missing.status_code == 404 and "incident inconnu" in missing.json()["detail"]
