"""The camera worker's own MQTT status: online while connected, a retained Last Will offline."""

from __future__ import annotations

import uuid

from camera.mqtt_events import CameraPublisher, worker_status_topic
from tests.camera.factories import MqttCollector
from tests.support import Broker, wait_for
from vigie.mqtt import parse_mqtt_url


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _states(collector: MqttCollector, topic: str) -> list[str]:
    return [str(p["state"]) for p in collector.of(topic.split("/cameras", 1)[1])]


def test_a_worker_that_vanishes_is_announced_offline_by_its_last_will(broker: Broker) -> None:
    client_id = unique("camera-will")
    topic = worker_status_topic("vigie/v1", client_id)
    pub = CameraPublisher(parse_mqtt_url(broker.url("vigie-camera")), client_id)
    assert pub.start()
    watcher = MqttCollector(broker.url("vigie-api"), topic=topic)
    try:
        wait_for(lambda: _states(watcher, topic)[-1:] == ["online"], timeout=10)
        # Vanish without DISCONNECT (power cut, crash): the broker publishes the Last Will.
        sock = pub.client.socket()
        assert sock is not None
        pub.client.loop_stop()
        sock.close()
        wait_for(lambda: _states(watcher, topic)[-1:] == ["offline"], timeout=10)
    finally:
        watcher.close()
    # Retained: whoever subscribes later learns the worker is offline.
    late = MqttCollector(broker.url("vigie-api"), topic=topic)
    try:
        wait_for(lambda: _states(late, topic) == ["offline"], timeout=10)
    finally:
        late.close()


def test_a_clean_stop_also_says_offline(broker: Broker) -> None:
    client_id = unique("camera-stop")
    topic = worker_status_topic("vigie/v1", client_id)
    pub = CameraPublisher(parse_mqtt_url(broker.url("vigie-camera")), client_id)
    assert pub.start()
    pub.stop()
    late = MqttCollector(broker.url("vigie-api"), topic=topic)
    try:
        wait_for(lambda: _states(late, topic) == ["offline"], timeout=10)
    finally:
        late.close()


def test_worker_topic_has_no_wildcards() -> None:
    assert worker_status_topic("vigie/v1", "a+b#c/d") == "vigie/v1/cameras/_worker/a_b_c_d/status"
