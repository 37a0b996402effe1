"""The FastAPI application: resources are created in the lifespan and handed out by deps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors, openapi
from api.limits import BodyLimit
from api.routes import (
    alerts_cap,
    catchments,
    exercises,
    health,
    incidents,
    instructions,
    metrics,
    rules,
    signup,
    stations,
    subscribers,
)
from vigie.db import APP_API, make_async_pool
from vigie.settings import Settings

ROUTERS = (
    health.router,
    metrics.router,
    stations.router,
    incidents.router,
    incidents.page_router,
    alerts_cap.router,
    rules.router,
    catchments.router,
    subscribers.router,
    instructions.router,
    exercises.router,
    signup.router,
    signup.admin_router,
    signup.page_router,
)


def create_app(settings: Settings) -> FastAPI:
    """Build the app for these settings; nothing is opened until the lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = make_async_pool(settings.database_url.get_secret_value(), name=APP_API)
        await pool.open(wait=False)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="Vigie",
        version="0.1.0",
        description="API de Vigie (Communauté de communes des Deux Vallées). Toute erreur répond"
        ' {"detail": "<raison en français>"}.',
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    app.add_middleware(BodyLimit, fastapi_app=app)
    for router in ROUTERS:
        app.include_router(router)
    openapi.install(app)
    return app
