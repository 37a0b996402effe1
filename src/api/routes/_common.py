"""What the routers share: the route class (its body limit) and list bounds.

Request errors (422, 413) are answered in French by api.errors for every route; a route class
only says how large its bodies may be (the BodyLimit middleware reads `body_limit`).
"""

from __future__ import annotations

from typing import ClassVar

from fastapi.routing import APIRoute

from api.limits import DEFAULT_BODY_LIMIT
from api.validation import describe, merge_patch, parse

__all__ = ["MAX_BODY_BYTES", "MAX_OFFSET", "VigieRoute", "describe", "merge_patch", "parse"]

MAX_BODY_BYTES = DEFAULT_BODY_LIMIT
MAX_OFFSET = 1_000_000


class VigieRoute(APIRoute):
    """A route whose bodies are limited to body_limit bytes (413 past it)."""

    body_limit: ClassVar[int] = MAX_BODY_BYTES
