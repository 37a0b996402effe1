"""Plain factory functions for camera tests."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from camera.store import Camera


def camera(camera_id: str = "etang-nord", url: str = "http://127.0.0.1:9/stream", **kw: Any) -> Camera:
    """A camera row with sensible defaults."""
    fields: dict[str, Any] = {
        "name": f"Caméra {camera_id}",
        "source_kind": "mjpeg",
        "lat": 49.51,
        "lon": 2.93,
        "habitat": "roselière",
        **kw,
    }
    return Camera(id=camera_id, source_url=url, **fields)


def unique(prefix: str) -> str:
    """A name no other test uses (camera ids, MQTT client ids)."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


class MqttCollector:
    """Subscribes (as the read-only vigie-api account) and keeps every camera message."""

    def __init__(self, url: str, topic: str = "vigie/v1/cameras/#") -> None:
        from vigie.mqtt import connect_client, make_client, parse_mqtt_url

        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self._lock = threading.Lock()
        address = parse_mqtt_url(url)
        self.client = make_client(address, f"test-collector-{uuid.uuid4().hex[:8]}")
        subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
        connect_client(self.client, address)
        self.client.loop_start()
        assert subscribed.wait(10), "subscription not acknowledged"

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self._lock:
            self.messages.append((msg.topic, json.loads(msg.payload), bool(msg.retain)))

    def of(self, topic_suffix: str) -> list[dict[str, Any]]:
        with self._lock:
            return [p for t, p, _ in self.messages if t.endswith(topic_suffix)]

    def states(self, camera_id: str) -> list[str]:
        """Successive distinct states published on the camera's status topic."""
        out: list[str] = []
        for p in self.of(f"/{camera_id}/status"):
            if not out or out[-1] != p["state"]:
                out.append(str(p["state"]))
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
