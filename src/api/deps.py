"""Typed dependencies handing out what the lifespan created.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in its thread pool, a
thread hop per dependency per request (bench-api saw it in every request's profile)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from vigie.settings import Settings


async def _pool(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


async def _reads(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.reads
    return pool


async def _read_pool(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.read_pool
    return pool


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# The primary, each checkout one transaction (committed when the `async with` ends): writes.
Pool = Annotated[AsyncConnectionPool, Depends(_pool)]
# The primary in autocommit: reads that must be current (who is calling) and single-statement
# touches, without a BEGIN and a COMMIT around each checkout.
Reads = Annotated[AsyncConnectionPool, Depends(_reads)]
# The read replica (api.read_database_url), or the primary without one. Only for reads that may
# be a moment behind the primary: never after a write, never for what decides access.
ReadPool = Annotated[AsyncConnectionPool, Depends(_read_pool)]
SettingsDep = Annotated[Settings, Depends(_settings)]
