"""OpenSSL, an implementation that shares no code with dgov's, checks the chain against the CRLs and
verifies a time-stamp reply from the node's TSA."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from httpx import AsyncClient
from pyhanko.sign.timestamps.api import TimeStamper

from dgov.kernel.config import Settings
from dgov.kernel.uow import Database
from dgov.pki import list_certificates, revoke_agency_certificate

OPENSSL = shutil.which("openssl") or "openssl"


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


async def _fetch(client: AsyncClient, tmp: Path) -> None:
    for path, name in (
        ("/pki/root.pem", "root.pem"),
        ("/pki/ca/issuing.pem", "issuing.pem"),
        ("/pki/crl/root.crl", "root.crl"),
        ("/pki/crl/issuing.crl", "issuing.crl"),
    ):
        r = await client.get(path)
        assert r.status_code == 200
        (tmp / name).write_bytes(r.content)
        if name.endswith(".crl"):  # served as DER; `openssl verify` reads PEM CRLs
            converted = openssl("crl", "-inform", "DER", "-in", name, "-out", f"{name}.pem", cwd=tmp)
            assert converted.returncode == 0, converted.stderr


async def test_openssl_verifies_chain_and_sees_revocation(
    client: AsyncClient, settings: Settings, db: Database, tmp_path: Path
) -> None:
    await _fetch(client, tmp_path)
    btp = next(c for c in await list_certificates(db, kind="agency", name="BTP") if c.status == "valid")
    (tmp_path / "btp.pem").write_bytes(btp.pem())
    verify = (
        "verify", "-crl_check_all", "-CAfile", "root.pem", "-untrusted", "issuing.pem",
        "-CRLfile", "root.crl.pem", "-CRLfile", "issuing.crl.pem", "btp.pem",
    )  # fmt: skip
    result = openssl(*verify, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    await revoke_agency_certificate(settings, db, "BTP", reason="keyCompromise")
    await _fetch(client, tmp_path)
    result = openssl(*verify, cwd=tmp_path)
    assert result.returncode != 0
    assert "revoked" in (result.stdout + result.stderr).lower()


async def test_openssl_verifies_a_time_stamp_reply(client: AsyncClient, tmp_path: Path) -> None:
    await _fetch(client, tmp_path)
    data = "Giấy xác nhận tình trạng hôn nhân".encode()
    (tmp_path / "data.txt").write_bytes(data)
    _nonce, req = TimeStamper().request_cms(hashlib.sha256(data).digest(), "sha256")
    r = await client.post(
        "/pki/tsa", content=req.dump(), headers={"content-type": "application/timestamp-query"}
    )
    (tmp_path / "reply.tsr").write_bytes(r.content)
    result = openssl(
        "ts", "-verify", "-data", "data.txt", "-in", "reply.tsr", "-CAfile", "root.pem",
        "-untrusted", "issuing.pem", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stdout + result.stderr
    (tmp_path / "data.txt").write_bytes(data + b".")
    result = openssl(
        "ts", "-verify", "-data", "data.txt", "-in", "reply.tsr", "-CAfile", "root.pem", cwd=tmp_path
    )
    assert result.returncode != 0
