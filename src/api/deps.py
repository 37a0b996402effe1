"""Typed dependencies handing out what the lifespan created."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from vigie.settings import Settings


def _pool(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


def _read_pool(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.read_pool
    return pool


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Pool = Annotated[AsyncConnectionPool, Depends(_pool)]
# The read replica (api.read_database_url), or the primary without one. Only for reads that may
# be a moment behind the primary: never after a write, never for what decides access.
ReadPool = Annotated[AsyncConnectionPool, Depends(_read_pool)]
SettingsDep = Annotated[Settings, Depends(_settings)]
