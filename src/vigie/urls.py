"""The public addresses every service writes into what it sends (SMS, e-mail, CAP, Atom).

One setting, Settings.public_url (VIGIE_PUBLIC_URL), the address residents reach the site at;
the paths below are served by the API (src/api/routes) and linked by the alerts service.
"""

from __future__ import annotations

from vigie.settings import Settings


def public_base_url(settings: Settings) -> str:
    """The site's public URL without a trailing slash."""
    return settings.public_url.rstrip("/")


def incident_page_url(base_url: str, incident_id: int) -> str:
    """The public page of one incident: the link every SMS, e-mail and CAP message carries."""
    return f"{base_url.rstrip('/')}/incidents/{incident_id}"


def cap_feed_url(base_url: str) -> str:
    """The Atom feed of the CAP messages."""
    return f"{base_url.rstrip('/')}/api/v1/alerts/cap.atom"


def cap_url(base_url: str, message_id: int) -> str:
    """One CAP message's XML."""
    return f"{base_url.rstrip('/')}/api/v1/alerts/{message_id}/cap.xml"


def unsubscribe_url(base_url: str, token: str) -> str:
    """A resident's unsubscribe page (a button, so that mail scanners opening links do not
    unsubscribe anyone): in every e-mail a resident receives."""
    return f"{base_url.rstrip('/')}/desinscription/{token}"


def confirm_email_url(base_url: str, token: str) -> str:
    """The confirmation page of an e-mail sign-up (double opt-in), sent by e-mail."""
    return f"{base_url.rstrip('/')}/inscription/confirmer/{token}"
