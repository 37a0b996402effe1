"""`vigie api`: serve the HTTP API with uvicorn."""

from __future__ import annotations

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
    uvicorn.run(
        create_app(settings), host=settings.api.host, port=settings.api.port, log_config=None,
        # Only api.trusted_proxies are believed, through the app's own middleware.
        proxy_headers=False,
    )
