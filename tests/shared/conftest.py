"""The ingest fixtures, for the restore drill that runs the real ingest (tests/ingest owns them)."""

from tests.ingest.conftest import ingest_env, make_ingest

__all__ = ["ingest_env", "make_ingest"]
