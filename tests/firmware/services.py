"""The real ingest service for the firmware's end-to-end tests, on this test's database."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.support import Service


def ingest(service_env: dict[str, str], tmp_path: Path) -> Service:
    """An ingest process with its own client id and share group (the broker is per module)."""
    tag = uuid.uuid4().hex[:6]
    env = {**service_env, "VIGIE_INGEST__CLIENT_ID": f"ingest-{tag}", "VIGIE_INGEST__SHARE_GROUP": f"g-{tag}"}
    return Service(["ingest"], env, tmp_path / "ingest.log")
