"""`vigie ingest`: run the MQTT → TimescaleDB ingest service."""

from __future__ import annotations

import signal

from ingest.retention import apply_retention
from ingest.service import IngestService
from vigie.db import wait_until_ready
from vigie.jobs import guarded, make_scheduler
from vigie.logs import setup_logging
from vigie.migrate import migrate
from vigie.mqtt import service_address
from vigie.settings import Settings


def app() -> None:
    """Run ingest until SIGTERM/SIGINT: then flush, acknowledge and exit 0."""
    settings = Settings()
    setup_logging(settings.log_level)
    url = settings.database_url.get_secret_value()
    wait_until_ready(url)
    migrate(url)
    address = service_address(
        settings.mqtt_url.get_secret_value(), "vigie-ingest", settings.mqtt_credentials_file
    )
    service = IngestService(settings, address, url)
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    scheduler = make_scheduler()
    cfg = settings.ingest
    scheduler.add_job(
        guarded(
            "retention",
            lambda: apply_retention(url, cfg.raw_retention_days, cfg.dead_letter_retention_days),
        ),
        "interval",
        seconds=cfg.retention_check_s,
    )
    scheduler.start()
    try:
        service.run()
    finally:
        scheduler.shutdown(wait=False)
