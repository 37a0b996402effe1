"""A real uvicorn serving the app in a thread, for tests that need real HTTP streaming (the
TestClient buffers whole bodies) or several API instances at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from api.app import create_app
from tests.support import free_port, wait_for
from vigie.settings import Settings


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The base URL of a uvicorn running the app for these settings; stopped afterwards."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
