"""Logging set-up with a filter that keeps secrets (URL passwords, tokens) out of every record."""

from __future__ import annotations

import logging
import re

# user:password@ in any URL, and the usual query-string secrets.
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@"
)
_QUERY_SECRET = re.compile(
    r"(?i)\b(password|passwd|pass|token|apikey|api_key|secret|key)=([^&\s]+)"
)


def redact(text: str) -> str:
    """Return text with URL passwords and secret query parameters replaced by ***."""
    text = _URL_CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text)
    return _QUERY_SECRET.sub(r"\1=***", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message through redact()."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once: one line per record, secrets redacted."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
