"""Files holding personal data are the node's alone: `dgov init` leaves the database, keys and document
folders private whatever the operator's umask, and documents stored later are 0600 (issue 12, defect 9)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from dgov.documents.storage import LocalBlobStore
from dgov.kernel.config import Settings
from dgov.kernel.files import private_umask, secure_data_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_dgov_init_leaves_personal_data_private(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGOV_")}
    env.update(DGOV_DATA_DIR=str(var), DGOV_NODE_NAME="modes-test-node", NO_COLOR="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, runpy; os.umask(0o022); runpy.run_module('dgov', run_name='__main__')",
            "init",
            "--no-demo",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    db = var / "dgov.sqlite3"
    assert mode(db) == 0o600
    for extra in (var / "dgov.sqlite3-wal", var / "dgov.sqlite3-shm"):
        assert not extra.exists() or mode(extra) == 0o600
    for folder in (var, var / "keys", var / "files"):
        assert mode(folder) == 0o700, folder
    for path in (var / "keys").rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_an_older_install_is_tightened_and_new_documents_are_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", database_url="")  # the embedded SQLite file
    issued = settings.files_dir / "issued"
    issued.mkdir(parents=True, mode=0o755)
    old_pdf = issued / "KS-2026-OLD.pdf"
    old_pdf.write_bytes(b"%PDF-1.7")
    old_pdf.chmod(0o644)
    db = settings.data_dir / "dgov.sqlite3"
    db.write_bytes(b"")
    db.chmod(0o644)
    (settings.data_dir / "dgov.sqlite3-wal").write_bytes(b"")
    secure_data_dir(settings)
    assert (mode(old_pdf), mode(issued), mode(db), mode(settings.data_dir / "dgov.sqlite3-wal")) == (
        0o600,
        0o700,
        0o600,
        0o600,
    )

    previous = private_umask()
    try:
        store = LocalBlobStore(settings.files_dir / "blobs")
        digest = store.put(b"giay khai sinh")
        blob = settings.files_dir / "blobs" / digest[:2] / digest[2:4] / digest
        assert mode(blob) == 0o600 and mode(blob.parent) == 0o700
        (settings.files_dir / "issued" / "KS-2026-NEW.pdf").write_bytes(b"%PDF-1.7")  # as eservices writes it
        assert mode(settings.files_dir / "issued" / "KS-2026-NEW.pdf") == 0o600
    finally:
        os.umask(previous)
