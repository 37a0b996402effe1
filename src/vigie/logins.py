"""The LOGIN roles of one deployment: one per service, member of that service's group role.

090_roles.sql creates the NOLOGIN group roles (vigie_ingest, …) that hold the grants and can
never log in. `vigie db roles` (and `vigie up`) creates this deployment's logins,
<prefix><service>, with passwords kept in a credentials file (`role=password`, mode 0600, the
format of the broker's credentials.env), and lets only them and the migration login connect to
this database. Passwords reach the server as SCRAM verifiers computed here, so the plain text is
never in a statement the server could log.
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql

from vigie.broker import read_credentials
from vigie.db import APP_CLI, connect
from vigie.grants import SERVICES, login_name, service_role

log = logging.getLogger(__name__)


def write_credentials(path: Path, credentials: dict[str, str]) -> None:
    """Write `role=password` lines, readable by the file's owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        for user, password in credentials.items():
            out.write(f"{user}={password}\n")
    path.chmod(0o600)  # an existing file keeps its mode through O_CREAT


def ensure_logins(
    admin_url: str,
    credentials_file: Path,
    prefix: str,
    *,
    restrict_connect: bool = True,
    valid_until: datetime | None = None,
) -> dict[str, str]:
    """Create or update the four service logins; return {login: password}.

    Passwords already in credentials_file are kept (a rerun changes nothing); missing ones are
    made up. With restrict_connect, PUBLIC loses CONNECT on this database, so that another
    deployment's logins on the same server cannot open it.
    """
    known = read_credentials(credentials_file)
    wanted = {login_name(prefix, s): s for s in SERVICES}
    for name in wanted:
        known.setdefault(name, secrets.token_urlsafe(24))
    # Written before the roles change: a crash in between leaves passwords we can set again.
    write_credentials(credentials_file, known)
    until: sql.Composable = sql.SQL("")
    if valid_until is not None:
        until = sql.SQL(" VALID UNTIL {}").format(sql.Literal(valid_until.isoformat()))
    attributes = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD")
    with connect(admin_url, application_name=APP_CLI, autocommit=True) as conn:
        for name, service in wanted.items():
            verifier = conn.pgconn.encrypt_password(
                known[name].encode(), name.encode(), b"scram-sha-256"
            ).decode()
            ident, group = sql.Identifier(name), sql.Identifier(service_role(service))
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            if not exists:
                try:
                    conn.execute(
                        sql.SQL("CREATE ROLE {} {} {}{}").format(
                            ident, attributes, sql.Literal(verifier), until
                        )
                    )
                except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                    pass  # created by a concurrent run: updated just below
            conn.execute(
                sql.SQL("ALTER ROLE {} {} {}{}").format(ident, attributes, sql.Literal(verifier), until)
            )
            if not conn.execute(
                "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
                " JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = %s AND u.rolname = %s",
                (service_role(service), name),
            ).fetchone():
                conn.execute(sql.SQL("GRANT {} TO {}").format(group, ident))
        if restrict_connect:
            database = sql.Identifier(str(conn.info.dbname))
            logins = sql.SQL(", ").join(sql.Identifier(n) for n in wanted)
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(database))
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, CURRENT_USER").format(database, logins)
            )
    log.info("database logins ready: %s", ", ".join(wanted))
    return {name: known[name] for name in wanted}


def drop_logins(admin_url: str, prefix: str) -> None:
    """Drop a deployment's service logins (the tests' own, at the end of a session)."""
    with connect(admin_url, application_name=APP_CLI, autocommit=True) as conn:
        for service in SERVICES:
            conn.execute(
                sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login_name(prefix, service)))
            )
