"""Camera events and status on MQTT, as the `vigie-camera` account.

Topics (see src/vigie/broker.py for the ACL):
- vigie/v1/cameras/<cam>/events: {"type": "new" | "end", "camera": ..., "event": {...}}, QoS 1,
  in the spirit of Frigate's frigate/events;
- vigie/v1/cameras/<cam>/status: {"state": "online" | "lost" | ..., health figures}, retained;
- vigie/v1/cameras/_worker/<client id>/status: {"worker": ..., "state": "online" | "offline"},
  retained; the broker holds "offline" as the connection's Last Will, as for the gauges, so a
  worker that dies or loses its network says so without a word from it.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt

from vigie.mqtt import BrokerAddress, connect_client, make_client

log = logging.getLogger(__name__)


def events_topic(root: str, camera_id: str) -> str:
    """vigie/v1/cameras/<cam>/events."""
    return f"{root}/cameras/{camera_id}/events"


def status_topic(root: str, camera_id: str) -> str:
    """vigie/v1/cameras/<cam>/status."""
    return f"{root}/cameras/{camera_id}/status"


def worker_status_topic(root: str, client_id: str) -> str:
    """vigie/v1/cameras/_worker/<client id>/status (MQTT wildcards and slashes replaced)."""
    safe = "".join("_" if ch in "+#/" else ch for ch in client_id)
    return f"{root}/cameras/_worker/{safe}/status"


class CameraPublisher:
    """One paho client for every camera of the worker; publish() is thread-safe in paho 2.

    Publishing never blocks a camera: paho queues messages while the broker is away and sends
    them after its own reconnect.
    """

    def __init__(self, address: BrokerAddress, client_id: str, topic_root: str = "vigie/v1") -> None:
        self.address = address
        self.root = topic_root
        self.client = make_client(address, client_id)
        self.client.max_queued_messages_set(10_000)
        self._connected = threading.Event()
        self._stopping = False
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        # One connection serves every camera of the worker, and MQTT gives a connection one
        # Last Will: it goes on the worker's own status topic, retained, like the gauges'.
        self.client_id = client_id
        self.worker_topic = worker_status_topic(topic_root, client_id)
        self.client.will_set(self.worker_topic, self._worker_state("offline"), qos=1, retain=True)

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        if reason.is_failure:
            log.error("broker MQTT refuse la connexion du worker caméra : %s", reason)
        else:
            # After every (re)connection: the retained Last Will said offline meanwhile.
            self.client.publish(self.worker_topic, self._worker_state("online"), qos=1, retain=True)
            self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        self._connected.clear()
        if self._stopping:
            return
        log.warning("déconnecté du broker MQTT (%s) ; reconnexion automatique", reason)

    def start(self, wait_s: float = 10.0) -> bool:
        """Connect and start paho's network thread; True when connected within wait_s."""
        try:
            connect_client(self.client, self.address)
        except OSError as exc:
            log.error("broker MQTT injoignable (%s) ; nouvel essai en tâche de fond", exc)
            self.client.connect_async(self.address.host, self.address.port, keepalive=30)
            self.client.loop_start()
            return False
        self.client.loop_start()
        return self._connected.wait(wait_s)

    def _worker_state(self, state: str) -> str:
        return json.dumps({"worker": self.client_id, "state": state})

    def stop(self) -> None:
        """Say offline (a clean DISCONNECT does not fire the Last Will), flush and disconnect."""
        self._stopping = True
        info = self.client.publish(self.worker_topic, self._worker_state("offline"), qos=1, retain=True)
        if self._connected.is_set():
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                log.warning("statut hors ligne du worker caméra non confirmé par le broker")
        self.client.disconnect()
        self.client.loop_stop()

    def _publish(self, topic: str, payload: dict[str, Any], *, retain: bool) -> None:
        info = self.client.publish(topic, json.dumps(payload, default=str), qos=1, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("publication MQTT sur %s refusée (rc=%s)", topic, info.rc)

    def event(self, camera_id: str, kind: str, event: dict[str, Any]) -> None:
        """Publish an event message: kind is 'new' or 'end'."""
        self._publish(
            events_topic(self.root, camera_id),
            {"type": kind, "camera": camera_id, "event": event},
            retain=False,
        )

    def status(self, camera_id: str, status: dict[str, Any]) -> None:
        """Publish the camera's retained status (online/lost/error/stopped and health)."""
        self._publish(status_topic(self.root, camera_id), {"camera": camera_id, **status}, retain=True)
