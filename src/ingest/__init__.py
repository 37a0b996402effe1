"""Vigie ingest service."""
