"""Password hashing (argon2id) and the one-time passwords an admin hands out."""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from vigie.errors import ValidationFailed

# argon2-cffi's defaults are RFC 9106's second recommendation (argon2id, 64 MiB, t=3, p=4).
_HASHER = PasswordHasher()
MAX_LENGTH = 1024


@cache
def _dummy_hash() -> str:
    """Verified against when the login is unknown, so that an unknown login takes as long to
    refuse as a wrong password (no user enumeration by timing). Made at the first sign-in, not at
    import: an argon2 hash is a quarter second of CPU that every restart of the API paid."""
    return _HASHER.hash(secrets.token_urlsafe(16))
# No 0/O, 1/l/I: one-time passwords are read aloud over the phone.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def hash_password(password: str) -> str:
    """The argon2id hash of a password (CPU-heavy: call it from a thread in async code)."""
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether password matches the stored hash; a missing hash never matches (same cost)."""
    try:
        return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def check_policy(password: str, min_length: int) -> None:
    """Refuse a password that is too short, too long or holds control characters."""
    if len(password) < min_length:
        raise ValidationFailed(f"mot de passe trop court : au moins {min_length} caractères")
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(f"mot de passe trop long : au plus {MAX_LENGTH} caractères")
    if any(ord(c) < 32 for c in password):
        raise ValidationFailed("le mot de passe contient des caractères de contrôle")


def one_time_password() -> str:
    """A random 16-character password (about 93 bits), to be changed at first sign-in."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))
