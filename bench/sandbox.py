"""A fresh Vigie system for a bench that runs the real services (bench/soak.py,
bench/alerts_memory.py): its own database, migrated, with the services' own logins; its own
broker; the local SMTP and SMS stand-ins; and, on request, one subscriber per commune (e-mail
and SMS), as a territory's mairies would be. Everything is removed at the end."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from simulators.sinks import SmsSink, SmtpSink
from tests.support import Broker, create_database, db_url, drop_database, free_port
from vigie.logins import drop_logins, ensure_logins
from vigie.migrate import migrate


@dataclass(frozen=True)
class Sandbox:
    work: Path
    database: str  # its name
    url: str
    prefix: str  # of the services' database logins
    broker: Broker
    smtp: SmtpSink
    sms: SmsSink
    # What the bench started in the sandbox, stopped first at the end (ExitStack.callback).
    exits: ExitStack

    def env(self) -> dict[str, str]:
        """What every service started in the sandbox needs to find its database and broker."""
        return {
            "VIGIE_DATABASE_URL": self.url,
            "VIGIE_DATABASE_CREDENTIALS_FILE": str(self.work / "db-credentials.env"),
            "VIGIE_DATABASE_LOGIN_PREFIX": self.prefix,
            "VIGIE_MQTT_URL": f"mqtt://127.0.0.1:{self.broker.port}",
            "VIGIE_MQTT_CREDENTIALS_FILE": str(self.broker.directory / "credentials.env"),
            "VIGIE_OUTBOUND__ALLOW_PRIVATE": "true",  # the stand-ins listen on loopback
            "PYTHONUNBUFFERED": "1",
        }

    def add_mairies(self) -> list[str]:
        """One subscriber per commune, e-mail and SMS through the stand-ins; the communes."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            communes = [str(r[0]) for r in conn.execute("SELECT insee FROM communes ORDER BY insee")]
            for i, insee in enumerate(communes):
                channels = [
                    {"kind": "email", "url": self.smtp.apprise_url(f"mairie-{insee}@example.org")},
                    {"kind": "sms", "url": self.sms.apprise_url(f"+33610{i:06d}")},
                ]
                conn.execute(
                    "INSERT INTO subscribers (name, communes, min_level, channels) VALUES (%s,%s,%s,%s)",
                    (f"Mairie {insee}", [insee], "yellow", Jsonb(channels)),
                )
        return communes


@contextmanager
def sandbox(name: str, *, keep: bool = False) -> Iterator[Sandbox]:
    """The system, started; `keep` leaves its folder (logs, broker files) for a look after."""
    work = Path(tempfile.mkdtemp(prefix=f"vigie-{name}-"))
    work.chmod(0o755)
    database = create_database()
    url = db_url(database)
    prefix = f"vigie_t{uuid.uuid4().hex[:8]}_"
    broker = Broker(work / "broker", free_port())
    (work / "broker").mkdir()
    (work / "broker").chmod(0o755)
    smtp, sms = SmtpSink().start(), SmsSink().start()
    logins = False
    try:
        migrate(url)
        ensure_logins(
            url,
            work / "db-credentials.env",
            prefix,
            restrict_connect=False,
            valid_until=datetime.now(UTC) + timedelta(days=1),
        )
        logins = True
        broker.start()
        with ExitStack() as exits:
            yield Sandbox(work, database, url, prefix, broker, smtp, sms, exits)
    finally:
        sms.stop()
        smtp.stop()
        broker.stop()
        drop_database(database)
        if logins:
            drop_logins(url.rpartition("/")[0] + "/postgres", prefix)
        if keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def proc_rss_fds(pid: int) -> tuple[int, int]:
    """(VmRSS in bytes, open fds) of one process, from /proc."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))
