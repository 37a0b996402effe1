"""Bridging from Mosquitto (issue 14 §6, the next broker): an edge Mosquitto on the gauges' side,
bridged to the core Mosquitto where ingest subscribes, both with the project's configuration
(vigie.broker, the bridge section included) and no anonymous access. A gauge publishes to the
edge; its readings are stored once, its Last Will crosses the bridge, and what it publishes while
the bridge's link is cut is delivered once the link is back (QoS 1, persistent sessions).

The link runs through bench/fault_proxy.py, stopped (every connection aborted) and started again
on the same port: a cut, not a slow link."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from bench.fault_proxy import FaultProxy
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import Publisher, publisher
from tests.support import Broker, Service, free_port, running, wait_for
from vigie import stations
from vigie.broker import Bridge
from vigie.stations import StationIn

Db = psycopg.Connection[tuple[object, ...]]
READY = "subscribed to"
GATEWAYS = ("vigie-simulator", "chirpstack", "vigie-bridge")


def _count(db: Db, query: str, params: tuple[object, ...] = ()) -> int:
    row = db.execute(query, params).fetchone()
    assert row is not None
    return int(str(row[0]))


def _broker_dir() -> Path:
    # Not under pytest's tmp dir (root-only): Mosquitto drops to its own user.
    directory = Path(tempfile.mkdtemp(prefix="vigie-mosquitto-"))
    directory.chmod(0o755)
    return directory


@pytest.fixture
def core_edge() -> Iterator[tuple[Broker, Broker, FaultProxy]]:
    """(core, edge, the link's proxy): the edge's bridge logs in to the core through the proxy."""
    core_dir, edge_dir = _broker_dir(), _broker_dir()
    core = Broker(core_dir, free_port(), gateways=GATEWAYS)
    core.start()
    proxy = FaultProxy(core.port, free_port()).start()
    bridge = Bridge("edge-1", "127.0.0.1", proxy.port, core.password("vigie-bridge"), restart_s=1)
    edge = Broker(edge_dir, free_port(), bridge=bridge, gateways=())
    edge.start()
    try:
        yield core, edge, proxy
    finally:
        edge.stop()
        with contextlib.suppress(RuntimeError):  # the test stopped it already (the cut)
            proxy.stop()
        core.stop()
        shutil.rmtree(core_dir, ignore_errors=True)
        shutil.rmtree(edge_dir, ignore_errors=True)


class Gauge:
    """A gauge's MQTT session on the edge's devices listener, with its Last Will (retained
    `offline` on its status topic, as the firmware sets it), that can die without a word."""

    def __init__(self, url: str, station: str) -> None:
        self.station = station
        self.pub = Publisher(url, will=(topic(station, "status"), "offline"))

    def die(self) -> None:
        """Drop the TCP connection without DISCONNECT: the broker publishes the Will. The network
        loop stops first, or paho would reconnect at once."""
        sock = self.pub.client.socket()
        assert isinstance(sock, socket.socket)
        self.pub.client.loop_stop()
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        self.pub.client._reset_sockets()


def test_edge_bridged_to_core_stores_once_carries_the_will_and_delivers_the_backlog(
    core_edge: tuple[Broker, Broker, FaultProxy],
    db: Db,
    make_ingest: Callable[..., Service],
) -> None:
    core, edge, proxy = core_edge
    sid = f"br-{uuid.uuid4().hex[:8]}"
    stations.add(db, StationIn(id=sid, name="Pont", commune_insee="60636", lat=49.47, lon=2.88, tip_mm=0.2))
    device_url = edge.add_device(sid, uuid.uuid4().hex)
    q = "SELECT count(*) FROM rain_readings WHERE station_id = %s"
    online = "SELECT online FROM device_status WHERE station_id = %s"

    # No anonymous access on either side; the gauge's account exists on the edge only, and the
    # bridge's account on the core may write the gauges' topics, nothing else.
    for port in (edge.port, edge.devices_port, core.port, core.devices_port):
        with pytest.raises(ConnectionRefusedError, match=r"(?i)not authori[sz]ed"):
            publisher(f"mqtt://127.0.0.1:{port}").__enter__()
    with pytest.raises(ConnectionRefusedError, match=r"(?i)bad user name or password|not authori[sz]ed"):
        publisher(device_url.replace(f":{edge.devices_port}", f":{core.devices_port}")).__enter__()
    with publisher(core.url("vigie-bridge")) as as_bridge:
        assert as_bridge.publish("vigie/v1/alerts/fake", "x") == 135  # not authorized

    with running(make_ingest(VIGIE_MQTT_URL=core.url("vigie-ingest")), ready=READY):
        first, later = 30, 20
        gauge = Gauge(device_url, sid)
        assert gauge.pub.publish(topic(sid, "status"), "online", retain=True) == 0
        codes = gauge.pub.publish_many([(topic(sid), reading(i, minute(i))) for i in range(1, first + 1)])
        assert set(codes) == {0}
        wait_for(lambda: _count(db, q, (sid,)) == first, timeout=30)
        wait_for(lambda: db.execute(online, (sid,)).fetchone() == (True,), timeout=10)

        # The gauge dies: the edge publishes its Will, which crosses the bridge to ingest.
        gauge.die()
        wait_for(lambda: db.execute(online, (sid,)).fetchone() == (False,), timeout=30)

        # Back, and the link is cut: the edge accepts (PUBACK) and holds what it cannot forward.
        with publisher(device_url) as back:
            assert back.publish(topic(sid, "status"), "online", retain=True) == 0
            wait_for(lambda: db.execute(online, (sid,)).fetchone() == (True,), timeout=30)
            proxy.stop()
            time.sleep(1)  # the edge sees its bridge gone
            msgs = [(topic(sid), reading(i, minute(i))) for i in range(first + 1, first + later + 1)]
            assert set(back.publish_many(msgs)) == {0}
            time.sleep(3)
            assert _count(db, q, (sid,)) == first  # nothing crossed the cut link
            restored = FaultProxy(core.port, proxy.port).start()
            try:
                wait_for(lambda: _count(db, q, (sid,)) == first + later, timeout=60)
                time.sleep(2)  # a late redelivery would show as a duplicate now
            finally:
                restored.stop()
    assert _count(db, q, (sid,)) == first + later
    assert (
        _count(db, "SELECT count(DISTINCT ts) FROM rain_readings WHERE station_id = %s", (sid,))
        == first + later
    )
    assert _count(db, "SELECT sum(readings) FROM rain_5min WHERE station_id = %s", (sid,)) == first + later
    assert _count(db, "SELECT count(*) FROM dead_letters") == 0
