"""The FastAPI application: resources are created in the lifespan and handed out by deps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import errors, live, openapi
from api.hardening import SecurityHeadersMiddleware
from api.limits import BodyLimit
from api.routes import (
    alerts_cap,
    audit,
    cameras,
    catchments,
    deployments,
    event_media,
    events,
    exercises,
    health,
    incidents,
    instructions,
    maintenance,
    metrics,
    observations,
    rain_recent,
    rules,
    signup,
    species,
    species_references,
    station_admin,
    stations,
    subscribers,
    tokens,
    users,
)
from api.routes import camtrap as camtrap_routes
from api.routes import live as live_routes
from api.web import errors as web_errors
from api.web.routes import (
    account,
    admin,
    admin_alerting,
    admin_cameras,
    admin_network,
    admin_residents,
    api_docs,
    duty,
)
from api.web.routes import review as review_pages
from api.web.routes import review_export as review_export_page
from api.web.routes import stations as station_pages
from api.web.routes import vigilance as vigilance_page
from api.web.static import STATIC_DIR, URL_PREFIX, CachedStatic
from api.web.templates import Pages
from vigie.db import APP_API, APP_API_READ, make_async_pool
from vigie.settings import Settings

ROUTERS = (
    health.router,
    metrics.router,
    stations.router,
    # Every station's recent rain (the map's query). Near the top: routes are matched in order,
    # and the map's and the charts' reads are the hottest paths (bench-api).
    rain_recent.router,
    incidents.router,
    incidents.page_router,
    alerts_cap.router,
    rules.router,
    catchments.router,
    subscribers.router,
    users.router,
    tokens.router,
    audit.router,
    account.router,
    admin.router,
    instructions.router,
    exercises.router,
    signup.router,
    signup.admin_router,
    signup.page_router,
    vigilance_page.router,
    # Issue 10 §2: stations' CRUD, device accounts and health; the maintenance list.
    station_admin.router,
    maintenance.router,
    # api-readings
    live_routes.router,
    api_docs.router,
    # web-stations: the technicians' map, station and maintenance pages
    station_pages.router,
    # web-admin: admin pages of the network, the alerts and the residents
    admin_network.router,
    admin_alerting.router,
    admin_residents.router,
    # web-duty: the person on duty's pages
    duty.router,
    # review-api (issue 11 §1): the naturalists' review.
    events.router,
    events.bulk_router,
    event_media.router,
    observations.router,
    deployments.router,
    species.router,
    # cameras (issue 11 §1 and §2): the cameras API and the admin cameras pages.
    cameras.router,
    admin_cameras.router,
    # review-web (issue 11 §2): the naturalists' gallery and viewer
    review_pages.router,
    # camtrap (issue 11 §1): the Camtrap DP export and the species summary.
    camtrap_routes.router,
    # reviewbench (issue 11 §2): the Camtrap DP export page; the species' reference frames.
    review_export_page.router,
    species_references.router,
)


def create_app(settings: Settings) -> FastAPI:
    """Build the app for these settings; nothing is opened until the lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        primary = settings.database_url.get_secret_value()
        pool = make_async_pool(primary, name=APP_API)
        await pool.open(wait=False)
        app.state.pool = pool
        # Reads on the primary without a transaction per checkout (deps.Reads): who is calling.
        reads = make_async_pool(primary, name=APP_API, autocommit=True)
        await reads.open(wait=False)
        app.state.reads = reads
        # The read replica's pool, or the primary's reads when there is none (deps.ReadPool).
        read_url = settings.api.read_database_url
        read_pool = reads
        if read_url is not None:
            read_pool = make_async_pool(read_url.get_secret_value(), name=APP_API_READ, autocommit=True)
            await read_pool.open(wait=False)
        app.state.read_pool = read_pool
        # api-readings: the one LISTEN connection of the live stream, opened with its first client.
        app.state.live = live.LiveHub(settings.database_url.get_secret_value())
        try:
            yield
        finally:
            await app.state.live.close()
            if read_pool is not reads:
                await read_pool.close()
            await reads.close()
            await pool.close()

    # FastAPI's own /docs and /redoc load Swagger UI from a CDN, and Vigie fetches nothing from
    # outside (the CSP forbids it): /docs is our page (web/routes/api_docs.py) on the npm copy.
    app = FastAPI(
        title="Vigie",
        version="0.1.0",
        description="API de Vigie (Communauté de communes des Deux Vallées). Toute erreur répond"
        ' {"detail": "<raison en français>"}.',
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    pages = Pages(settings)
    app.state.pages = pages
    errors.install(app)
    web_errors.install(app, pages)
    app.add_middleware(BodyLimit, fastapi_app=app)
    for router in ROUTERS:
        app.include_router(router)
    openapi.install(app)
    app.mount(URL_PREFIX, CachedStatic(directory=STATIC_DIR), name="static")
    # Last added runs first: proxy headers fix the client address and scheme before anything.
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.api.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.api.trusted_proxies))
    return app
