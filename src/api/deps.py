"""Typed dependencies handing out what the lifespan created."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from vigie.settings import Settings


def _pool(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Pool = Annotated[AsyncConnectionPool, Depends(_pool)]
SettingsDep = Annotated[Settings, Depends(_settings)]
