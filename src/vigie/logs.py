"""Logging set-up that keeps secrets (URL passwords, tokens, password= pairs) out of every line,
tracebacks included: the formatter redacts the whole formatted record, so an exception's message
and its chained causes go through the same rules as the message itself."""

from __future__ import annotations

import logging
import re

_SCHEME = r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)"
# What may end a host: the URL goes on (port, path, query) or the text does.
_HOST_END = r"(?=[\w.\-\[\]]*(?::\d+)?(?:[/?#\s'\",;)>\]}]|$))"
# user:password@host. The password may hold '/' and '@' (people paste them unescaped): it runs
# to the LAST '@' that is followed by a host, but never past '?' or '#', which would begin the
# query (where mailto://…?to=someone@example is an address, not a secret). The user may hold
# '@' (SMTP logins are e-mail addresses).
_URL_PASSWORD = re.compile(_SCHEME + r"(?P<user>[^:/\s'\"]*):[^\s'\"?#]*@" + _HOST_END)
# token@host: a lone userinfo is a token for most Apprise schemes (smseagle://token@host).
_URL_TOKEN = re.compile(_SCHEME + r"[^:/\s@'\"?#]+@" + _HOST_END)
# password=…, "password": "…", VIGIE_X_PASSWORD=…, token: … (in queries, DSNs, env, JSON).
_KEY_VALUE = re.compile(
    r"(?i)(?P<key>\b\w*(?:password|passwd|pwd|secret|token|api_?key|apikey)\w*\b"
    r"|\bkey\b)(?P<sep>\"?\s*[=:]\s*\"?)(?P<value>[^&\s\"',;]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact(text: str) -> str:
    """Return text with URL passwords and tokens, secret key=value pairs and bearer tokens as ***."""
    text = _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", text)
    text = _URL_TOKEN.sub(r"\g<scheme>***@", text)
    text = _KEY_VALUE.sub(r"\g<key>\g<sep>***", text)
    return _BEARER.sub(r"\1 ***", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message through redact(), for handlers other than ours too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted line: message, exception text with its causes, stack info."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once: one line per record, secrets redacted."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
