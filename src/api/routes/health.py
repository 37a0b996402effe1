"""GET /healthz: is the database reachable, is the broker reachable, is any work loop stalled."""

from __future__ import annotations

import asyncio
import socket

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.auth import Role, require
from api.deps import Pool, SettingsDep
from api.schemas.health import Health, LoopHealth
from vigie import heartbeat_queries
from vigie.heartbeat import LoopBeat
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
    responses={
        503: {"model": Health, "description": "La base ou le broker ne répond pas, ou une boucle est bloquée"}
    },
)
async def healthz(pool: Pool, settings: SettingsDep) -> JSONResponse:
    """200 when the database and the broker answer and no service's loop is stalled; 503
    otherwise, with which one failed. Loops are named by service and loop, never host or pid."""
    database = True
    beats: list[LoopBeat] = []
    try:
        async with pool.connection(timeout=3) as conn:
            beats = await heartbeat_queries.read_all(conn)  # also the database's round trip
    except Exception:  # noqa: BLE001  # any failure means "not healthy", reported below
        database = False
    address = parse_mqtt_url(settings.mqtt_url.get_secret_value())
    broker = await asyncio.to_thread(_broker_reachable, address.host, address.port)
    stalled = [b for b in beats if b.stalled]
    ok = database and broker and not stalled
    loops = [
        LoopHealth(
            service=b.service,
            loop=b.loop,
            age_s=round(b.age_s, 1),
            max_interval_s=b.max_interval_s,
            stalled=b.stalled,
        )
        for b in beats
    ]
    health = Health(
        status="ok" if ok else "degraded",
        database=database,
        broker=broker,
        stalled=len(stalled),
        loops=loops,
    )
    return JSONResponse(
        health.model_dump(),
        status_code=200 if ok else 503,
    )
