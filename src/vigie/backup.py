"""`vigie backup` and `vigie restore`: the database, the media files and the broker's config.

A backup is a directory:
- `database.dump`: `pg_dump --format=custom`, one consistent snapshot of the whole database;
- `media.tar` and `broker.tar`: the clip and snapshot files, the broker's config, passwords and ACL;
- `manifest.json`: when, from which schema version, the row count of every table and the size
  and SHA-256 of every file, so that a restore can prove it brought everything back.

The PostgreSQL client tools must be of the server's major version or newer. Where the host's are
older (Debian 12 next to the project's PostgreSQL 17), `backup.pg_root` names a Debian root that
has the right ones (the project's own TimescaleDB runs from /var/lib/vigie/trixie) and they run
in it with chroot. The password goes to them through PGPASSWORD, never on a command line.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from vigie.db import APP_BACKUP, connect
from vigie.errors import ConfigError, VigieError
from vigie.grants import ensure_group_roles

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DUMP = "database.dump"
FORMAT = 1
Progress = Callable[[str], None]


class BackupError(VigieError):
    """A backup or restore step failed; the message says which and why."""


@dataclass(frozen=True)
class RestoreReport:
    """What a restore brought back, checked against the manifest."""

    tables: dict[str, tuple[int, int]]  # table -> (expected rows, restored rows)
    files: dict[str, int]  # archive -> files checked
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every table and file matches the manifest."""
        return not self.problems


