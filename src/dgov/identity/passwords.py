"""Password hashing (argon2id) and the password policy (length plus a zxcvbn strength estimate, which
rejects common passwords, keyboard walks and the person's own name or ID number)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

MIN_LENGTH = 10
MAX_LENGTH = 128
MIN_SCORE = 3  # zxcvbn's "safely unguessable" (≈10^8 guesses)


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with RFC 9106's low-memory recommended parameters


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if stored is None:
        # Spend the same time as a real check so that timing does not reveal unknown accounts.
        _hasher().hash(password)
        return False
    try:
        return _hasher().verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher().check_needs_rehash(stored)


def password_problems(password: str, *, user_inputs: list[str] | None = None) -> list[str]:
    """English msgids describing why a password is refused; empty when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return ["Use at least 10 characters"]
    if len(password) > MAX_LENGTH:
        return ["Use at most 128 characters"]
    result = zxcvbn(password, user_inputs=[u for u in (user_inputs or []) if u])
    if result["score"] < MIN_SCORE:
        return ["This password is too easy to guess; use a longer phrase of unrelated words"]
    return []
