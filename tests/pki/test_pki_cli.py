"""`dgov pki …` as an operator runs it: the real CLI in subprocesses on a fresh node (SQLite file, or a
fresh PostgreSQL database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography import x509

from dgov.kernel.config import Settings
from dgov.pki import list_certificates
from dgov.pki.demo import load
from dgov.web.runtime import Runtime

pytestmark = pytest.mark.slow

PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_HOST_URL = os.environ.get("DGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class Node:
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        # cwd is the test's own directory, so no .env of the repository is read.
        return subprocess.run(
            [sys.executable, "-m", "dgov", *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ok(self, *args: str) -> str:
        proc = self.run(*args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))


@pytest.fixture
def node(backend: str, tmp_path: Path) -> Iterator[Node]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGOV_")}
    env.update(
        DGOV_DATA_DIR=str(tmp_path / "var"),
        COLUMNS="200",
        NO_COLOR="1",
        DGOV_PUBLIC_URL="https://dgov.example.vn",
    )
    db_name = None
    if backend == "postgresql":
        try:
            with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
                db_name = f"pki_cli_{uuid.uuid4().hex[:10]}"
                conn.execute(f'CREATE DATABASE "{db_name}"')
        except psycopg.OperationalError:
            if ON_CI:
                pytest.fail("PostgreSQL is not reachable and CI=true")
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
        env["DGOV_DATABASE_URL"] = f"{PG_HOST_URL}/{db_name}"
    n = Node(env, tmp_path)
    n.ok("migrate")
    yield n
    if db_name:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


@pytest.mark.timeout(900)  # each `dgov` start imports the whole node: seconds apiece on a busy machine
def test_the_contract_commands(node: Node, tmp_path: Path) -> None:
    created = node.json("pki", "init")["created"]
    assert {c["kind"] for c in created} == {"root", "issuing", "tsa", "ocsp", "agency"}
    assert node.json("pki", "init") == {"created": []}

    out = tmp_path / "root.pem"
    node.ok("pki", "export-root", str(out))
    root = x509.load_pem_x509_certificate(out.read_bytes())
    (root_row,) = [c for c in created if c["kind"] == "root"]
    assert root_row["serial"] == format(root.serial_number, "x")
    btp = next(c for c in created if c["name"] == "BTP")

    revoked = node.json("pki", "revoke", "--agency", "btp", "--reason", "keyCompromise")
    assert revoked["serial"] == btp["serial"]
    assert revoked["status"] == "revoked" and revoked["revocation_reason"] == "keyCompromise"

    # Bad input: a clear message (Vietnamese by default), exit code 2, nothing changed.
    proc = node.run("pki", "revoke", "--agency", "NOPE")
    assert proc.returncode == 2 and "Không tìm thấy" in proc.stderr and "NOPE" in proc.stderr

    rotated = node.json("pki", "rotate", "--agency", "BCA")
    assert rotated["superseded"]["revocation_reason"] == "superseded"
    listed = node.json("pki", "list")
    statuses = {(c["name"], c["status"]) for c in listed if c["name"] in ("BTP", "BCA")}
    assert statuses == {("BTP", "revoked"), ("BCA", "revoked"), ("BCA", "valid")}
    assert len(listed) == len(created) + 1


async def test_demo_load_initialises_the_pki(runtime: Runtime, settings: Settings) -> None:

    await load(runtime)
    await load(runtime)  # idempotent
    kinds = [c.kind for c in await list_certificates(runtime.db)]
    assert kinds.count("root") == 1 and kinds.count("agency") == 8
