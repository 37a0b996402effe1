"""Vigie camera service."""
