"""Accounts against the real database: sign-in, sessions, CSRF, the limiter, tokens, the audit log."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx2
import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from tests.api.conftest import ADMIN, LOOPBACK, bearer, role_token
from tests.factories import make_user
from vigie.settings import ApiSettings, AuthSettings, Settings

Db = psycopg.Connection[tuple[object, ...]]
PASSWORD = "une phrase de passe assez longue"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(client: TestClient, login: str, password: str, **extra: str) -> httpx2.Response:
    """Open the form (which sets its token cookie), then send it as a browser would."""
    page = client.get("/connexion")
    assert page.status_code == 200, page.text
    token = CSRF.search(page.text)
    assert token is not None
    data = {"login": login, "password": password, "csrf_token": token.group(1), **extra}
    return client.post("/connexion", data=data, follow_redirects=False)


def csrf_of(client: TestClient) -> str:
    """The session's CSRF token, as the pages carry it."""
    found = CSRF.search(client.get("/compte").text)
    assert found is not None
    return found.group(1)


def audit_actions(db: Db) -> list[tuple[str, str, str | None]]:
    rows = db.execute("SELECT action, actor, host(ip) FROM audit_log ORDER BY id").fetchall()
    return [(str(a), str(b), str(c) if c else None) for a, b, c in rows]


@pytest.fixture
def alice(db: Db, client: TestClient) -> int:
    """A duty officer with a password (after `client`, so the role accounts exist too)."""
    return make_user(db, "alice", ["duty"], password=PASSWORD, display_name="Alice Martin")


