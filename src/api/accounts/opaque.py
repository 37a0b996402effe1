"""Opaque secrets handed to clients (session cookies, API tokens): random, stored as SHA-256.

A 256-bit random value cannot be guessed, so a fast hash is enough to keep the stored form
useless to a thief; argon2's slowness is for low-entropy secrets that people choose."""

from __future__ import annotations

import hashlib
import secrets


def new_secret(prefix: str = "") -> str:
    """A fresh URL-safe secret of 32 random bytes, with an optional readable prefix."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    """What the database stores and looks up for a secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
