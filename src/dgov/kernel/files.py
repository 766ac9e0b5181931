"""The node's files hold personal data (the SQLite database and its -wal/-shm, stored documents, keys):
readable by the node's own user only — files 0600, folders 0700.

`private_umask` makes everything the process creates from then on private (set by the `dgov` command
and the web server's start-up, so no code path can forget); `secure_data_dir` tightens what an earlier
install or another tool left open (run by `dgov init`). SQLite gives its -wal and -shm files the
database file's own mode, so a private database keeps them private too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only the type: `dgov version` imports this module and must stay light
    from dgov.kernel.config import Settings

PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700


def private_umask() -> int:
    """From now on this process creates files 0600 and folders 0700; returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _tighten(tree: Path) -> None:
    if not tree.is_dir():
        return
    tree.chmod(DIR_MODE)
    for folder, dirs, files in os.walk(tree):
        for d in dirs:
            (Path(folder) / d).chmod(DIR_MODE)
        for f in files:
            path = Path(folder) / f
            if not path.is_symlink():
                path.chmod(FILE_MODE)


def secure_data_dir(settings: Settings) -> None:
    """Only the node's own folders and files are touched, never a data directory's other content."""
    if settings.data_dir.is_dir():
        settings.data_dir.chmod(DIR_MODE)
    for tree in (settings.keys_dir, settings.files_dir):
        _tighten(tree)
    db = sqlite_path(settings.db_url)
    if db is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = db.with_name(db.name + suffix)
            if path.is_file():
                path.chmod(FILE_MODE)
