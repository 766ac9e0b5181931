"""The node's own Ed25519 key: it signs audit checkpoints (and, later, exchange responses).

The private key lives under `var/keys/` with mode 0600 and never in the repository.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

NODE_KEY_FILE = "node-ed25519.pem"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint_ed25519(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint of an OKP/Ed25519 JWK: the key id peers will see."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return _b64url(digest)


@dataclass(frozen=True)
class NodeKey:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return jwk_thumbprint_ed25519(self.public_key)

    def sign(self, data: bytes) -> str:
        return _b64url(self.private_key.sign(data))

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")


def verify_signature(public_key: Ed25519PublicKey, signature_b64url: str, data: bytes) -> bool:
    try:
        public_key.verify(
            base64.urlsafe_b64decode(signature_b64url + "=" * (-len(signature_b64url) % 4)), data
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def ensure_node_key(keys_dir: Path) -> NodeKey:
    """Load the node key, creating it (atomically, 0600) on first use."""
    path = keys_dir / NODE_KEY_FILE
    if path.exists():
        return load_node_key(keys_dir)
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return NodeKey(key)


def load_node_key(keys_dir: Path) -> NodeKey:
    key = serialization.load_pem_private_key((keys_dir / NODE_KEY_FILE).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("the node key must be Ed25519")
    return NodeKey(key)


def ensure_secret(keys_dir: Path, name: str = "app-secret") -> str:
    """A random secret kept under `var/keys/` (signing cookies and CSRF tokens), made on first use."""
    path = keys_dir / name
    if path.exists():
        return path.read_text().strip()
    keys_dir.mkdir(parents=True, exist_ok=True)
    secret = base64.urlsafe_b64encode(os.urandom(32)).decode("ascii").rstrip("=")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    return secret
