"""Fixtures shared by the live camera tests (test_worker.py, test_rtsp.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from psycopg_pool import ConnectionPool

from camera.mqtt_events import CameraPublisher
from tests.camera.factories import MqttCollector, unique
from tests.support import Broker
from vigie.mqtt import parse_mqtt_url


@pytest.fixture
def pool(service_db_url: Callable[[str], str]) -> Iterator[ConnectionPool]:
    """A pool on this test's database as the camera worker's login (its grants only)."""
    p = ConnectionPool(service_db_url("camera"), min_size=1, max_size=6, open=False)
    p.open()
    p.wait()
    yield p
    p.close()


@pytest.fixture
def publisher(broker: Broker) -> Iterator[CameraPublisher]:
    pub = CameraPublisher(parse_mqtt_url(broker.url("vigie-camera")), unique("test-camera"))
    assert pub.start()
    yield pub
    pub.stop()


@pytest.fixture
def collector(broker: Broker) -> Iterator[MqttCollector]:
    c = MqttCollector(broker.url("vigie-api"))
    yield c
    c.close()
