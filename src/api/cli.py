"""`vigie api`: serve the HTTP API with uvicorn."""

from __future__ import annotations

import gc

import uvicorn

from api.app import create_app
from vigie.logs import setup_logging_from
from vigie.migrate import ensure_current
from vigie.service_secrets import for_service
from vigie.settings import Settings


def app() -> None:
    """Run the HTTP API (as the api login; see vigie.service_secrets)."""
    settings = Settings()
    setup_logging_from(settings)
    settings = for_service(settings, "api")
    ensure_current(settings.database_url.get_secret_value())
    application = create_app(settings)
    # What start-up built (the imports, routes, models, templates: most of the process's objects)
    # lives as long as the process. Moved out of the collector's reach, it is not walked again by
    # each full collection, a pause that every request waiting behind it felt: bench-api's p99 at
    # 200 requests/s went from 78-107 ms to 14-28 ms with this alone. Here, not in the lifespan:
    # tests build many apps in one process, and frozen garbage is never collected.
    gc.collect()
    gc.freeze()
    uvicorn.run(
        application, host=settings.api.host, port=settings.api.port, log_config=None,
        # Only api.trusted_proxies are believed, through the app's own middleware.
        proxy_headers=False,
    )
