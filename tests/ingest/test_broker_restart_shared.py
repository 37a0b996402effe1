"""After a broker restart, mosquitto has no shared subscription until ingest subscribes again.

Issue 14, chaos run E: six readings of one moment lost across both simulators. The broker's
persistence brings a persistent session's plain subscriptions back, not its `$share/...` ones
(mosquitto 2.0.11 here): a QoS 1 message published between the restart and ingest's SUBSCRIBE
is answered PUBACK 0x10 "No matching subscribers" (not a failure code) and dropped. The simulator
counted it as delivered; it now counts and logs it (`no_subscriber`, `make chaos`'s
`simulator_no_subscriber`), so such a loss says where it came from.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from simulators.gauges.publisher import Connection
from tests.support import Broker, free_port, wait_for
from vigie.mqtt import connect_client, make_client, parse_mqtt_url


def _ingest_like(broker: Broker, filt: str, got: list[bytes], subscribe: bool) -> mqtt.Client:
    address = parse_mqtt_url(broker.url("vigie-ingest"))
    c = make_client(address, "test-ingest")
    c.on_message = lambda _c, _u, m: got.append(bytes(m.payload))
    subscribed = threading.Event()
    if subscribe:
        c.on_connect = lambda cl, _u, _f, _rc, _p: cl.subscribe([(filt, 1)])
        c.on_subscribe = lambda *_a: subscribed.set()
    connect_client(c, address, session_expiry_s=3600)
    c.loop_start()
    # Publishing before the SUBACK would lose "before" to a race (make test at 02:15, load ~9).
    assert not subscribe or subscribed.wait(10), "no SUBACK"
    return c


def _run(filt: str) -> tuple[list[bytes], int]:
    # A broker of its own, restarted here; not under pytest's root-only tmp dir (conftest.broker).
    directory = Path(tempfile.mkdtemp(prefix="vigie-mosquitto-"))
    directory.chmod(0o755)
    broker = Broker(directory, free_port())
    broker.start()
    got: list[bytes] = []
    try:
        sub = _ingest_like(broker, filt, got, subscribe=True)
        pub = Connection(parse_mqtt_url(broker.url("vigie-simulator")), "test-sim-1")
        pub.start()
        pub.publish("vigie/v1/gauges/st-1/up", b"before")
        assert pub.wait_acked(10)
        wait_for(lambda: got == [b"before"], timeout=10)
        sub.loop_stop()
        pub.close()
        broker.stop()
        broker.start()
        # A gauge back before ingest: its readings reach a broker with ingest's session only.
        pub = Connection(parse_mqtt_url(broker.url("vigie-simulator")), "test-sim-2")
        pub.start()
        for i in range(3):
            pub.publish("vigie/v1/gauges/st-1/up", f"after-{i}".encode())
        assert pub.wait_acked(10)
        # Ingest's session comes back (clean_start False), before it subscribes again.
        again = _ingest_like(broker, filt, got, subscribe=False)
        time.sleep(1.0)
        again.loop_stop()
        again.disconnect()
        pub.close()
        return got, pub.stats.no_subscriber
    finally:
        broker.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_plain_subscription_keeps_what_came_before_ingest() -> None:
    got, refused = _run("vigie/v1/gauges/+/up")
    assert got == [b"before", b"after-0", b"after-1", b"after-2"]
    assert refused == 0


def test_shared_subscription_drops_it_and_the_publisher_counts_it() -> None:
    got, refused = _run("$share/vigie-ingest/vigie/v1/gauges/+/up")
    # If this starts failing because the three arrive, mosquitto now restores shared
    # subscriptions: the loss path of chaos run E is gone with it.
    assert got == [b"before"]
    assert refused == 3
