"""`vigie ingest`: run the MQTT → TimescaleDB ingest service."""

from __future__ import annotations

import signal

import typer

from ingest.retention import apply_retention, cluster_past_chunks
from ingest.service import IngestService
from vigie.db import APP_INGEST, wait_until_ready
from vigie.jobs import guarded, make_scheduler
from vigie.logs import setup_logging_from
from vigie.migrate import ensure_current
from vigie.mqtt import service_address
from vigie.service_secrets import for_service
from vigie.settings import IngestSettings, Settings
from vigie.supervise import Child, supervise


def worker_client_id(cfg: IngestSettings, k: int) -> str:
    """The MQTT client id (and persistent session) of ingest process k of cfg.processes.

    Process 1 keeps the configured id, so a site that adds processes keeps its session.
    """
    return cfg.client_id if k == 1 else f"{cfg.client_id}-p{k}"


def app() -> None:
    """Run ingest until SIGTERM/SIGINT: then flush, acknowledge and exit 0."""
    settings = Settings()
    setup_logging_from(settings)
    # Only the ingest login and broker account from here on (vigie.service_secrets).
    settings = for_service(settings, "ingest")
    url = settings.database_url.get_secret_value()
    wait_until_ready(url, application_name=APP_INGEST)
    ensure_current(url)
    cfg = settings.ingest
    if cfg.processes > 1:
        # Each process is a whole one-process ingest with its own session on the shared
        # subscription; this one only supervises them.
        code = supervise(
            [
                Child(
                    ("ingest",),
                    {
                        "VIGIE_INGEST__PROCESSES": "1",
                        "VIGIE_INGEST__SHARED_SUBSCRIPTION": "true",
                        "VIGIE_INGEST__CLIENT_ID": worker_client_id(cfg, k),
                    },
                    label=worker_client_id(cfg, k),
                )
                for k in range(1, cfg.processes + 1)
            ],
            settings.liveness,
            url,
        )
        raise typer.Exit(code)
    address = service_address(
        settings.mqtt_url.get_secret_value(),
        "vigie-ingest",
        settings.mqtt_credentials_file,
        settings.mqtt_ca_file,
    )
    service = IngestService(settings, address, url)
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    scheduler = make_scheduler()
    # Every worker schedules it; an advisory lock in apply_retention lets one run at a time.
    scheduler.add_job(
        guarded(
            "retention",
            lambda: apply_retention(url, cfg.raw_retention_days, cfg.dead_letter_retention_days),
        ),
        "interval",
        seconds=cfg.retention_check_s,
    )
    # Same advisory lock: one worker at a time, and not while retention runs.
    scheduler.add_job(
        guarded("cluster", lambda: cluster_past_chunks(url)), "interval", seconds=cfg.retention_check_s
    )
    scheduler.start()
    try:
        service.run()
    finally:
        scheduler.shutdown(wait=False)
