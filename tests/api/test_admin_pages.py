"""The admin pages of the network and residents (/admin/...), on the real database, the real
Mosquitto and the SMTP/SMS stand-ins: each form valid, invalid (422, reasons beside the fields,
nothing typed lost), hostile (escaped), the wrong role (403) and anonymous (401 and the way to
sign in). The pages call the API's handlers; these tests check what a person sees and what
really happened (broker accounts, rows, audit lines, messages delivered)."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from api.app import create_app
from tests.alerts.notify_helpers import dispatching, sinks, wait_settled
from tests.api.conftest import ADMIN, LOOPBACK, bearer, role_token
from tests.factories import make_station
from tests.ingest.readings import minute, reading, topic
from tests.mqtt_helpers import publisher
from tests.shared.test_provisioning import _device_url, _refused
from tests.support import Broker, wait_for
from vigie.broker_accounts import read_accounts
from vigie.settings import BrokerSettings, Settings

Db = psycopg.Connection[tuple[object, ...]]
TECH = bearer(role_token("technician"))
DUTY = bearer(role_token("duty"))
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SECRET_CODE = re.compile(r'<code class="secret-once__value" id="secret"[^>]*>([^<]+)</code>')


@pytest.fixture
def pages(api_settings: Settings, broker: Broker) -> Iterator[TestClient]:
    """The app with the test broker's directory (device accounts can be managed)."""
    settings = api_settings.model_copy(update={"broker": BrokerSettings(directory=broker.directory)})
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        yield c


def _actions(db: Db) -> list[str]:
    return [str(r[0]) for r in db.execute("SELECT action FROM audit_log ORDER BY id").fetchall()]


def _secret(text: str) -> str:
    found = SECRET_CODE.search(text)
    assert found is not None, text
    return html.unescape(found.group(1))


def _escaped(text: str) -> None:
    """The hostile name is on the page as text only."""
    assert XSS not in text and "<script>alert" not in text
    assert str(escape(XSS)) in text


# ---- roles --------------------------------------------------------------------------------------

PAGES = [
    ("/admin", TECH),
    ("/admin/stations", TECH),
    ("/admin/regles", TECH),
    ("/admin/bassins", TECH),
    ("/admin/abonnes", ADMIN),
    ("/admin/abonnes/portee", ADMIN),
    ("/admin/consignes", ADMIN),
    ("/admin/consignes/60636", ADMIN),
    ("/admin/exercices", ADMIN),
]


@pytest.mark.parametrize(("path", "allowed"), PAGES)
def test_each_page_opens_for_its_role_and_refuses_others(
    pages: TestClient, path: str, allowed: dict[str, str]
) -> None:
    ok = pages.get(path, headers=allowed)
    assert ok.status_code == 200, ok.text
    assert ok.headers["content-type"].startswith("text/html") and 'lang="fr"' in ok.text
    assert pages.get(path, headers=DUTY).status_code == 403
    if allowed is ADMIN:  # a technician does not manage residents, consignes or exercises
        assert pages.get(path, headers=TECH).status_code == 403
    anonymous = pages.get(path)
    assert anonymous.status_code == 401
    assert "/connexion?suivant=" in anonymous.text  # the way to sign in, then back here


def test_the_hub_lists_only_what_the_role_may_open(pages: TestClient) -> None:
    tech = pages.get("/admin", headers=TECH).text
    assert 'href="/admin/stations"' in tech and 'href="/admin/abonnes"' not in tech
    admin = pages.get("/admin", headers=ADMIN).text
    assert 'href="/admin/abonnes"' in admin and 'href="/admin/exercices"' in admin
    # Each page once (merges had left users, tokens and the audit log listed twice).
    for href in ("/admin/utilisateurs", "/admin/jetons", "/admin/journal", "/admin/cameras"):
        assert admin.count(f'href="{href}"') == 1, href


