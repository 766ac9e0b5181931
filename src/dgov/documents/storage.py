"""Where document bytes live, addressed by their SHA-256.

`BlobStore` is the interface; `LocalBlobStore` keeps files on local disk (the embedded shape). An
S3-compatible store implements the same three calls with the digest as object key.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_DIGEST = re.compile(r"[0-9a-f]{64}")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store `data`, return its SHA-256 (hex). Storing the same bytes twice is a no-op."""

    def get(self, digest: str) -> bytes:
        """The bytes of `digest`; raises FileNotFoundError if absent, ValueError if they were altered."""

    def exists(self, digest: str) -> bool: ...


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        if not _DIGEST.fullmatch(digest):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        digest = sha256_of(data)
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # documents are personal data
        # Write then rename: a reader never sees a half-written blob, and a crash leaves only a temp file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        data = self._path(digest).read_bytes()
        if sha256_of(data) != digest:
            raise ValueError(f"blob {digest} does not match its digest")
        return data

    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()
