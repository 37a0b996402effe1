"""bench-api's load generator, in its own process: open-loop HTTP and 200 SSE clients.

Run by bench/api.py as `python -m bench.api_load SPEC_JSON`; prints one JSON result on stdout.
The HTTP client is a few lines of asyncio over keep-alive sockets rather than httpx, so that the
generator's own CPU (on the same two cores as the API) stays small next to what it measures.

Open loop: request i is due at start + i / rate whatever the earlier answers did, and its latency
is counted from that due time, so a slow API cannot slow the offered load down and hide its own
queueing (no coordinated omission). The generator's lateness in sending is reported too.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vigie.mqtt import connect_client, make_client, parse_mqtt_url

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 100)))  # ceil(q/100 * n)
    return ordered[min(rank, len(ordered)) - 1]


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connexion fermée par l'API")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> int:
    """Read a whole body (Content-Length or chunked); its size in bytes."""
    if "content-length" in headers:
        return len(await reader.readexactly(int(headers["content-length"])))
    size = 0
    while True:
        n = int((await reader.readline()).split(b";")[0], 16)
        await reader.readexactly(n + 2)
        size += n
        if n == 0:
            return size


@dataclass
class Http:
    """GETs over at most `max_connections` keep-alive connections, as a pool of API clients
    would hold; a request due while all are busy waits for one, and that wait counts in its
    latency (see open_loop)."""

    host: str
    port: int
    token: str
    max_connections: int = 64
    idle: list[Streams] = field(default_factory=list)
    opened: int = 0
    slots: asyncio.Semaphore | None = None

    async def get(self, path: str) -> int:
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.max_connections)
        async with self.slots:
            return await self._get(path)

    async def _get(self, path: str) -> int:
        streams = self.idle.pop() if self.idle else None
        if streams is None:
            streams = await asyncio.open_connection(self.host, self.port)
            self.opened += 1
        reader, writer = streams
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.token}\r\n\r\n".encode()
        )
        try:
            status, headers = await read_head(reader)
            await read_body(reader, headers)
        except BaseException:
            writer.close()
            raise
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append(streams)
        return status


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (0 without a pid)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def open_loop(
    http: Http, rate: float, duration: float, paths: dict[str, list[str]], api_pid: int | None = None
) -> dict[str, Any]:
    """`rate` requests/s for `duration` s, the kinds in turn, each path of a kind drawn at random.
    With the API's pid, its CPU per answered request too: what sets its rate on a free core."""
    loop = asyncio.get_running_loop()
    kinds = sorted(paths)
    rng = random.Random(int(rate))
    lat: dict[str, list[float]] = {k: [] for k in kinds}
    errors: dict[str, int] = dict.fromkeys(kinds, 0)
    send_lag: list[float] = []
    done_at: list[float] = []

    async def one(kind: str, path: str, due: float) -> None:
        send_lag.append(loop.time() - due)
        try:
            status = await http.get(path)
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            status = 0
        now = loop.time()
        if status == 200:
            lat[kind].append(now - due)
            done_at.append(now)
        else:
            errors[kind] += 1

    n = int(rate * duration)
    cpu_before = cpu_s(api_pid)
    start = loop.time() + 0.1
    tasks = []
    for i in range(n):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        kind = kinds[i % len(kinds)]
        tasks.append(asyncio.create_task(one(kind, rng.choice(paths[kind]), due)))
    await asyncio.gather(*tasks)
    api_cpu = cpu_s(api_pid) - cpu_before
    ok = sum(len(v) for v in lat.values())
    span = (max(done_at) - start) if done_at else 0.0
    return {
        "offered_rate_per_s": rate,
        "duration_s": duration,
        "requests": n,
        "ok": ok,
        "errors": errors,
        "achieved_rate_per_s": round(ok / span, 1) if span > 0 else 0.0,
        "p50_ms": {k: _ms(percentile(v, 50)) for k, v in lat.items()},
        "p99_ms": {k: _ms(percentile(v, 99)) for k, v in lat.items()},
        "max_ms": {k: _ms(max(v) if v else None) for k, v in lat.items()},
        "send_lag_p99_ms": _ms(percentile(send_lag, 99)),
        "connections": http.opened,
        "api_cpu_ms_per_request": round(api_cpu * 1000 / ok, 2) if api_pid and ok else None,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


@dataclass
class Round:
    """One published reading and the clients that have received it."""

    published_at: float
    want: int
    got: int = 0
    last: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Fanout:
    clients: int
    connected: int = 0
    all_connected: asyncio.Event = field(default_factory=asyncio.Event)
    rounds: dict[tuple[str, float], Round] = field(default_factory=dict)
    dropped: int = 0

    def arrived(self, key: tuple[str, float], at: float) -> None:
        r = self.rounds.get(key)
        if r is None:
            return
        r.got += 1
        r.last = max(r.last, at)
        if r.got >= r.want:
            r.done.set()


async def sse_client(host: str, port: int, token: str, fan: Fanout, stop: asyncio.Event) -> None:
    """One /api/v1/live stream; each `reading` event is counted against its round."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /api/v1/live HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    status, headers = await read_head(reader)
    if status != 200:
        raise RuntimeError(f"/api/v1/live: HTTP {status}")
    chunked = headers.get("transfer-encoding", "").lower() == "chunked"
    buf = b""
    connected = False
    try:
        while not stop.is_set():
            if chunked:
                n = int((await reader.readline()).split(b";")[0], 16)
                if n == 0:
                    break
                data = await reader.readexactly(n + 2)
                buf += data[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    break
                buf += data
            now = loop.time()
            while b"\n\n" in buf:
                raw, buf = buf.split(b"\n\n", 1)
                event, payload = "", ""
                for line in raw.decode().splitlines():
                    if line.startswith("retry:") and not connected:
                        connected = True
                        fan.connected += 1
                        if fan.connected >= fan.clients:
                            fan.all_connected.set()
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        payload = line[5:].strip()
                if event == "reading" and payload:
                    row = json.loads(payload)
                    fan.arrived((row["station_id"], datetime.fromisoformat(row["ts"]).timestamp()), now)
    except (OSError, asyncio.IncompleteReadError):
        fan.dropped += 1
    finally:
        writer.close()


async def sse_fanout(spec: dict[str, Any]) -> dict[str, Any]:
    """`clients` live streams; `rounds` readings published over MQTT one at a time, each timed
    from its publish to the last stream that shows it."""
    loop = asyncio.get_running_loop()
    fan = Fanout(clients=spec["sse_clients"])
    stop = asyncio.Event()
    host, port, token = spec["host"], spec["port"], spec["token"]
    started = loop.time()
    tasks = [asyncio.create_task(sse_client(host, port, token, fan, stop)) for _ in range(fan.clients)]
    await asyncio.wait_for(fan.all_connected.wait(), timeout=60)
    connect_s = loop.time() - started
    address = parse_mqtt_url(spec["mqtt_url"])
    client = make_client(address, f"bench-api-pub-{uuid.uuid4().hex[:6]}")
    connect_client(client, address)
    client.loop_start()
    stations: list[str] = spec["stations"]
    latencies: list[float] = []
    incomplete = 0
    timeout_s = float(spec.get("sse_timeout_s", 10.0))
    try:
        await asyncio.sleep(1.0)  # let the streams settle past their first wake-up
        for i in range(spec["sse_rounds"]):
            sid = stations[i % len(stations)]
            ts = datetime.now(UTC).replace(microsecond=0)
            key = (sid, ts.timestamp())
            body = json.dumps(
                {"seq": int(time.time()) * 100 + i, "ts": ts.isoformat(), "tips": 1, "interval_s": 60}
            )
            r = Round(published_at=loop.time(), want=fan.clients)
            fan.rounds[key] = r
            info = client.publish(f"vigie/v1/gauges/{sid}/up", body, qos=1)
            try:
                await asyncio.wait_for(r.done.wait(), timeout=timeout_s)
                latencies.append(r.last - r.published_at)
            except TimeoutError:
                incomplete += 1
                latencies.append(timeout_s)
            info.wait_for_publish(1)
            print(
                f"\r[bench-api] SSE round {i + 1}/{spec['sse_rounds']}: last of {r.got} clients after "
                f"{latencies[-1]:.3f} s   ",
                end="",
                file=sys.stderr,
                flush=True,
            )
            # Readings at least a second apart, so each round has its own ts.
            await asyncio.sleep(max(0.0, 1.05 - (loop.time() - r.published_at)))
    finally:
        print(file=sys.stderr)
        client.loop_stop()
        client.disconnect()
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "sse_clients": fan.clients,
        "sse_connect_s": round(connect_s, 2),
        "sse_rounds": len(latencies),
        "sse_incomplete_rounds": incomplete,
        "sse_dropped_streams": fan.dropped,
        "sse_fanout_p50_s": _s(percentile(latencies, 50)),
        "sse_fanout_p99_s": _s(percentile(latencies, 99)),
        "sse_fanout_max_s": _s(max(latencies) if latencies else None),
    }


def _s(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.get("rates"):
        http = Http(spec["host"], spec["port"], spec["token"])
        # Warm-up (not counted): the API's pool, caches and the generator's connections.
        await open_loop(http, 50, spec.get("warmup_s", 4), spec["paths"])
        steps = []
        for i, rate in enumerate(spec["rates"]):
            duration = spec["steady_s"] if i == 0 else spec["step_s"]
            result = await open_loop(http, rate, duration, spec["paths"], spec.get("api_pid"))
            steps.append(result)
            worst = max((v for v in result["p99_ms"].values() if v is not None), default=None)
            print(
                f"[bench-api] {rate} req/s offered: {result['achieved_rate_per_s']} achieved, "
                f"p99 {result['p99_ms']} ms, errors {result['errors']}",
                file=sys.stderr,
                flush=True,
            )
            if i > 0 and (worst is None or worst >= 100 or result["achieved_rate_per_s"] < 0.95 * rate):
                break  # past the knee: higher rates only queue more
        out["steps"] = steps
    if spec.get("sse_clients"):
        out["sse"] = await sse_fanout(spec)
    return out


if __name__ == "__main__":
    result = asyncio.run(main(json.loads(sys.argv[1])))
    print(json.dumps(result))