def test_a_cookie_form_without_its_csrf_token_is_refused(pages: TestClient, db: Db) -> None:
    from tests.api.test_accounts import PASSWORD, csrf_of, sign_in
    from tests.factories import make_user

    make_user(db, "tina", ["technician"], password=PASSWORD)
    assert sign_in(pages, "tina", PASSWORD).status_code == 303
    body = {"name": "Pluvio", "commune_insee": "60636", "lat": "49,4", "lon": "2,8"}
    station = make_station(db).id
    refused = pages.post(f"/admin/stations/{station}", data=body, follow_redirects=False)
    assert refused.status_code == 403
    done = pages.post(
        f"/admin/stations/{station}", data={**body, "csrf_token": csrf_of(pages)}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    assert db.execute("SELECT name FROM stations WHERE id = %s", (station,)).fetchone() == ("Pluvio",)


# ---- stations -----------------------------------------------------------------------------------


def _station_form(station: str, **extra: str) -> dict[str, str]:
    return {"id": station, "name": "Mairie", "commune_insee": "60636", "lat": "49,47", "lon": "2.88", **extra}


def test_create_station_shows_the_password_once_and_the_device_connects(
    pages: TestClient, db: Db, broker: Broker
) -> None:
    station = f"st-{uuid.uuid4().hex[:8]}"
    other = make_station(db).id
    created = pages.post("/admin/stations", headers=TECH, data=_station_form(station))
    assert created.status_code == 200, created.text
    password = _secret(created.text)
    assert len(password) >= 16
    assert f"Identifiant MQTT de l'appareil : {station}" in html.unescape(created.text)
    assert station in read_accounts(broker.files.passwd)
    # Shown once: neither the list nor the station's page carries it again.
    assert password not in pages.get("/admin/stations", headers=TECH).text
    assert password not in pages.get(f"/admin/stations/{station}", headers=TECH).text
    assert db.execute("SELECT lat, lon FROM stations WHERE id = %s", (station,)).fetchone() == (49.47, 2.88)

    # The device connects to the real Mosquitto with it, and is held to its own topic.
    with publisher(_device_url(broker, station, password)) as device:
        # PUBACK 0 or 16 (accepted, no subscriber yet); 135 is "not authorised".
        assert device.publish(topic(station), reading(1, minute(1))) in (0, 16)
        assert device.publish(topic(other), reading(1, minute(1))) == 135

    # A new password, shown once; the old one stops working at once.
    rotated = pages.post(f"/admin/stations/{station}/mot-de-passe", headers=TECH)
    assert rotated.status_code == 200, rotated.text
    second = _secret(rotated.text)
    assert second != password and "L'ancien mot de passe ne fonctionne plus" in html.unescape(rotated.text)
    wait_for(lambda: _refused(_device_url(broker, station, password)), timeout=5)
    with publisher(_device_url(broker, station, second)) as device:
        assert device.publish(topic(station), reading(2, minute(2))) in (0, 16)

    # Retiring asks first; confirmed, the account goes and the device is refused.
    assert "Je confirme le retrait" in pages.get(f"/admin/stations/{station}/retirer", headers=TECH).text
    unconfirmed = pages.post(f"/admin/stations/{station}/retirer", headers=TECH, data={"confirmer": ""})
    assert unconfirmed.status_code == 422 and "Cochez la case" in unconfirmed.text
    assert station in read_accounts(broker.files.passwd)
    retired = pages.post(
        f"/admin/stations/{station}/retirer", headers=TECH, data={"confirmer": "oui"}, follow_redirects=False
    )
    assert (
        retired.status_code == 303 and retired.headers["location"] == "/admin/stations?fait=station-retiree"
    )
    assert station not in read_accounts(broker.files.passwd)
    wait_for(lambda: _refused(_device_url(broker, station, second)), timeout=5)
    assert "retirée" in pages.get("/admin/stations", headers=TECH).text

    actions = _actions(db)
    assert {"station.provisioned", "station.credentials.rotated", "deleted"} <= set(actions)
    logged = db.execute("SELECT detail::text, coalesce(target, '') FROM audit_log").fetchall()
    assert not any(password in str(row) or second in str(row) for row in logged)


def test_station_form_errors_sit_beside_their_fields_and_keep_what_was_typed(
    pages: TestClient, db: Db, broker: Broker
) -> None:
    bad = _station_form("Pas Valide!", name="Mairie du bas", lat="200", lon="abc", tip_mm="-1")
    r = pages.post("/admin/stations", headers=TECH, data=bad)
    assert r.status_code == 422
    assert 'id="champ-id-erreur"' in r.text and "format invalide" in r.text
    assert 'id="champ-lat-erreur"' in r.text and "doit être inférieur ou égal à 90<" in r.text
    assert 'id="champ-lon-erreur"' in r.text and "nombre attendu" in r.text
    assert 'id="champ-tip_mm-erreur"' in r.text
    assert 'value="Mairie du bas"' in r.text and 'value="Pas Valide!"' in r.text and 'value="abc"' in r.text
    assert db.execute("SELECT count(*) FROM stations WHERE name = 'Mairie du bas'").fetchone() == (0,)
    # Out-of-territory commune and a reserved broker account: the API's French reasons.
    r = pages.post("/admin/stations", headers=TECH, data=_station_form("vigie-ingest"))
    assert r.status_code == 422 and "Identifiant réservé" in r.text
    r = pages.post("/admin/stations", headers=TECH, data=_station_form("st-ailleurs", commune_insee="60999"))
    assert r.status_code == 422 and "commune" in r.text.lower()
    # A duplicate id: 409, nothing lost.
    existing = make_station(db).id
    r = pages.post("/admin/stations", headers=TECH, data=_station_form(existing))
    assert r.status_code == 409 and "existe déjà" in r.text and f'value="{existing}"' in r.text
    # Oversized and malformed bodies.
    assert pages.post("/admin/stations", headers=TECH, data={"name": "x" * 70_000}).status_code == 413
    assert pages.post("/admin/stations", headers=TECH, json={"id": "x"}).status_code == 415
    assert pages.get("/admin/stations/inconnue", headers=TECH).status_code == 404
    hostile = pages.get("/admin/stations/%3Cscript%3Ealert(1)%3Cb%3E", headers=TECH)
    assert hostile.status_code == 404
    assert "<script>alert(1)" not in hostile.text and "&lt;script&gt;" in hostile.text


def test_station_edit_and_hostile_names(pages: TestClient, db: Db) -> None:
    station = make_station(db).id
    bad = pages.post(
        f"/admin/stations/{station}",
        headers=TECH,
        data={"name": "", "commune_insee": "60636", "lat": "", "lon": "2"},
    )
    assert (
        bad.status_code == 422
        and 'id="champ-lat-erreur"' in bad.text
        and 'id="champ-name-erreur"' in bad.text
    )
    ok = pages.post(
        f"/admin/stations/{station}",
        headers=TECH,
        data={"name": XSS, "commune_insee": "60392", "lat": "49,5", "lon": "2,9"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    row = db.execute("SELECT name, commune_insee, lat FROM stations WHERE id = %s", (station,)).fetchone()
    assert row == (XSS, "60392", 49.5)
    for path in ("/admin/stations", f"/admin/stations/{station}"):
        _escaped(pages.get(path, headers=TECH).text)
    assert "station.changed" in _actions(db)


# ---- rules --------------------------------------------------------------------------------------


def _rule_form(**extra: str) -> dict[str, str]:
    return {
        "name": "Cumul 1 h orange",
        "kind": "accumulation",
        "scope_kind": "commune",
        "scope_id": "60636",
        "level": "orange",
        "audience": "",
        "raise": "30",
        "clear": "20",
        "window_min": "60",
        "for_min": "0",
        "enabled": "oui",
        **extra,
    }


def test_rules_create_edit_disable_delete_in_words(pages: TestClient, db: Db) -> None:
    done = pages.post("/admin/regles", headers=TECH, data=_rule_form(), follow_redirects=False)
    assert done.status_code == 303, done.text
    rule_id = db.execute("SELECT id FROM rules WHERE name = 'Cumul 1 h orange'").fetchone()
    assert rule_id is not None
    listed = pages.get("/admin/regles", headers=TECH).text
    assert "Cumul sur 1 h ≥ 30 mm (fin sous 20 mm) — commune de Thourotte : alerte orange." in listed
    # A seeded rule, with its 24 h window:
    assert "Cumul sur 24 h ≥ 40 mm (fin sous 30 mm) — toutes les stations : alerte jaune." in listed
    rid = int(str(rule_id[0]))
    edited = pages.post(
        f"/admin/regles/{rid}", headers=TECH, data=_rule_form(**{"raise": "35,5"}), follow_redirects=False
    )
    assert edited.status_code == 303, edited.text
    params = db.execute("SELECT params FROM rules WHERE id = %s", (rid,)).fetchone()
    assert params is not None and params[0]["raise"] == 35.5  # type: ignore[index]
    assert pages.post(f"/admin/regles/{rid}/desactiver", headers=TECH).status_code == 200
    assert db.execute("SELECT enabled FROM rules WHERE id = %s", (rid,)).fetchone() == (False,)
    assert "désactivée" in pages.get(f"/admin/regles/{rid}", headers=TECH).text
    deleted = pages.post(f"/admin/regles/{rid}/supprimer", headers=TECH, follow_redirects=False)
    assert deleted.status_code == 303
    assert db.execute("SELECT count(*) FROM rules WHERE id = %s", (rid,)).fetchone() == (0,)
    assert {"rule.created", "rule.changed", "rule.disabled", "deleted"} <= set(_actions(db))
    assert pages.get(f"/admin/regles/{rid}", headers=TECH).status_code == 404


def test_rule_validator_reasons_are_shown_beside_the_fields(pages: TestClient, db: Db) -> None:
    before = db.execute("SELECT count(*) FROM rules").fetchone()
    # The clear threshold above the raise one: the validator's own French reason, typed values kept.
    r = pages.post("/admin/regles", headers=TECH, data=_rule_form(clear="40", name="Règle qui clignote"))
    assert r.status_code == 422
    assert 'id="champ-params-erreur"' in r.text and "sinon l&#39;alerte clignote" in r.text
    assert 'value="Règle qui clignote"' in r.text and 'value="40"' in r.text
    # An unknown window, a wrong number, an unknown scope.
    r = pages.post("/admin/regles", headers=TECH, data=_rule_form(window_min="45"))
    assert (
        r.status_code == 422
        and 'id="champ-window_min-erreur"' in r.text
        and "fenêtre de 45 min inconnue" in r.text
    )
    r = pages.post("/admin/regles", headers=TECH, data=_rule_form(**{"raise": "beaucoup"}))
    assert r.status_code == 422 and 'id="champ-raise-erreur"' in r.text and "nombre attendu" in r.text
    r = pages.post(
        "/admin/regles", headers=TECH, data=_rule_form(scope_kind="station", scope_id="nulle-part")
    )
    assert r.status_code == 422 and "nulle-part" in r.text
    r = pages.post("/admin/regles", headers=TECH, data=_rule_form(kind="inconnu"))
    assert r.status_code == 422 and 'id="champ-kind-erreur"' in r.text
    assert db.execute("SELECT count(*) FROM rules").fetchone() == before
    # A hostile name is stored as typed and shown as text.
    ok = pages.post("/admin/regles", headers=TECH, data=_rule_form(name=XSS), follow_redirects=False)
    assert ok.status_code == 303, ok.text
    _escaped(pages.get("/admin/regles", headers=TECH).text)


# ---- catchments ---------------------------------------------------------------------------------


def test_catchments_create_edit_delete(pages: TestClient, db: Db) -> None:
    station = make_station(db).id
    form = {"id": "matz-aval", "name": "Matz aval", "area_km2": "12,5", "cn2": "74", "communes": ["60636"]}
    assert pages.post("/admin/bassins", headers=TECH, data=form, follow_redirects=False).status_code == 303
    listed = pages.get("/admin/bassins", headers=TECH).text
    assert "Matz aval" in listed and "Thourotte" in listed and "12,5 km²" in listed
    edit = {"name": XSS, "area_km2": "13", "cn2": "80", "communes": ["60636", "60392"], "stations": [station]}
    assert (
        pages.post("/admin/bassins/matz-aval", headers=TECH, data=edit, follow_redirects=False).status_code
        == 303
    )
    row = db.execute("SELECT name, area_km2, communes FROM catchments WHERE id = 'matz-aval'").fetchone()
    assert row == (XSS, 13.0, ["60636", "60392"])
    assert db.execute(
        "SELECT station_id FROM catchment_stations WHERE catchment_id = 'matz-aval'"
    ).fetchall() == [(station,)]
    _escaped(pages.get("/admin/bassins", headers=TECH).text)
    _escaped(pages.get("/admin/bassins/matz-aval", headers=TECH).text)
    # Invalid: a zero area, a duplicate id, an unknown commune.
    bad = pages.post("/admin/bassins", headers=TECH, data={**form, "id": "autre", "area_km2": "0"})
    assert bad.status_code == 422 and 'id="champ-area_km2-erreur"' in bad.text and 'value="autre"' in bad.text
    dup = pages.post("/admin/bassins", headers=TECH, data=form)
    assert dup.status_code == 409
    # A rule still watching it: refused (409), the page names the rule; deleted once nothing refers to it.
    rule = _rule_form(name="Cumul bassin", scope_kind="catchment", scope_id="matz-aval")
    assert pages.post("/admin/regles", headers=TECH, data=rule, follow_redirects=False).status_code == 303
    held = pages.post("/admin/bassins/matz-aval/supprimer", headers=TECH)
    assert held.status_code == 409 and "matz-aval" in held.text
    rid = db.execute("SELECT id FROM rules WHERE name = 'Cumul bassin'").fetchone()
    assert rid is not None
    dropped = pages.post(f"/admin/regles/{rid[0]}/supprimer", headers=TECH, follow_redirects=False)
    assert dropped.status_code == 303
    gone = pages.post("/admin/bassins/matz-aval/supprimer", headers=TECH, follow_redirects=False)
    assert gone.status_code == 303
    assert db.execute("SELECT count(*) FROM catchments WHERE id = 'matz-aval'").fetchone() == (0,)
    assert {"catchment.created", "catchment.changed", "deleted"} <= set(_actions(db))


# ---- subscribers and the test send -------------------------------------------------------------


def test_subscriber_test_send_reaches_the_smtp_stand_in(
    pages: TestClient, db: Db, service_db_url: Callable[[str], str]
) -> None:
    with sinks() as (smtp, _sms):
        url = smtp.apprise_url("mairie@thourotte.example")
        form = {
            "name": "Mairie de Thourotte",
            "communes": ["60636"],
            "min_level": "orange",
            "kind0": "email",
            "url0": url,
        }
        added = pages.post("/admin/abonnes", headers=ADMIN, data=form, follow_redirects=False)
        assert added.status_code == 303, added.text
        sid = db.execute("SELECT id FROM subscribers WHERE name = 'Mairie de Thourotte'").fetchone()
        assert sid is not None
        listed = pages.get("/admin/abonnes", headers=ADMIN).text
        assert "Mairie de Thourotte" in listed and url not in listed and "mailto://" in listed
        with dispatching(service_db_url("alerts")):
            sent = pages.post(f"/admin/abonnes/{sid[0]}/test", headers=ADMIN, follow_redirects=False)
            assert sent.status_code == 303 and sent.headers["location"] == "/admin/abonnes?fait=test-envoye"
            assert "Envoi de test demandé" in pages.get(sent.headers["location"], headers=ADMIN).text
            wait_for(lambda: len(smtp.messages) == 1, timeout=15)
            wait_settled(db)
        assert smtp.messages[0]["subject"] == "[Vigie] Message de test"
        assert "mairie@thourotte.example" in smtp.messages[0]["rcpt_tos"]
    assert {"subscriber.created", "subscriber.test"} <= set(_actions(db))
    deleted = pages.post(f"/admin/abonnes/{sid[0]}/supprimer", headers=ADMIN, follow_redirects=False)
    assert deleted.status_code == 303
    assert db.execute("SELECT count(*) FROM subscribers WHERE id = %s", (sid[0],)).fetchone() == (0,)


def test_subscriber_form_refusals_and_hostile_names(pages: TestClient, db: Db) -> None:
    secret = "mailtos://user:S3cr3t-pw@smtp.example.org?to=x@example.org"
    bad = pages.post(
        "/admin/abonnes",
        headers=ADMIN,
        data={"name": "Mairie", "kind0": "sms", "url0": secret, "communes": ["60999"]},
    )
    assert bad.status_code == 422
    assert 'id="champ-channels-erreur"' in bad.text and "ne convient pas à un canal sms" in bad.text
    unknown = pages.post("/admin/abonnes", headers=ADMIN, data={"name": "Mairie", "communes": ["60999"]})
    assert unknown.status_code == 422 and "commune(s) inconnue(s) des Deux Vallées : 60999" in unknown.text
    assert "S3cr3t-pw" not in bad.text.split('id="champ-channels-erreur"')[1].split("</p>")[0]
    empty = pages.post("/admin/abonnes", headers=ADMIN, data={"name": ""})
    assert empty.status_code == 422 and 'id="champ-name-erreur"' in empty.text
    ok = pages.post(
        "/admin/abonnes", headers=ADMIN, data={"name": XSS, "communes": ["60636"]}, follow_redirects=False
    )
    assert ok.status_code == 303
    _escaped(pages.get("/admin/abonnes", headers=ADMIN).text)
    sid = db.execute("SELECT id FROM subscribers ORDER BY id DESC LIMIT 1").fetchone()
    assert sid is not None
    no_channel = pages.post(f"/admin/abonnes/{sid[0]}/test", headers=ADMIN)
    assert no_channel.status_code == 422 and "aucun canal" in no_channel.text
    assert pages.post("/admin/abonnes/999999/test", headers=ADMIN).status_code == 404


# ---- reach per commune --------------------------------------------------------------------------


def _resident(db: Db, insee: str, state: str, address: str) -> None:
    db.execute(
        "INSERT INTO residents (commune_insee, min_level, channel, address, state, request_key, token,"
        " consent_text) VALUES (%s, 'yellow', 'sms', %s, %s, %s, %s, 'oui')",
        (insee, address, state, uuid.uuid4().hex, uuid.uuid4().hex),
    )


def test_reach_counts_confirmed_residents_against_the_population_and_sorts(pages: TestClient, db: Db) -> None:
    for n in range(3):
        _resident(db, "60636", "active", f"+3361000000{n}")
    _resident(db, "60636", "pending", "+33610000009")
    _resident(db, "60392", "active", "+33620000000")
    pops = {str(i): int(str(n)) for i, n in db.execute("SELECT insee, population FROM communes").fetchall()}
    page = pages.get("/admin/abonnes/portee?tri=inscrits&ordre=decroissant", headers=ADMIN)
    assert page.status_code == 200
    rows = re.findall(
        r"<tr>\s*<td>([^<]+)</td>\s*<td class=\"num\">[^<]+</td>\s*<td class=\"num\">(\d+)</td>", page.text
    )
    assert rows[0] == ("Thourotte", "3") and rows[1][1] == "1"
    expected = f"{100 * 3 / pops['60636']:.2f}".replace(".", ",")
    assert f"{expected} %" in page.text
    ascending = pages.get("/admin/abonnes/portee?tri=commune&ordre=croissant", headers=ADMIN).text
    names = re.findall(r"<tr>\s*<td>([^<]+)</td>", ascending)
    assert names == sorted(names) and len(names) == len(pops)
    assert 'aria-sort="ascending"' in ascending
    assert pages.get("/admin/abonnes/portee?tri=nimporte", headers=ADMIN).status_code == 422


# ---- consignes ----------------------------------------------------------------------------------


def test_consignes_edit_and_reset(pages: TestClient, db: Db) -> None:
    data = {"text": "Montez à l'étage.", "sms": "Montez a l'etage."}
    done = pages.post("/admin/consignes/60636/red", headers=ADMIN, data=data, follow_redirects=False)
    assert done.status_code == 303
    page = pages.get("/admin/consignes/60636", headers=ADMIN).text
    assert "Montez à l&#39;étage." in page and "propre à la commune" in page
    too_long = pages.post(
        "/admin/consignes/60636/orange", headers=ADMIN, data={"text": "Ok", "sms": "x" * 91}
    )
    assert (
        too_long.status_code == 422
        and 'id="sms-orange-erreur"' in too_long.text
        and 'value="' + "x" * 91 in too_long.text
    )
    hostile = pages.post(
        "/admin/consignes/60636/yellow",
        headers=ADMIN,
        data={"text": XSS, "sms": "ok"},
        follow_redirects=False,
    )
    assert hostile.status_code == 303
    _escaped(pages.get("/admin/consignes/60636", headers=ADMIN).text)
    reset = pages.post("/admin/consignes/60636/red/defaut", headers=ADMIN, follow_redirects=False)
    assert reset.status_code == 303
    assert db.execute(
        "SELECT count(*) FROM commune_instructions WHERE commune_insee = '60636' AND level = 'red'"
    ).fetchone() == (0,)
    assert pages.get("/admin/consignes/60999", headers=ADMIN).status_code == 404
    assert {"instruction.changed", "instruction.reset"} <= set(_actions(db))


# ---- exercises ----------------------------------------------------------------------------------


def test_start_a_synthetic_exercise_and_read_its_report(pages: TestClient, db: Db) -> None:
    form = {
        "name": "Exercice PCS 2026",
        "source": "synthetic",
        "title": "Orage simulé",
        "communes": ["60636"],
        "steps": "0 jaune 12\n10 orange 25\n20 fin",
        "speed": "60",
        "start_in_min": "5",
    }
    started = pages.post("/admin/exercices", headers=ADMIN, data=form, follow_redirects=False)
    assert started.status_code == 303, started.text
    report_url = started.headers["location"].split("?")[0]
    report = pages.get(report_url, headers=ADMIN)
    assert report.status_code == 200 and "Exercice : Exercice PCS 2026" in report.text
    assert report.text.count("<tr>") == 1 + 3  # header and three steps
    assert "ouverture" in report.text and "fin d&#39;alerte" in report.text
    assert db.execute("SELECT speed FROM exercises WHERE name = 'Exercice PCS 2026'").fetchone() == (60.0,)
    assert "Exercice PCS 2026" in pages.get("/admin/exercices", headers=ADMIN).text
    assert "exercise.started" in _actions(db)


def test_exercise_form_refusals(pages: TestClient, db: Db) -> None:
    base = {"name": "Ex", "source": "synthetic", "communes": ["60636"], "speed": "1", "start_in_min": "0"}
    r = pages.post("/admin/exercices", headers=ADMIN, data={**base, "steps": "0 violet"})
    assert r.status_code == 422 and 'id="champ-steps-erreur"' in r.text and "ligne 1" in r.text
    r = pages.post("/admin/exercices", headers=ADMIN, data={**base, "steps": "0 jaune\n10 jaune\n20 fin"})
    assert r.status_code == 422 and "deux étapes de suite au même niveau" in r.text
    assert "0 jaune\n10 jaune\n20 fin" in r.text  # what was typed is kept
    r = pages.post("/admin/exercices", headers=ADMIN, data={**base, "steps": "0 jaune\n5 fin", "speed": "0"})
    assert r.status_code == 422 and 'id="champ-speed-erreur"' in r.text
    r = pages.post("/admin/exercices", headers=ADMIN, data={**base, "source": "incident", "incident_id": ""})
    assert r.status_code == 422 and 'id="champ-incident_id-erreur"' in r.text
    r = pages.post(
        "/admin/exercices", headers=ADMIN, data={**base, "source": "incident", "incident_id": "999999"}
    )
    assert r.status_code == 404
    r = pages.post(
        "/admin/exercices",
        headers=ADMIN,
        data={**base, "name": XSS, "steps": "0 rouge\n1 fin"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert db.execute("SELECT count(*) FROM exercises").fetchone() == (1,)
    _escaped(pages.get("/admin/exercices", headers=ADMIN).text)
    assert pages.get("/admin/exercices/999999", headers=ADMIN).status_code == 404


def test_replay_a_past_incident_chosen_from_the_list(pages: TestClient, db: Db) -> None:
    from tests.alerts.rain import T0, add_rain, engine, only_rules

    make_station(db, "thourotte-mairie")
    only_rules(db, "Cumul 1 h%")
    add_rain(db, "thourotte-mairie", T0, 20.0)
    engine().evaluate(db, ["thourotte-mairie"], now=T0)
    iid = db.execute("SELECT id FROM incidents").fetchone()
    assert iid is not None
    listed = pages.get("/admin/exercices", headers=ADMIN).text
    assert f'<option value="{iid[0]}">n° {iid[0]} — ' in listed  # offered in the list
    form = {"name": "Rejeu", "source": "incident", "incident_id": str(iid[0]), "speed": "60"}
    started = pages.post("/admin/exercices", headers=ADMIN, data=form, follow_redirects=False)
    assert started.status_code == 303, started.text
    report = pages.get(started.headers["location"], headers=ADMIN).text
    assert f"incident n° {iid[0]} rejoué" in report and "accélération \u00d7 60" in report
    kinds = [k for (k,) in db.execute("SELECT kind FROM exercise_steps ORDER BY seq").fetchall()]
    assert kinds == ["opened", "resolved"]


def test_without_the_broker_directory_a_station_is_refused_in_french(client: TestClient, db: Db) -> None:
    """No VIGIE_BROKER__DIRECTORY: the page says why (503), keeps the form, creates nothing."""
    r = client.post("/admin/stations", headers=TECH, data=_station_form("st-sans-broker"))
    assert r.status_code == 503
    assert "VIGIE_BROKER__DIRECTORY" in r.text and 'value="st-sans-broker"' in r.text
    assert db.execute("SELECT count(*) FROM stations WHERE id = 'st-sans-broker'").fetchone() == (0,)
