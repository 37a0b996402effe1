"""Residents sign themselves up for alerts (no sign-in): double opt-in, unsubscription at once,
RGPD erasure, rate limits per address and per IP; and the admin's reach per commune.

Roles: api.route_roles (SIGNUP, SMS_INBOUND, RESIDENTS_ADMIN). See docs/signup.md.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import html
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException, Path, Request
from fastapi.responses import HTMLResponse

from api import route_roles as roles
from api.auth import require
from api.deps import Pool, SettingsDep
from api.openapi import json_body
from api.routes._common import VigieRoute, parse
from api.schemas.errors import error_responses
from api.schemas.residents import CommuneReach, InboundAnswer, SignupAccepted, SignupDone
from vigie import residents_queries, signup_sender, urls
from vigie.errors import ValidationFailed
from vigie.residents import (
    ERASE_WORDS,
    STOP_WORDS,
    TOKEN_PATTERN,
    ConfirmIn,
    EraseIn,
    InboundSms,
    SignupIn,
    TokenIn,
    channel_url,
    code_sms,
    confirm_email,
    hash_code,
    limit_key,
    new_code,
    new_token,
    normalise_phone,
)
from vigie.settings import Settings

router = APIRouter(prefix="/api/v1/signup", tags=["signup"], route_class=VigieRoute)
admin_router = APIRouter(prefix="/api/v1/residents", tags=["signup"], route_class=VigieRoute)
page_router = APIRouter(tags=["pages"], route_class=VigieRoute)

JsonBody = Annotated[dict[str, Any], Body()]
Token = Annotated[str, Path(pattern=TOKEN_PATTERN)]
EMAIL_LINK_TTL = timedelta(days=1)


def _gateway(settings: Settings, channel: str) -> str:
    url = (settings.signup.sms_url if channel == "sms" else settings.signup.email_url).get_secret_value()
    if not url:
        raise HTTPException(
            503,
            "inscription par " + ("SMS" if channel == "sms" else "e-mail") + " non disponible pour le moment",
        )
    return url


async def _send(settings: Settings, url: str, subject: str | None, body: str) -> bool:
    return await asyncio.to_thread(
        functools.partial(
            signup_sender.send,
            url,
            subject,
            body,
            settings.signup.send_timeout_s,
            allow_private=settings.outbound.allow_private,
            allowed=settings.outbound.allowed_networks,
        )
    )


@router.post(
    "",
    status_code=202,
    dependencies=[require(roles.SIGNUP)],
    responses=error_responses(429, 503),
    openapi_extra=json_body(SignupIn),
)
async def sign_up(pool: Pool, settings: SettingsDep, request: Request, body: JsonBody) -> SignupAccepted:
    """Ask for alerts of one commune from one level, by SMS (a code comes back) or e-mail (a
    link comes back). Nothing is sent to anyone before the limits are checked."""
    sub = parse(SignupIn, body, "inscription refusée")
    template = _gateway(settings, sub.channel)
    s = settings.signup
    now = datetime.now(UTC)
    ip = request.client.host if request.client else "inconnue"
    address_key, ip_key = limit_key("address", sub.address), limit_key("ip", ip)
    # Its own transaction: the hits count even when the request is refused.
    async with pool.connection() as conn:
        allowed = await residents_queries.hit_limits(
            conn,
            [
                (address_key, 3600, s.per_address_hour),
                (address_key, 86400, s.per_address_day),
                (ip_key, 3600, s.per_ip_hour),
                (ip_key, 86400, s.per_ip_day),
            ],
            now,
        )
    if not allowed:
        raise HTTPException(
            429, "trop de demandes d'inscription pour cette adresse ou depuis ce réseau : réessayez plus tard"
        )
    request_key, token = new_token(), new_token()
    code = new_code() if sub.channel == "sms" else None
    expires = now + (timedelta(seconds=s.code_ttl_s) if code else EMAIL_LINK_TTL)
    async with pool.connection() as conn, conn.transaction():
        commune = await residents_queries.commune_name(conn, sub.commune)
        if commune is None:
            raise ValidationFailed(f"inscription refusée : commune inconnue des Deux Vallées : {sub.commune}")
        await residents_queries.create_request(
            conn, sub, request_key, token, hash_code(request_key, code) if code else None, expires, now
        )
    url = channel_url(template, sub.channel, sub.address)
    if code is not None:
        sent = await _send(settings, url, None, code_sms(code, commune, s.code_ttl_s // 60))
    else:
        subject, text = confirm_email(urls.confirm_email_url(settings.public_url, token), commune)
        sent = await _send(settings, url, subject, text)
    if not sent:
        raise HTTPException(503, "envoi impossible pour le moment : réessayez plus tard")
    return SignupAccepted(
        request=request_key,
        channel=sub.channel,
        expires_at=expires,
        detail="code envoyé par SMS" if code else "lien de confirmation envoyé par e-mail",
    )


@router.post(
    "/confirm",
    dependencies=[require(roles.SIGNUP)],
    responses=error_responses(503),
    openapi_extra=json_body(ConfirmIn),
)
async def confirm(pool: Pool, settings: SettingsDep, body: JsonBody) -> SignupDone:
    """Confirm an SMS sign-up with its code: the consent is recorded with its time."""
    item = parse(ConfirmIn, body, "confirmation refusée")
    # The gateway is needed only once the code is right (to build the resident's channel).
    template = settings.signup.sms_url.get_secret_value()
    try:
        async with pool.connection() as conn, conn.transaction():
            outcome, _ = await residents_queries.confirm_code(
                conn, item.request, item.code, settings.signup.code_attempts, template, datetime.now(UTC)
            )
    except ValueError:  # no gateway configured any more: nothing was activated
        raise HTTPException(503, "inscription par SMS non disponible pour le moment") from None
    if outcome == "ok":
        return SignupDone(detail="inscription confirmée : vous recevrez les alertes de votre commune")
    reasons = {
        "wrong": "code incorrect",
        "expired": "code expiré ou trop d'essais : recommencez l'inscription",
        "unknown": "demande inconnue ou déjà confirmée",
    }
    # Committed before answering: a wrong code's attempt counts.
    raise ValidationFailed(f"confirmation refusée : {reasons[outcome]}")


async def _confirm_email(pool: Pool, settings: Settings, token: str) -> bool:
    template = settings.signup.email_url.get_secret_value()
    try:
        async with pool.connection() as conn, conn.transaction():
            done = await residents_queries.confirm_token(conn, token, template, datetime.now(UTC))
    except ValueError:  # no gateway configured any more: nothing was activated
        raise HTTPException(503, "inscription par e-mail non disponible pour le moment") from None
    return done is not None


async def _unsubscribe(pool: Pool, token: str) -> int:
    async with pool.connection() as conn, conn.transaction():
        return await residents_queries.unsubscribe_token(conn, token, datetime.now(UTC))


@router.post(
    "/confirm-email",
    dependencies=[require(roles.SIGNUP)],
    responses=error_responses(503),
    openapi_extra=json_body(TokenIn),
)
async def confirm_by_email(pool: Pool, settings: SettingsDep, body: JsonBody) -> SignupDone:
    """Confirm an e-mail sign-up with the key of its link."""
    item = parse(TokenIn, body, "confirmation refusée")
    if not await _confirm_email(pool, settings, item.token):
        raise ValidationFailed("confirmation refusée : lien inconnu, expiré ou déjà utilisé")
    return SignupDone(detail="inscription confirmée : vous recevrez les alertes de votre commune")


@router.post("/unsubscribe", dependencies=[require(roles.SIGNUP)], openapi_extra=json_body(TokenIn))
async def unsubscribe(pool: Pool, body: JsonBody) -> SignupDone:
    """Stop the alerts of this sign-up, at once (the key is in every message's link)."""
    item = parse(TokenIn, body, "désinscription refusée")
    n = await _unsubscribe(pool, item.token)
    return SignupDone(detail="désinscription faite" if n else "déjà désinscrit ou lien inconnu", count=n)


@router.post("/erase", dependencies=[require(roles.SIGNUP)], openapi_extra=json_body(TokenIn))
async def erase(pool: Pool, body: JsonBody) -> SignupDone:
    """Erase the resident's data (RGPD): every sign-up of their address goes, at once."""
    item = parse(TokenIn, body, "suppression refusée")
    async with pool.connection() as conn, conn.transaction():
        n = await residents_queries.erase_token(conn, item.token)
    return SignupDone(detail="données supprimées" if n else "rien à supprimer", count=n)


@router.post("/sms-inbound", dependencies=[require(roles.SMS_INBOUND)], openapi_extra=json_body(InboundSms))
async def sms_inbound(
    pool: Pool,
    settings: SettingsDep,
    body: JsonBody,
    key: Annotated[str | None, Header(alias="X-Vigie-Gateway-Key", max_length=200)] = None,
) -> InboundAnswer:
    """The SMS gateway forwards each SMS a resident sends: STOP unsubscribes that number at once,
    SUPPRIMER erases it (RGPD); anything else is ignored. Authenticated by the gateway's key."""
    expected = settings.signup.inbound_token.get_secret_value()
    if not expected or key is None or not hmac.compare_digest(key.encode(), expected.encode()):
        raise HTTPException(401, "clé de passerelle invalide")
    item = parse(InboundSms, body, "SMS refusé")
    words = item.msg.strip().split()
    word = words[0].upper().strip(".!") if words else ""
    try:
        number = normalise_phone(item.sender)
    except ValueError:
        return InboundAnswer(action="ignored", count=0)
    now = datetime.now(UTC)
    async with pool.connection() as conn, conn.transaction():
        if word in STOP_WORDS:
            action, n = "unsubscribed", await residents_queries.unsubscribe_address(conn, "sms", number, now)
        elif word in ERASE_WORDS:
            action, n = "erased", await residents_queries.erase_address(conn, "sms", number)
        else:
            return InboundAnswer(action="ignored", count=0)
    template = settings.signup.sms_url.get_secret_value()
    if n and template:
        done = (
            "Vous ne recevrez plus les alertes Vigie"
            if action == "unsubscribed"
            else ("Vos donnees d'inscription aux alertes Vigie sont supprimees")
        )
        await _send(
            settings,
            channel_url(template, "sms", number),
            None,
            f"{done}. Reinscription: {settings.public_url.rstrip('/')}",
        )
    return InboundAnswer(action=action, count=n)


# -- the pages the links lead to: a button, so that a mail scanner opening a link changes nothing --
_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — Vigie</title></head>
<body style="font-family:sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem">
<h1>{title}</h1><p>{text}</p>{form}</body></html>"""


def _page(title: str, text: str, action: str | None = None, button: str = "") -> HTMLResponse:
    form = (
        f'<form method="post" action="{html.escape(action)}"><button type="submit">'
        f"{html.escape(button)}</button></form>"
        if action
        else ""
    )
    return HTMLResponse(_PAGE.format(title=html.escape(title), text=html.escape(text), form=form))


_HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "Une page, en français"}
}


@page_router.get(
    "/desinscription/{token}",
    response_class=HTMLResponse,
    responses=_HTML,
    dependencies=[require(roles.SIGNUP)],
)
async def unsubscribe_page(token: Token) -> HTMLResponse:
    """The unsubscribe link of every e-mail: one button."""
    return _page(
        "Désinscription des alertes",
        "Vous ne recevrez plus les alertes pluie et inondation.",
        f"/desinscription/{token}",
        "Me désinscrire",
    )


@page_router.post(
    "/desinscription/{token}",
    response_class=HTMLResponse,
    responses=_HTML,
    dependencies=[require(roles.SIGNUP)],
)
async def unsubscribe_form(pool: Pool, token: Token) -> HTMLResponse:
    """The button of the unsubscribe page: done at once."""
    n = await _unsubscribe(pool, token)
    return _page(
        "Désinscription des alertes",
        "C'est fait : vous ne recevrez plus d'alertes." if n else "Vous étiez déjà désinscrit.",
    )


@page_router.get(
    "/inscription/confirmer/{token}",
    response_class=HTMLResponse,
    responses=_HTML,
    dependencies=[require(roles.SIGNUP)],
)
async def confirm_page(token: Token) -> HTMLResponse:
    """The confirmation link of an e-mail sign-up: one button."""
    return _page(
        "Inscription aux alertes",
        "Confirmez pour recevoir les alertes de votre commune.",
        f"/inscription/confirmer/{token}",
        "Je confirme",
    )


@page_router.post(
    "/inscription/confirmer/{token}",
    response_class=HTMLResponse,
    responses=_HTML,
    dependencies=[require(roles.SIGNUP)],
)
async def confirm_form(pool: Pool, settings: SettingsDep, token: Token) -> HTMLResponse:
    """The button of the confirmation page."""
    ok = await _confirm_email(pool, settings, token)
    return _page(
        "Inscription aux alertes", "Inscription confirmée." if ok else "Lien inconnu, expiré ou déjà utilisé."
    )


# -- admin -------------------------------------------------------------------------------------
@admin_router.get("/reach", dependencies=[require(roles.RESIDENTS_ADMIN)])
async def reach(pool: Pool) -> list[CommuneReach]:
    """Per commune: residents signed up (SMS, e-mail), requests waiting, against the population."""
    async with pool.connection() as conn:
        return [CommuneReach.model_validate(r) for r in await residents_queries.reach(conn)]


@admin_router.post("/erase", dependencies=[require(roles.RESIDENTS_ADMIN)], openapi_extra=json_body(EraseIn))
async def erase_by_address(pool: Pool, body: JsonBody) -> SignupDone:
    """Erase a resident who asked by letter or phone (RGPD), by their number or address."""
    item = parse(EraseIn, body, "suppression refusée")
    try:
        channel, address = item.key()
    except ValueError as exc:
        raise ValidationFailed(f"suppression refusée : {exc}") from None
    async with pool.connection() as conn, conn.transaction():
        n = await residents_queries.erase_address(conn, channel, address)
    return SignupDone(detail="données supprimées" if n else "aucune inscription à cette adresse", count=n)