# -- PostgreSQL client tools ----------------------------------------------------------------------
def _server_major(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(str(row[0])) // 10000


def pg_tool(name: str, major: int, pg_root: Path | None) -> list[str]:
    """The command that runs PostgreSQL's `name` (pg_dump, pg_restore) at `major` or newer."""
    for version in range(major, major + 5):
        host = Path(f"/usr/lib/postgresql/{version}/bin/{name}")
        if host.exists():
            return [str(host)]
    if pg_root is not None:
        for version in range(major, major + 5):
            inside = f"/usr/lib/postgresql/{version}/bin/{name}"
            if (pg_root / inside.lstrip("/")).exists():
                return ["chroot", str(pg_root), inside]
    found = shutil.which(name)
    if found:
        return [found]
    raise ConfigError(
        f"{name} {major} introuvable : installez postgresql-client-{major} ou réglez "
        "VIGIE_BACKUP__PG_ROOT (une racine Debian qui l'a)"
    )


def _pg_env(url: str) -> dict[str, str]:
    """libpq's environment for url: the password never appears in a process list."""
    info = conninfo_to_dict(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    mapping = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE",
               "password": "PGPASSWORD", "sslmode": "PGSSLMODE"}
    for key, var in mapping.items():
        if info.get(key):
            env[var] = str(info[key])
    return env


def _run(cmd: list[str], env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, env=env, capture_output="stdout" not in kw, check=False, **kw)  # noqa: S603


# -- files ---------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


def _archive(root: Path, target: Path) -> dict[str, dict[str, Any]]:
    """Tar every regular file under root; returns {relative path: {size, sha256}}.

    Each file is read once and hashed from the very bytes archived: a file that a running
    service rewrites meanwhile (the broker's persistence) cannot disagree with its manifest."""
    listing: dict[str, dict[str, Any]] = {}
    with tarfile.open(target, "w") as tar:
        if root.is_dir():
            for path in _files(root):
                rel = path.relative_to(root).as_posix()
                try:
                    data = path.read_bytes()  # clips are cut at camera.max_part_bytes (20 MiB)
                except FileNotFoundError:
                    continue  # removed by retention between listing and reading
                info = tar.gettarinfo(path, arcname=rel)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                listing[rel] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return listing


def _extract(archive: Path, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        # The 'data' filter refuses absolute paths, '..', links out of root and device files.
        tar.extractall(root, filter="data")


# -- tables --------------------------------------------------------------------------------------
# Runtime state, not data: the heartbeats of the processes running at backup time. Restored,
# they would show loops of processes that no longer exist as stalled (docs/liveness.md). The
# table itself is saved (the schema), its rows are not.
_NOT_SAVED = ("service_heartbeats",)


def _tables(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    return int(row[0]) if row else 0


# -- backup --------------------------------------------------------------------------------------
def backup(
    url: str,
    target: Path,
    *,
    media_dir: Path | None,
    broker_dir: Path | None,
    pg_root: Path | None = None,
    progress: Progress = log.info,
) -> dict[str, Any]:
    """Write a backup into target (created; must not exist yet); returns the manifest."""
    if target.exists():
        raise BackupError(f"{target} existe déjà : choisissez un nouveau dossier")
    target.mkdir(parents=True, mode=0o700)
    with connect(url, application_name=APP_BACKUP, autocommit=True) as conn:
        major = _server_major(conn)
        version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        # Counted inside the dump's own snapshot would be exact; counted just before, rows may
        # only grow while pg_dump runs, so the restore check is "at least this many".
        counts = {t: _count(conn, t) for t in _tables(conn) if t not in _NOT_SAVED}
    progress(f"base : {sum(counts.values())} lignes dans {len(counts)} tables, pg_dump en cours")
    with (target / DUMP).open("wb") as out:
        skip = [f"--exclude-table-data={t}" for t in _NOT_SAVED]
        done = _run([*pg_tool("pg_dump", major, pg_root), "--format=custom", "--no-password", *skip],
                    _pg_env(url), stdout=out, stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise BackupError(f"pg_dump a échoué : {done.stderr.decode(errors='replace').strip()}")
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "schema_version": version[0] if version else None,
        "server_major": major,
        "tables": counts,
        "database": {"file": DUMP, "size": (target / DUMP).stat().st_size,
                     "sha256": _sha256(target / DUMP)},
        "archives": {},
    }
    for name, root in (("media", media_dir), ("broker", broker_dir)):
        if root is None:
            continue
        progress(f"{name} : archivage de {root}")
        manifest["archives"][name] = {"root": str(root), "files": _archive(root, target / f"{name}.tar")}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), "utf-8")
    progress(f"sauvegarde écrite dans {target}")
    return manifest


# -- restore -------------------------------------------------------------------------------------
_KNOWN = 'extension "timescaledb" already exists'


def _restore_errors(returncode: int, stderr: str) -> list[str]:
    """pg_restore's errors, less the one we cause on purpose: the dump re-creates the extension
    that restore() created first (TimescaleDB's documented order), which pg_restore counts as
    an error and exits 1 for."""
    if returncode == 0:
        return []
    ignored = 0
    for line in stderr.splitlines():
        if "errors ignored on restore:" in line:
            ignored = int(line.rsplit(":", 1)[1])
    if ignored == 0 or ignored > stderr.count(_KNOWN):
        lines = [ln for ln in stderr.splitlines() if "error" in ln.lower() and _KNOWN not in ln]
        return ["pg_restore : " + " | ".join(lines)[:2000]]
    return []


def restore(
    source: Path,
    url: str,
    *,
    media_dir: Path | None,
    broker_dir: Path | None,
    pg_root: Path | None = None,
    progress: Progress = log.info,
) -> RestoreReport:
    """Restore a backup into an EMPTY database (and directories), then check it against the manifest."""
    try:
        manifest = json.loads((source / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise BackupError(f"manifeste illisible dans {source} : {e}") from e
    if manifest.get("format") != FORMAT:
        raise BackupError(f"format de sauvegarde inconnu : {manifest.get('format')!r}")
    problems: list[str] = []
    if _sha256(source / DUMP) != manifest["database"]["sha256"]:
        raise BackupError(f"{DUMP} ne correspond pas au manifeste (fichier abîmé ?)")
    with connect(url, application_name=APP_BACKUP, autocommit=True) as conn:
        if _tables(conn):
            raise BackupError("la base cible n'est pas vide : restaurez dans une base neuve")
        major = _server_major(conn)
        # TimescaleDB's documented order: the extension first, then pre_restore, which stops
        # its background workers and lets pg_restore write its catalog as plain rows.
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        # The dump names vigie_owner and the service roles (cluster-wide, absent on a new server).
        ensure_group_roles(conn)
        conn.execute("SELECT timescaledb_pre_restore()")
        progress("base : pg_restore en cours")
        with (source / DUMP).open("rb") as dump:
            done = _run([*pg_tool("pg_restore", major, pg_root), "--no-password", "--dbname",
                         str(conninfo_to_dict(url).get("dbname") or "postgres")],
                        _pg_env(url), stdin=dump)
        conn.execute("SELECT timescaledb_post_restore()")
        restored_counts = {t: _count(conn, t) for t in _tables(conn)}
    problems += _restore_errors(done.returncode, done.stderr.decode(errors="replace"))
    tables: dict[str, tuple[int, int]] = {}
    for table, expected in manifest["tables"].items():
        got = restored_counts.get(table)
        tables[table] = (int(expected), -1 if got is None else got)
        if got is None:
            problems.append(f"table {table} absente")
        elif got < int(expected):
            problems.append(f"table {table} : {got} lignes restaurées, {expected} attendues")
    files: dict[str, int] = {}
    for name, root in (("media", media_dir), ("broker", broker_dir)):
        entry = manifest["archives"].get(name)
        if entry is None or root is None:
            continue
        progress(f"{name} : restauration dans {root}")
        _extract(source / f"{name}.tar", root)
        for rel, meta in entry["files"].items():
            path = root / rel
            if not path.is_file():
                problems.append(f"{name} : {rel} manquant")
            elif _sha256(path) != meta["sha256"]:
                problems.append(f"{name} : {rel} différent de l'original")
        files[name] = len(entry["files"])
    report = RestoreReport(tables, files, tuple(problems))
    progress("restauration vérifiée" if report.ok else f"restauration : {len(problems)} problème(s)")
    return report
