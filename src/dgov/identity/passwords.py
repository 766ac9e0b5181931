"""Password hashing (argon2id) and the password policy (length plus a zxcvbn strength estimate, which
rejects common passwords, keyboard walks and the person's own name or ID number)."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

MIN_LENGTH = 10
MAX_LENGTH = 128
MIN_SCORE = 3  # zxcvbn's "safely unguessable" (≈10^8 guesses)
# What must remain of a password once the person's own data is taken out of it.
MIN_NON_PERSONAL = 6


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


def fold(text: str) -> str:
    """Lower case without Vietnamese diacritics: people type "Nguyễn" as "nguyen" in passwords."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


def _alnum(text: str) -> str:
    return re.sub(r"[\W_]+", "", fold(text))


def _personal_tokens(user_inputs: list[str]) -> list[str]:
    """Each input run together and each of its words (split at spaces, dots, dashes…), folded;
    longest first, so that "nguyenvanan" is taken out before "an"."""
    tokens: set[str] = set()
    for value in user_inputs:
        tokens.add(_alnum(value))
        tokens.update(re.split(r"[\W_]+", fold(value)))
    return sorted((t for t in tokens if len(t) >= 2), key=len, reverse=True)


def password_problems(password: str, *, user_inputs: list[str] | None = None) -> list[str]:
    """English msgids describing why a password is refused; empty when it is acceptable.

    `user_inputs` are the person's own data (name, ID number, birth date…). zxcvbn only recognises
    them spelt exactly as given, and counts separators as random characters, so "Nguyen Van An 1990"
    passed for Nguyễn Văn An born in 1990: the inputs are also matched without diacritics, and a
    password that is little more than the person's own data is refused outright."""
    if len(password) < MIN_LENGTH:
        return ["Use at least 10 characters"]
    if len(password) > MAX_LENGTH:
        return ["Use at most 128 characters"]
    inputs = [u for u in (user_inputs or []) if u]
    tokens = _personal_tokens(inputs)
    rest = _alnum(password)
    for token in tokens:
        rest = rest.replace(token, "")
    if tokens and len(rest) < MIN_NON_PERSONAL:
        return ["Do not build your password from your name, ID number or birth date"]
    result = zxcvbn(password, user_inputs=[*inputs, *tokens])
    if result["score"] < MIN_SCORE:
        return ["This password is too easy to guess; use a longer phrase of unrelated words"]
    return []
