"""Send one message now through Apprise (the sign-up codes, from the API).

The notifier (src/alerts) sends alerts with its own retries and delivery log; a sign-up code is
a one-off the resident waits for on the form, so it goes straight out and the form says if the
gateway failed. The gateway's address passes the same guard as the notifier's (vigie.outbound):
an internal address only where the site allows it. Blocking: callers in async code run it in a
thread. The URL is a secret: it is never logged, and Apprise's logger is kept off the root
handlers while it runs.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

from vigie.outbound import IPNetwork, OutboundRefused, OutboundUnresolved, check_url


def send(
    url: str,
    subject: str | None,
    body: str,
    timeout_s: float,
    *,
    allow_private: bool = False,
    allowed: Sequence[IPNetwork] = (),
) -> bool:
    """True when the provider accepted the message (False too when the guard refuses it)."""
    try:
        check_url(url, allow_private=allow_private, allowed=allowed)
    except (OutboundRefused, OutboundUnresolved):
        return False
    # Imported here: apprise is a tenth of a second of CPU that every start of the API paid for a
    # sign-up code sent now and then (issue 14: restarts under 5 s).
    import apprise

    logging.getLogger("apprise").propagate = False  # it logs recipients and tokens
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # imghdr, imported by mailto://
        plugin = apprise.Apprise.instantiate(
            url, asset=apprise.AppriseAsset(secure_logging=True), suppress_exceptions=True
        )
        if plugin is None:
            return False
        plugin.retry = 0
        plugin.socket_connect_timeout = timeout_s
        plugin.socket_read_timeout = timeout_s
        try:
            return bool(plugin.notify(body=body, title=subject or "", body_format=apprise.NotifyFormat.TEXT))
        except Exception:  # noqa: BLE001  # an exception text may quote the URL
            return False
