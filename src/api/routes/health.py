"""GET /healthz: is the database reachable, is the broker reachable."""

from __future__ import annotations

import asyncio
import socket

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.auth import Role, require
from api.deps import Pool, SettingsDep
from api.queries import database as database_queries
from api.schemas.health import Health
from vigie.mqtt import parse_mqtt_url

router = APIRouter()


def _broker_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@router.get(
    "/healthz",
    dependencies=[require(Role.PUBLIC)],
    response_model=Health,
    responses={503: {"model": Health, "description": "La base ou le broker ne répond pas"}},
)
async def healthz(pool: Pool, settings: SettingsDep) -> JSONResponse:
    """200 when the database and the broker answer, 503 otherwise, with which one failed."""
    database = True
    try:
        async with pool.connection(timeout=3) as conn:
            await database_queries.ping(conn)
    except Exception:  # noqa: BLE001  # any failure means "not healthy", reported below
        database = False
    address = parse_mqtt_url(settings.mqtt_url.get_secret_value())
    broker = await asyncio.to_thread(_broker_reachable, address.host, address.port)
    ok = database and broker
    return JSONResponse(
        Health(status="ok" if ok else "degraded", database=database, broker=broker).model_dump(),
        status_code=200 if ok else 503,
    )