def test_sign_in_sets_a_session_cookie_and_signs_out(client: TestClient, db: Db, alice: int) -> None:
    r = sign_in(client, "alice", PASSWORD, suivant="/compte")
    assert r.status_code == 303 and r.headers["location"] == "/compte"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("vigie_session="))
    attrs = {a.strip().lower() for a in cookie.split(";")}
    assert {"httponly", "samesite=lax", "path=/"} <= attrs
    assert "secure" not in attrs  # plain http, no trusted proxy
    page = client.get("/compte")
    assert page.status_code == 200 and "Alice Martin" in page.text
    me = client.get("/api/v1/me").json()
    assert me == {"login": "alice", "display_name": "Alice Martin", "roles": ["duty"], "via": "session"}
    # Sign-out without the CSRF token is refused; with it, the session ends in the database.
    assert client.post("/deconnexion", data={}, follow_redirects=False).status_code == 403
    out = client.post("/deconnexion", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/compte").status_code == 401
    assert db.execute("SELECT count(*) FROM web_sessions WHERE revoked_at IS NULL").fetchone() == (0,)
    assert [a for a, _, _ in audit_actions(db)] == ["signin.ok", "signout"]


def test_wrong_password_and_unknown_login_are_refused_alike(client: TestClient, db: Db, alice: int) -> None:
    wrong = sign_in(client, "alice", "pas le bon mot de passe")
    unknown = sign_in(client, "personne", PASSWORD)
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert "Identifiant ou mot de passe incorrect." in r.text
        assert "vigie_session" not in r.headers.get("set-cookie", "")
    assert [(a, who) for a, who, _ in audit_actions(db)] == [
        ("signin.failed", "alice"),
        ("signin.failed", "personne"),
    ]


def test_sign_in_without_the_form_token_is_refused(client: TestClient, alice: int) -> None:
    # A cross-site page cannot read or set the form's cookie: its post has no matching token.
    r = client.post("/connexion", data={"login": "alice", "password": PASSWORD, "csrf_token": "x" * 43})
    assert r.status_code == 403
    assert "vigie_session" not in r.headers.get("set-cookie", "")


def test_open_redirects_are_not_followed(client: TestClient, alice: int) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        r = sign_in(TestClient(client.app), "alice", PASSWORD, suivant=target)
        assert r.headers["location"] == "/", target


def test_cookie_requests_need_the_csrf_header_and_bearer_requests_do_not(
    client: TestClient, alice: int
) -> None:
    sign_in(client, "alice", PASSWORD)
    ack = "/api/v1/incidents/999999/acknowledge"
    refused = client.post(ack, json={})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert client.post(ack, json={}, headers={"X-CSRF-Token": "faux"}).status_code == 403
    # With the session's token the request goes through to the handler (no such incident).
    assert client.post(ack, json={}, headers={"X-CSRF-Token": csrf_of(client)}).status_code == 404
    # An integration's token needs no CSRF token: a browser never sends this header by itself.
    fresh = TestClient(client.app)
    assert fresh.post(ack, json={}, headers=bearer(role_token("duty"))).status_code == 404


def test_a_password_change_ends_every_other_session(client: TestClient, db: Db, alice: int) -> None:
    other = TestClient(client.app)
    assert sign_in(other, "alice", PASSWORD).status_code == 303
    assert sign_in(client, "alice", PASSWORD).status_code == 303
    new = "une autre phrase de passe, plus longue"
    bad = client.post(
        "/compte/mot-de-passe",
        data={"csrf_token": csrf_of(client), "current": "faux", "new": new, "confirm": new},
    )
    assert bad.status_code == 422 and "Mot de passe actuel incorrect" in bad.text
    short = client.post(
        "/compte/mot-de-passe",
        data={"csrf_token": csrf_of(client), "current": PASSWORD, "new": "court", "confirm": "court"},
    )
    assert short.status_code == 422 and "trop court" in short.text
    ok = client.post(
        "/compte/mot-de-passe",
        data={"csrf_token": csrf_of(client), "current": PASSWORD, "new": new, "confirm": new},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert client.get("/compte").status_code == 200  # this browser got a fresh session
    assert other.get("/compte").status_code == 401  # the other one is signed out
    assert sign_in(TestClient(client.app), "alice", PASSWORD).status_code == 401
    assert sign_in(TestClient(client.app), "alice", new).status_code == 303


def _limited_settings(api_settings: Settings, *, per_account: int, per_ip: int) -> Settings:
    auth = AuthSettings(signin_max_per_account=per_account, signin_max_per_ip=per_ip)
    return api_settings.model_copy(update={"auth": auth})


@pytest.fixture
def two_apps(api_settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    """Two API instances on one database, as two processes behind a load balancer."""
    settings = _limited_settings(api_settings, per_account=5, per_ip=1000)
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        yield a, b


def test_the_limiter_holds_across_two_api_instances(
    two_apps: tuple[TestClient, TestClient], db: Db, alice: int
) -> None:
    a, b = two_apps
    for client in (a, b, a, b, a):
        assert sign_in(client, "alice", "faux").status_code == 401
    # The sixth attempt is refused before the password is even checked, on either instance.
    blocked = sign_in(b, "alice", PASSWORD)
    assert blocked.status_code == 429 and "Trop d'essais" in html.unescape(blocked.text)
    assert sign_in(a, "alice", PASSWORD).status_code == 429
    assert [x for x, _, _ in audit_actions(db)][-2:] == ["signin.limited", "signin.limited"]
    # An admin's reset lifts the lock (and gives a one-time password).
    reset = a.post(f"/api/v1/users/{alice}/reset-password", headers=ADMIN).json()
    r = sign_in(b, "alice", reset["one_time_password"])
    assert r.status_code == 303 and r.headers["location"] == "/compte"  # must change it first
    for path in ("/", "/admin/journal"):  # and every other page sends them back there
        moved = b.get(path, follow_redirects=False)
        assert moved.status_code == 303 and moved.headers["location"] == "/compte", path
    assert b.get("/compte").status_code == 200


def test_the_limiter_counts_per_address_too(api_settings: Settings, db: Db) -> None:
    settings = _limited_settings(api_settings, per_account=100, per_ip=3)
    with TestClient(create_app(settings)) as client:
        make_user(db, "bruno", ["viewer"], password=PASSWORD)
        for login in ("x1", "x2", "x3"):
            assert sign_in(client, login, "faux").status_code == 401
        assert sign_in(client, "bruno", PASSWORD).status_code == 429


def test_secure_cookie_behind_a_trusted_proxy_only(api_settings: Settings, db: Db) -> None:
    make_user(db, "carla", ["viewer"], password=PASSWORD)
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    trusted = api_settings.model_copy(update={"api": ApiSettings(trusted_proxies=("127.0.0.1",))})
    for settings, secure in ((api_settings, False), (trusted, True)):
        with TestClient(create_app(settings), headers=https, client=LOOPBACK) as client:
            # The form's cookie is Secure too behind TLS, so the test client (plain http to the
            # "proxy") would not send it back: the browser's side is played by hand.
            page = client.get("/connexion")
            token = CSRF.search(page.text)
            assert token is not None
            r = client.post(
                "/connexion",
                data={"login": "carla", "password": PASSWORD, "csrf_token": token.group(1)},
                headers={"Cookie": f"vigie_form={token.group(1)}"},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("vigie_session="))
            assert ("secure" in cookie.lower()) is secure
            if secure:
                assert r.headers["strict-transport-security"].startswith("max-age=")
    # The trusted proxy's X-Forwarded-For is the address the audit log records.
    ips = [ip for action, _, ip in audit_actions(db) if action == "signin.ok"]
    assert ips == ["127.0.0.1", "203.0.113.7"]


def test_disabling_an_account_ends_its_sessions_and_tokens(client: TestClient, db: Db, alice: int) -> None:
    browser = TestClient(client.app)
    sign_in(browser, "alice", PASSWORD)
    duty = bearer(role_token("duty"))
    assert client.get("/api/v1/me", headers=duty).status_code == 200
    duty_id = db.execute("SELECT id FROM users WHERE login = 'duty'").fetchone()
    assert duty_id is not None
    for uid in (alice, duty_id[0]):
        r = client.patch(f"/api/v1/users/{uid}", json={"disabled": True}, headers=ADMIN)
        assert r.status_code == 200 and r.json()["active"] is False
    assert browser.get("/compte").status_code == 401
    assert client.get("/api/v1/me", headers=duty).status_code == 401
    assert sign_in(TestClient(client.app), "alice", PASSWORD).status_code == 403


def test_the_last_admin_cannot_lock_everyone_out(client: TestClient, db: Db) -> None:
    admin_id = db.execute("SELECT id FROM users WHERE login = 'admin'").fetchone()
    assert admin_id is not None
    for body in ({"disabled": True}, {"roles": ["viewer"]}):
        r = client.patch(f"/api/v1/users/{admin_id[0]}", json=body, headers=ADMIN)
        assert r.status_code == 409, r.text
    assert client.get("/api/v1/me", headers=ADMIN).json()["roles"] == ["admin"]


def test_tokens_are_shown_once_stored_hashed_scoped_expiring_revocable(client: TestClient, db: Db) -> None:
    viewer_id = db.execute("SELECT id FROM users WHERE login = 'viewer'").fetchone()
    assert viewer_id is not None
    body = {"user_id": viewer_id[0], "name": "Préfecture", "roles": ["viewer"], "days": 30}
    made = client.post("/api/v1/tokens", json=body, headers=ADMIN)
    assert made.status_code == 201, made.text
    secret = made.json()["token"]
    assert secret.startswith("vigie_") and len(secret) > 40
    listed = client.get("/api/v1/tokens", headers=ADMIN)
    assert secret not in listed.text and made.json()["prefix"] in listed.text
    stored = db.execute(
        "SELECT token_hash, prefix FROM api_tokens WHERE id = %s", (made.json()["id"],)
    ).fetchone()
    assert stored is not None and isinstance(stored[0], bytes)
    assert secret.encode() not in stored[0] and len(stored[0]) == 32
    token = bearer(secret)
    assert client.get("/api/v1/stations", headers=token).status_code == 200
    assert client.post("/api/v1/rules", json={}, headers=token).status_code == 403  # scope
    # More roles than the holder has, or longer than allowed: refused.
    assert client.post("/api/v1/tokens", json={**body, "roles": ["admin"]}, headers=ADMIN).status_code == 422
    assert client.post("/api/v1/tokens", json={**body, "days": 5000}, headers=ADMIN).status_code == 422
    db.execute(
        "UPDATE api_tokens SET expires_at = now() - interval '1 s' WHERE id = %s", (made.json()["id"],)
    )
    assert client.get("/api/v1/stations", headers=token).status_code == 401
    db.execute(
        "UPDATE api_tokens SET expires_at = now() + interval '1 day' WHERE id = %s", (made.json()["id"],)
    )
    assert client.get("/api/v1/stations", headers=token).status_code == 200
    revoked = client.delete(f"/api/v1/tokens/{made.json()['id']}", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert client.get("/api/v1/stations", headers=token).status_code == 401
    assert client.get("/api/v1/stations", headers=bearer("vigie_" + "x" * 43)).status_code == 401
    actions = [a for a, _, _ in audit_actions(db)]
    assert actions == ["token.created", "token.revoked"]


def test_the_audit_log_is_append_only(db: Db, client: TestClient) -> None:
    client.post("/api/v1/users", json={"login": "denis", "display_name": "Denis", "roles": []}, headers=ADMIN)
    assert audit_actions(db)[0][:2] == ("user.created", "admin")
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="ajout seul"):
            db.execute(sql)
    assert len(audit_actions(db)) == 1
    entries = client.get("/api/v1/audit", headers=ADMIN).json()
    assert entries[0]["action"] == "user.created" and entries[0]["target"] == "denis"
    assert client.get("/api/v1/audit?action=signin", headers=ADMIN).json() == []


def test_deletions_are_audited_with_who_and_where(client: TestClient, db: Db) -> None:
    tech = bearer(role_token("technician"))
    body = {"id": "ru-test", "name": "Ru test", "area_km2": 2.0, "cn2": 70}
    assert client.post("/api/v1/catchments", json=body, headers=tech).status_code == 201
    assert client.delete("/api/v1/catchments/ru-test", headers=tech).status_code == 204
    assert client.delete("/api/v1/catchments/ru-test", headers=tech).status_code == 404  # not recorded
    rows = db.execute("SELECT actor, action, target, ip IS NOT NULL FROM audit_log").fetchall()
    assert rows == [("technician", "deleted", "/api/v1/catchments/ru-test", True)]


def test_users_api_creates_with_a_one_time_password(client: TestClient, db: Db) -> None:
    r = client.post(
        "/api/v1/users",
        json={"login": "Emma.L", "display_name": "Emma", "roles": ["naturalist"]},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["login"] == "emma.l" and made["must_change_password"] is True
    assert len(made["one_time_password"]) == 16
    shown = client.get(f"/api/v1/users/{made['id']}", headers=ADMIN).text
    assert "one_time_password" not in shown and "hash" not in shown and "argon2" not in shown
    stored = db.execute("SELECT password_hash FROM users WHERE login = 'emma.l'").fetchone()
    assert stored is not None and str(stored[0]).startswith("$argon2id$")
    dup = client.post("/api/v1/users", json={"login": "emma.l", "display_name": "E"}, headers=ADMIN)
    assert dup.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"login": "x", "display_name": "trop court"},
        {"login": "a b", "display_name": "espace"},
        {"login": "<script>", "display_name": "balise"},
        {"login": "ok.login", "display_name": ""},
        {"login": "ok.login", "display_name": "ctrl\x07"},
        {"login": "ok.login", "display_name": "rôle", "roles": ["public"]},
        {"login": "ok.login", "display_name": "rôle", "roles": ["superuser"]},
        {"login": "ok.login", "display_name": "mdp", "password": "court"},
        {"login": "ok.login", "display_name": "x" * 201},
        {"login": "ok.login", "display_name": "champ", "extra": 1},
    ],
)
def test_hostile_user_bodies_are_refused(client: TestClient, db: Db, body: dict[str, object]) -> None:
    r = client.post("/api/v1/users", json=body, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], (str, list))
    assert db.execute("SELECT count(*) FROM users WHERE login = 'ok.login'").fetchone() == (0,)


