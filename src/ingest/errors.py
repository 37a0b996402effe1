"""Ingest's exceptions."""

from vigie.errors import VigieError


class IngestError(VigieError):
    """Base of ingest's own errors."""


class Rejected(IngestError):
    """An input that goes to the dead-letter table; `reason` is its stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
