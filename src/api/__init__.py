"""Vigie api service."""