def test_hostile_forms_are_refused_and_the_app_keeps_serving(client: TestClient, alice: int) -> None:
    sign_in(client, "alice", PASSWORD)
    too_big = client.post(
        "/compte/mot-de-passe",
        content=b"a=" + b"x" * 70_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert too_big.status_code == 413
    not_utf8 = client.post(
        "/connexion", content=b"login=\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert not_utf8.status_code == 400
    many = client.post(
        "/connexion",
        content="&".join(f"f{i}=1" for i in range(500)).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert many.status_code == 400
    assert client.get("/compte").status_code == 200


def test_security_headers_and_body_limit(client: TestClient) -> None:
    for path in ("/connexion", "/api/v1/incidents", "/static/vigie.css"):
        h = client.get(path).headers
        assert "default-src 'self'" in h["content-security-policy"]
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "same-origin"
    assert "http" not in client.get("/").headers["content-security-policy"]  # no outside origin
    # The body limit is api.limits' (64 KiB by default), declared or streamed.
    big = client.post("/api/v1/users", content=b"{" + b" " * (70 * 1024) + b"}", headers=ADMIN)
    assert big.status_code == 413 and "trop volumineux" in big.json()["detail"]

    def chunks() -> Iterator[bytes]:
        for _ in range(70):
            yield b" " * 1024

    chunked = client.post(
        "/api/v1/users", content=chunks(), headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert chunked.status_code == 413


def test_static_assets_are_versioned_and_cached(client: TestClient) -> None:
    page = client.get("/connexion").text
    css = re.search(r'href="(/static/vigie\.css\?v=[0-9a-f]{12})"', page)
    assert css is not None
    r = client.get(css.group(1))
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    assert client.get("/static/vendor/uplot/uPlot.iife.min.js").status_code == 200  # `make assets`
    assert client.get("/static/../settings.py").status_code == 404


def test_pages_refuse_in_html_with_a_way_to_sign_in(client: TestClient) -> None:
    r = client.get("/admin/utilisateurs?x=1")
    assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
    assert "/connexion?suivant=%2Fadmin%2Futilisateurs%3Fx%3D1" in r.text
    denied = client.get("/admin/utilisateurs", headers=bearer(role_token("viewer")))
    assert denied.status_code == 403 and "Accès refusé" in denied.text


def test_settings_have_no_admin_token() -> None:
    with pytest.raises(ValueError, match="admin_token"):
        ApiSettings(admin_token=SecretStr("x"))  # type: ignore[call-arg]


def test_a_token_records_its_use_at_most_once_a_minute(client: TestClient, db: Db) -> None:
    viewer_id = db.execute("SELECT id FROM users WHERE login = 'viewer'").fetchone()
    assert viewer_id is not None
    body = {"user_id": viewer_id[0], "name": "Tableau de bord", "roles": ["viewer"], "days": 30}
    made = client.post("/api/v1/tokens", json=body, headers=ADMIN).json()

    def last_used() -> object:
        row = db.execute("SELECT last_used_at FROM api_tokens WHERE id = %s", (made["id"],)).fetchone()
        assert row is not None
        return row[0]

    assert last_used() is None
    token = bearer(made["token"])
    assert client.get("/api/v1/stations", headers=token).status_code == 200
    first = last_used()
    assert first is not None  # the first use is recorded
    assert client.get("/api/v1/stations", headers=token).status_code == 200
    assert last_used() == first  # within the minute: not written again
    db.execute(
        "UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE id = %s", (made["id"],)
    )
    stale = last_used()
    assert client.get("/api/v1/stations", headers=token).status_code == 200
    assert last_used() > stale  # type: ignore[operator]  # older than a minute: written again
    # Revoked: refused, and the failed use is not recorded.
    client.delete(f"/api/v1/tokens/{made['id']}", headers=ADMIN)
    db.execute("UPDATE api_tokens SET last_used_at = NULL WHERE id = %s", (made["id"],))
    assert client.get("/api/v1/stations", headers=token).status_code == 401
    assert last_used() is None
