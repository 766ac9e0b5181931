"""Secrets at rest: values that must be readable again (TOTP seeds, signing keys) are encrypted with
a key derived from the node's app secret, so a copy of the database alone reveals none of them."""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "fernet:v1:"


@lru_cache(maxsize=32)
def _fernet(secret: str, purpose: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


class SecretBox:
    """Encrypts and decrypts short secrets for one purpose (keys derived per purpose)."""

    def __init__(self, secret: str, purpose: str) -> None:
        self._f = _fernet(secret, purpose)

    def seal(self, plaintext: str) -> str:
        return PREFIX + self._f.encrypt(plaintext.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        if not sealed.startswith(PREFIX):
            raise ValueError("not a sealed value")
        try:
            return self._f.decrypt(sealed[len(PREFIX) :].encode("ascii")).decode()
        except InvalidToken as exc:
            raise ValueError("sealed value cannot be opened with this key") from exc
