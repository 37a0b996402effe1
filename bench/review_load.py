"""bench-review's load generator, in its own process: open-loop GETs at a steady rate.

Run by bench/review.py as `python -m bench.review_load SPEC_JSON`; prints one JSON result.
As bench/api_load.py (whose HTTP reading it reuses): request i is due at start + i / rate
whatever the earlier answers did, and its latency counts from that due time (no coordinated
omission). A request may carry headers (a clip's Range); for those the time to the first byte
of the body is what is kept (the clip's first byte), the rest of the body is read and dropped.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from dataclasses import dataclass, field
from typing import Any

from bench.api_load import Streams, cpu_s, percentile, read_body, read_head


@dataclass
class Client:
    """GETs over at most `max_connections` keep-alive connections."""

    host: str
    port: int
    token: str
    max_connections: int = 64
    idle: list[Streams] = field(default_factory=list)
    opened: int = 0
    slots: asyncio.Semaphore | None = None

    async def get(self, path: str, headers: dict[str, str], first_byte: bool) -> tuple[int, float]:
        """(status, loop time of the first body byte when first_byte, else of the body's end)."""
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.max_connections)
        async with self.slots:
            try:
                return await self._once(path, headers, first_byte, reuse=True)
            except (ConnectionError, asyncio.IncompleteReadError):
                # A kept-alive connection the server closed while idle (uvicorn closes them
                # after 5 s): the request never reached it, so it is sent again on a new one.
                return await self._once(path, headers, first_byte, reuse=False)

    async def _once(
        self, path: str, headers: dict[str, str], first_byte: bool, reuse: bool
    ) -> tuple[int, float]:
        streams = self.idle.pop() if self.idle and reuse else None
        fresh = streams is None
        if streams is None:
            streams = await asyncio.open_connection(self.host, self.port)
            self.opened += 1
        reader, writer = streams
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.token}\r\n"
            f"{extra}\r\n".encode()
        )
        loop = asyncio.get_running_loop()
        try:
            status, head = await read_head(reader)
            if first_byte and "content-length" in head:
                length = int(head["content-length"])
                first = await reader.readexactly(1) if length else b""
                at = loop.time()
                await reader.readexactly(length - len(first))
            else:
                await read_body(reader, head)
                at = loop.time()
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()
            if fresh:
                raise OSError("connexion refusée ou coupée par l'API") from None
            raise
        except BaseException:
            writer.close()
            raise
        if head.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append(streams)
        return status, at


async def phase(client: Client, spec: dict[str, Any], api_pid: int | None) -> dict[str, Any]:
    """One open-loop run: `rate` req/s for `duration` s, the kinds in turn, a path of each drawn
    at random; p50/p99/max per kind and over all kinds, in ms."""
    loop = asyncio.get_running_loop()
    rate, duration = float(spec["rate"]), float(spec["duration"])
    paths: dict[str, list[list[Any]]] = spec["paths"]
    expect = set(spec.get("statuses", [200]))
    kinds = sorted(paths)
    rng = random.Random(int(rate) * 7 + len(kinds))
    lat: dict[str, list[float]] = {k: [] for k in kinds}
    errors: dict[str, int] = dict.fromkeys(kinds, 0)
    lag: list[float] = []

    async def one(kind: str, path: str, headers: dict[str, str], due: float) -> None:
        lag.append(loop.time() - due)
        why = ""
        try:
            status, at = await client.get(path, headers, bool(spec.get("first_byte")))
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            status, at, why = 0, loop.time(), f" ({exc!r})"
        if status in expect:
            lat[kind].append(at - due)
        else:
            errors[kind] += 1
            if errors[kind] <= 3:
                print(f"[bench-review] {kind}: HTTP {status}{why} for {path}", file=sys.stderr, flush=True)

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
        path, headers = rng.choice(paths[kind])
        tasks.append(asyncio.create_task(one(kind, path, headers, due)))
    await asyncio.gather(*tasks)
    span = loop.time() - start
    api_cpu = cpu_s(api_pid) - cpu_before
    every = [v for values in lat.values() for v in values]
    ok = len(every)
    return {
        "name": spec["name"],
        "offered_rate_per_s": rate,
        "duration_s": duration,
        "requests": n,
        "ok": ok,
        "errors": errors,
        "achieved_rate_per_s": round(ok / span, 1) if span > 0 else 0.0,
        "p50_ms": _ms(percentile(every, 50)),
        "p99_ms": _ms(percentile(every, 99)),
        "max_ms": _ms(max(every) if every else None),
        "by_kind_p50_ms": {k: _ms(percentile(v, 50)) for k, v in lat.items()},
        "by_kind_p99_ms": {k: _ms(percentile(v, 99)) for k, v in lat.items()},
        "send_lag_p99_ms": _ms(percentile(lag, 99)),
        "api_cpu_ms_per_request": round(api_cpu * 1000 / ok, 2) if api_pid and ok else None,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    client = Client(spec["host"], spec["port"], spec["token"])
    out = []
    for p in spec["phases"]:
        if p.get("warmup_s"):  # not counted: the API's pool and caches, the client's connections
            await phase(client, {**p, "duration": p["warmup_s"]}, None)
        result = await phase(client, p, spec.get("api_pid"))
        print(
            f"[bench-review] {p['name']}: {result['achieved_rate_per_s']} of {p['rate']} req/s,"
            f" p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, by kind {result['by_kind_p99_ms']},"
            f" errors {result['errors']}",
            file=sys.stderr,
            flush=True,
        )
        out.append(result)
    return {"phases": out}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
