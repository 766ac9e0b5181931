"""`dgov audit verify` as an operator runs it: the real CLI in a subprocess against a node's database
(an SQLite file under DGOV_DATA_DIR, and a PostgreSQL database), tampered with directly through
sqlite3 / psycopg as an intruder with database access would.

The node starts as a copy of the run's demo node (`dgov init`, built once per run by tests/conftest.py,
with a checkpoint every 3 records), then grows through the CLI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

# Growing a node runs every domain's demo load twice more through the CLI (minutes on PostgreSQL).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_HOST_URL = os.environ.get("DGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class Grown:
    env: dict[str, str]
    total: int  # records in the chain
    manual_checkpoint: int  # the record `dgov audit checkpoint` signed at


@dataclass(frozen=True)
class Node:
    env: dict[str, str]
    grown: Grown
    tamper: Callable[[str], None]  # runs one SQL statement on the node's database, as an intruder


def dgov(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # cwd is the test's own directory, so no .env of the repository is read.
    return subprocess.run(
        [sys.executable, "-m", "dgov", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def said(proc: subprocess.CompletedProcess[str]) -> str:
    return " ".join((proc.stdout + proc.stderr).split())


def verify_json(env: dict[str, str], cwd: Path) -> tuple[int, dict[str, Any]]:
    proc = dgov(env, cwd, "audit", "verify", "--json")
    return proc.returncode, json.loads(proc.stdout)


def grow(env: dict[str, str], cwd: Path) -> Grown:
    """A copy of `dgov init`'s node (which recorded the demo audit record), two more demo loads, a
    manual checkpoint, one more load (each load runs every domain's demo: registries, PKI, signed
    documents…). Counts are read back rather than assumed: domains' demo data may audit records of
    their own."""
    assert (Path(env["DGOV_DATA_DIR"]) / "keys" / "node-ed25519.pem").is_file()
    for _ in range(2):
        ok(dgov(env, cwd, "demo", "--force"))
    signed = re.search(r"checkpoint signed at record (\d+)", ok(dgov(env, cwd, "audit", "checkpoint")))
    assert signed, "no checkpoint signed"
    manual = int(signed.group(1))
    assert verify_json(env, cwd)[1]["records"] == manual >= 5
    ok(dgov(env, cwd, "demo", "--force"))
    rc, result = verify_json(env, cwd)
    assert rc == 0, result
    return Grown(env, total=int(result["records"]), manual_checkpoint=manual)


def pg_admin_or_skip() -> None:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return
    except psycopg.OperationalError:
        if ON_CI:
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 and CI=true: PostgreSQL is mandatory")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")


def pg_admin(statement: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(statement.encode())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def grown(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, demo_nodes: Callable[[str], Any]
) -> Iterator[Grown]:
    """A node grown once through the CLI per database; each test gets a copy to tamper with."""
    home = tmp_path_factory.mktemp(f"node-{request.param}")
    if request.param == "postgresql":
        pg_admin_or_skip()
    env = demo_nodes(request.param).copy_to(home / "var")
    try:
        yield grow(env, home)
    finally:
        if "DGOV_DATABASE_URL" in env:
            pg_admin(f'DROP DATABASE IF EXISTS "{env["DGOV_DATABASE_URL"].rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.fixture
def node(grown: Grown, tmp_path: Path) -> Iterator[Node]:
    env = {**grown.env, "DGOV_DATA_DIR": str(tmp_path / "var")}
    shutil.copytree(grown.env["DGOV_DATA_DIR"], tmp_path / "var")  # database file (SQLite), keys
    if "DGOV_DATABASE_URL" not in grown.env:  # the default: an SQLite file under DGOV_DATA_DIR
        db_file = tmp_path / "var" / "dgov.sqlite3"

        def tamper(statement: str) -> None:
            with closing(sqlite3.connect(db_file)) as conn, conn:
                conn.execute(statement)

        yield Node(env, grown, tamper)
        return
    template = grown.env["DGOV_DATABASE_URL"].rsplit("/", 1)[1]
    name = f"{template}_{tmp_path.name}".lower()[:63]
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    env["DGOV_DATABASE_URL"] = f"{PG_HOST_URL}/{name}"

    def tamper_pg(statement: str) -> None:
        with psycopg.connect(make_conninfo(PG_ADMIN, dbname=name), autocommit=True) as conn:
            conn.execute(statement.encode())

    try:
        yield Node(env, grown, tamper_pg)
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_an_untouched_chain_verifies(node: Node, tmp_path: Path) -> None:
    total, manual = node.grown.total, node.grown.manual_checkpoint
    checkpoints = total // 3 + (1 if manual % 3 else 0)  # every 3 records, and the one signed by hand
    out = ok(dgov(node.env, tmp_path, "audit", "verify"))
    assert f"audit chain intact: {total} records, {checkpoints} signed checkpoints" in " ".join(out.split())
    rc, result = verify_json(node.env, tmp_path)
    assert rc == 0
    assert result == {
        "ok": True,
        "records": total,
        "checkpoints": checkpoints,
        "first_bad_seq": None,
        "reason": None,
    }


def test_a_record_changed_in_the_database_fails_verify_naming_it(node: Node, tmp_path: Path) -> None:
    node.tamper("UPDATE audit_records SET actor = 'kẻ giả mạo' WHERE seq = 4")
    proc = dgov(node.env, tmp_path, "audit", "verify")
    assert proc.returncode == 1, said(proc)
    assert "audit chain broken at record 4: record 4 was changed" in said(proc)
    assert "Traceback" not in said(proc)
    rc, result = verify_json(node.env, tmp_path)
    assert rc == 1
    assert (result["ok"], result["first_bad_seq"], result["records"]) == (False, 4, 3)


def test_a_deleted_record_fails_verify_naming_it(node: Node, tmp_path: Path) -> None:
    node.tamper("DELETE FROM audit_records WHERE seq = 2")
    proc = dgov(node.env, tmp_path, "audit", "verify")
    assert proc.returncode == 1, said(proc)
    assert "audit chain broken at record 2: record 2 is missing" in said(proc)


def test_a_forged_checkpoint_signature_fails_verify_naming_it(node: Node, tmp_path: Path) -> None:
    seq = node.grown.manual_checkpoint
    node.tamper(f"UPDATE audit_checkpoints SET signature = 'AAAA' || signature WHERE seq = {seq}")
    proc = dgov(node.env, tmp_path, "audit", "verify")
    assert proc.returncode == 1, said(proc)
    assert f"audit chain broken at record {seq}: the signature of checkpoint {seq} is not valid" in said(proc)
