"""Private keys of the node's CAs and agencies, encrypted at rest under `var/keys/pki/`.

Each key file holds a SecretBox-sealed PKCS#8 PEM (key derived from the node's app secret for this
purpose only), written atomically with mode 0600: the file alone, or the database alone, signs nothing.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dgov.kernel.config import Settings
from dgov.kernel.crypto import SecretBox
from dgov.kernel.keys import ensure_secret

PURPOSE = "dgov.pki.private-key.v1"


def node_secret(settings: Settings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    return ensure_secret(settings.keys_dir)


def key_dir(settings: Settings) -> Path:
    return settings.keys_dir / "pki"


def save_key(settings: Settings, file_name: str, key: ec.EllipticCurvePrivateKey) -> Path:
    directory = key_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.keys_dir, 0o700)
    os.chmod(directory, 0o700)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    sealed = SecretBox(node_secret(settings), PURPOSE).seal(pem)
    path = directory / file_name
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(sealed)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_key(settings: Settings, file_name: str) -> ec.EllipticCurvePrivateKey:
    path = key_dir(settings) / file_name
    return _load(str(path), node_secret(settings))


@lru_cache(maxsize=256)
def _load(path: str, secret: str) -> ec.EllipticCurvePrivateKey:
    # A key file never changes once written (a new key gets a new file), so caching by path is safe;
    # it keeps the Fernet decryption and PEM parsing off the signing path.
    try:
        sealed = Path(path).read_text()
    except FileNotFoundError as exc:
        raise KeyMissing(path) from exc
    pem = SecretBox(secret, PURPOSE).open(sealed)
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("PKI keys are ECDSA keys")
    return key


class KeyMissing(RuntimeError):
    """The database names a key this node's `var/keys/pki/` does not hold (another node's data?)."""
