"""`vigie alerts`: run the alert engine and the notifier's dispatcher until SIGTERM/SIGINT."""

from __future__ import annotations

import signal

from alerts.service import AlertsService
from vigie.db import APP_ALERTS_ENGINE, wait_until_ready
from vigie.logs import setup_logging_from
from vigie.malloc import limit_arenas
from vigie.memtrace import start_tracer
from vigie.migrate import ensure_current
from vigie.service_secrets import for_service
from vigie.settings import Settings


def app() -> None:
    """Run the alert engine (LISTEN + minute sweep) and the dispatcher; exit 0 on SIGTERM."""
    # Before any thread starts: with an arena per thread, freed memory piled up (vigie.malloc).
    limit_arenas(2)
    settings = Settings()
    setup_logging_from(settings)
    # From here on, only the alerts login and no credentials file (vigie.service_secrets).
    settings = for_service(settings, "alerts")
    url = settings.database_url.get_secret_value()
    wait_until_ready(url, application_name=APP_ALERTS_ENGINE)
    ensure_current(url)
    service = AlertsService(settings)
    # Traced from here: the imports and the start (Apprise's plugins) are not what grows, and
    # tracing them made the start so slow under load that `vigie up` judged it stalled.
    tracer = start_tracer(settings.memtrace_dir, "alerts", settings.memtrace_interval_s)
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    service.run()
    if tracer is not None:
        tracer.stop()
