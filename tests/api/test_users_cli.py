"""`vigie users` and `vigie tokens` against the real database, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from api.accounts.passwords import verify_password

VIGIE = str(Path(sys.executable).with_name("vigie"))
Db = psycopg.Connection[tuple[object, ...]]


def vigie(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "VIGIE_DATABASE_URL": database_url}
    return subprocess.run(
        [VIGIE, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_first_admin_with_a_password_from_stdin(database_url: str, db: Db) -> None:
    r = vigie(
        database_url,
        "users",
        "create",
        "alice",
        "--name",
        "Alice Martin",
        "--role",
        "admin",
        "--password-stdin",
        stdin="une phrase de passe assez longue\n",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""  # nothing secret printed when the password came from stdin
    row = db.execute(
        "SELECT roles, password_hash, must_change_password FROM users WHERE login = 'alice'"
    ).fetchone()
    assert row is not None and row[0] == ["admin"] and row[2] is False
    assert verify_password(str(row[1]), "une phrase de passe assez longue")
    audit = db.execute("SELECT action, actor FROM audit_log").fetchall()
    assert len(audit) == 1 and audit[0][0] == "user.created" and str(audit[0][1]).startswith("cli:")


def test_one_time_password_roles_disable_and_reset(database_url: str, db: Db) -> None:
    made = vigie(database_url, "users", "create", "bruno", "--role", "technician")
    assert made.returncode == 0, made.stderr
    one_time = made.stdout.strip()
    assert len(one_time) == 16
    row = db.execute("SELECT password_hash, must_change_password FROM users WHERE login = 'bruno'").fetchone()
    assert row is not None and verify_password(str(row[0]), one_time) and row[1] is True

    assert (
        vigie(database_url, "users", "set-roles", "bruno", "--role", "duty", "--role", "viewer").returncode
        == 0
    )
    listed = vigie(database_url, "users", "list").stdout
    assert "bruno\tduty,viewer\tactif\tbruno" in listed

    assert vigie(database_url, "users", "disable", "bruno").returncode == 0
    assert "bruno\tduty,viewer\tdésactivé" in vigie(database_url, "users", "list").stdout
    assert vigie(database_url, "users", "disable", "bruno", "--enable").returncode == 0

    reset = vigie(database_url, "users", "reset-password", "bruno")
    assert reset.returncode == 0 and len(reset.stdout.strip()) == 16 and reset.stdout.strip() != one_time

    bad = vigie(database_url, "users", "set-roles", "bruno", "--role", "chef")
    assert bad.returncode == 1 and "rôle inconnu" in bad.stderr
    missing = vigie(database_url, "users", "disable", "personne")
    assert missing.returncode == 1 and "utilisateur inconnu" in missing.stderr
    dup = vigie(database_url, "users", "create", "bruno", "--role", "viewer")
    assert dup.returncode == 1 and "déjà pris" in dup.stderr
    actions = [a for (a,) in db.execute("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["user.created", "user.roles", "user.disabled", "user.enabled", "password.reset"]


def test_tokens_from_the_cli(database_url: str, db: Db) -> None:
    vigie(database_url, "users", "create", "supervision", "--role", "viewer")
    made = vigie(
        database_url,
        "tokens",
        "create",
        "--user",
        "supervision",
        "--name",
        "préfecture",
        "--role",
        "viewer",
        "--days",
        "7",
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("vigie_")
    listed = vigie(database_url, "tokens", "list").stdout
    assert "supervision\tpréfecture\tviewer" in listed and secret not in listed
    token_id = listed.split("\t")[0]
    assert vigie(database_url, "tokens", "revoke", token_id).returncode == 0
    assert "révoqué" in vigie(database_url, "tokens", "list").stdout
    over = vigie(database_url, "tokens", "create", "--user", "supervision", "--name", "x", "--role", "admin")
    assert over.returncode == 1 and "n'a pas ces rôles" in over.stderr
