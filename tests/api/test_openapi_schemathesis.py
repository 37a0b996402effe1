"""schemathesis against the app's own OpenAPI document, on a live uvicorn and the real database.

Every operation gets generated requests (valid and invalid, with the admin token; the checks
also replay them without it): no answer may be a 5xx, and every answer must match the status
codes, content types and schemas the document declares. The number of examples is bounded so
that the whole module stays near a minute on the shared 2-core machines.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from api.app import create_app
from simulators.sinks import SmsSink, SmtpSink
from tests.api.conftest import ADMIN, ADMIN_TOKEN
from tests.api.review_support import event_with_clip, make_camera
from tests.api.test_incidents import add_delivery, make_incident
from tests.factories import make_station, make_user
from tests.support import Broker, create_database, db_url, drop_database, free_port
from vigie.settings import BrokerSettings, CameraSettings, OutboundSettings, Settings, SignupSettings

# Examples per operation: ~35 operations x this, plus schemathesis' own coverage cases.
MAX_EXAMPLES = 25
# Every default check runs but two, whose premise does not hold for this API:
# - positive_data_acceptance wants every schema-valid request accepted; a rule on a station that
#   does not exist, or a merge patch that makes a resource invalid, is schema-valid and refused
#   (422, 409) on purpose, and no schema can say which stations exist.
# - negative_data_rejection counts an unknown query parameter as invalid data; like most HTTP
#   APIs, Vigie ignores query parameters it does not know. (Its other findings were fixed: a
#   bare number as a date used to be read as a Unix time.)
EXCLUDED = [positive_data_acceptance, negative_data_rejection]


def _seed(url: str, media: Path) -> None:
    """A little of everything, so that generated requests also meet stored resources."""
    with psycopg.connect(url, autocommit=True) as db:
        # The admin's account and token get ids no generated path will name (schemathesis tries
        # 1 and the bounds): revoking its own token would turn every later request into a 401.
        make_user(db, "admin", ["admin"], token=ADMIN_TOKEN)
        db.execute("UPDATE api_tokens SET id = 4242424242")
        make_station(db, "thourotte-mairie")
        incident = make_incident(db)
        make_incident(db, audience="technicians", state="resolved", level="red")
        add_delivery(db, incident)
        db.execute(
            "INSERT INTO catchments (id, name, area_km2, cn2, communes) VALUES"
            " ('matz-aval', 'Matz aval', 12.5, 74, ARRAY['60636'])"
        )
        # review-api: a camera, a deployment, an event with a clip on disk, an observation.
        make_camera(db)
        eid, _ = event_with_clip(db, media)
        db.execute(
            "INSERT INTO deployments (camera_id, lat, lon, start_ts, created_by)"
            " VALUES ('etang-nord', 49.48, 2.86, '2026-01-01Z', 'admin')"
        )
        db.execute(
            "INSERT INTO observations (event_id, scientific_name, in_species_list, classified_by)"
            " VALUES (%s, 'Vulpes vulpes', true, 'admin')",
            (eid,),
        )


@pytest.fixture(scope="module")
def live_url(template_db: str, broker: Broker) -> Iterator[str]:
    """A uvicorn serving the app on a free port, on a database of this module's own."""
    name = create_database(template=template_db)
    url = db_url(name)
    media = Path(tempfile.mkdtemp(prefix="vigie-schemathesis-media-"))
    _seed(url, media)
    # The residents' sign-up sends its codes through these stand-ins (a 503 would be a failure).
    smtp, sms = SmtpSink().start(), SmsSink().start()
    settings_ = Settings(
        database_url=SecretStr(url),
        mqtt_url=SecretStr(broker.url("vigie-api")),
        # Station provisioning writes device accounts into the test broker (a 503 would be a failure).
        broker=BrokerSettings(directory=broker.directory),
        outbound=OutboundSettings(allow_private=True),  # the stand-ins are on loopback
        camera=CameraSettings(media_dir=media),
        signup=SignupSettings(
            sms_url=SecretStr(sms.apprise_template()),
            email_url=SecretStr(
                f"mailto://{smtp.host}:{smtp.port}?from=v@example.org&to={{email}}&mode=insecure"
            ),
        ),
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings_), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-schemathesis", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield base
    server.should_exit = True
    thread.join(timeout=20)
    sms.stop()
    smtp.stop()
    drop_database(name)
    shutil.rmtree(media, ignore_errors=True)


def _document() -> dict[str, Any]:
    # Building the app opens nothing, so the document is read at collection time, with no
    # database. (schemathesis' lazy from_fixture loader relies on a pytest private attribute
    # that pytest 9 removed.) test_served_document_is_the_tested_one checks it is what is served.
    offline = Settings(database_url=SecretStr("postgresql://nobody@127.0.0.1:1/none"))
    return create_app(offline).openapi()


DOCUMENT = _document()
# api-readings: the live SSE stream never ends, so a generated call could only time out; its
# inputs and roles are tested in tests/api/test_live.py and test_routes_roles.py.
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path="/api/v1/live")


def test_served_document_is_the_tested_one(live_url: str) -> None:
    assert httpx.get(f"{live_url}/openapi.json", timeout=10).json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_matches_its_openapi_document(case: Any, live_url: str) -> None:
    case.call_and_validate(base_url=live_url, headers=ADMIN, timeout=30, excluded_checks=EXCLUDED)
