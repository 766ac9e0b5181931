"""The outbox survives a crash: real processes, killed for real, on a SQLite file and on PostgreSQL.

Process A (tests/kernel/outbox_worker.py) commits an event and dies either right after the commit or
while its consumer holds the message (SIGKILL). Process B then dispatches until nothing is pending. The
event must reach B's consumer exactly once, and A's half-done work must have left no trace.
Every wait is bounded; nothing here asserts on elapsed time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, func, select, text

from dgov.kernel import migrate
from dgov.kernel.config import to_sync_url
from dgov.kernel.models import OutboxDelivery, OutboxMessage

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("outbox_worker.py")
DGOV = Path(sys.executable).with_name("dgov")
PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 user=postgres dbname=test")
PG_HOST_URL = os.environ.get("DGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
WAIT = 60.0  # seconds: the bound on every wait for a process


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if ON_CI:
            pytest.fail(f"PostgreSQL is not reachable and CI=true: {exc}")
        pytest.skip(f"PostgreSQL is not reachable: {exc}")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of its own for each test (the processes commit for real)."""
    if request.param == "sqlite":
        db_url = f"sqlite+aiosqlite:///{tmp_path / 'crash.sqlite3'}"
        migrate.upgrade(db_url)
        yield db_url
        return
    name = f"dgov_outbox_crash_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        db_url = f"{PG_HOST_URL}/{name}"
        migrate.upgrade(db_url)
        yield db_url
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    ready: Path
    out: Path
    err: Path

    def output(self) -> str:
        return f"stdout:\n{self.out.read_text()}\nstderr:\n{self.err.read_text()}"

    def wait_ready(self) -> str:
        """The process's ready line; fails if it exits first or stays silent for WAIT seconds."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.ready.exists():
                return self.ready.read_text().strip()
            if self.popen.poll() is not None:
                if self.ready.exists():
                    return self.ready.read_text().strip()
                rc = self.popen.returncode
                pytest.fail(f"worker exited with {rc} before it was ready\n{self.output()}")
            time.sleep(0.02)
        self.kill()
        pytest.fail(f"worker not ready within {WAIT} s\n{self.output()}")

    def wait_exit(self) -> int:
        try:
            return self.popen.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"worker did not exit within {WAIT} s\n{self.output()}")

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=WAIT)


def start(tmp_path: Path, name: str, *args: str) -> Proc:
    ready, out, err = (tmp_path / f"{name}.{ext}" for ext in ("ready", "out", "err"))
    with out.open("wb") as o, err.open("wb") as e:
        popen = subprocess.Popen(
            [sys.executable, str(WORKER), *args, "--ready", str(ready)], stdout=o, stderr=e, cwd=tmp_path
        )
    return Proc(popen, ready, out, err)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Whatever a test started is killed at the end, whatever happened."""
    started: list[Proc] = []
    yield started
    for p in started:
        p.kill()


def message_row(db_url: str, msg_id: str) -> dict[str, object]:
    """The message, its receipts and the recorder's rows, read through the models' own column types."""
    mid = uuid.UUID(msg_id)
    engine = create_engine(to_sync_url(db_url))
    try:
        with engine.connect() as conn:
            row = (
                conn.execute(
                    select(
                        OutboxMessage.status,
                        OutboxMessage.attempts,
                        OutboxMessage.locked_until,
                        OutboxMessage.delivered_at,
                    ).where(OutboxMessage.id == mid)
                )
                .mappings()
                .one()
            )
            deliveries = (
                conn.execute(
                    text("SELECT worker FROM crash_deliveries WHERE message_id = :id ORDER BY id"),
                    {"id": msg_id},
                )
                .scalars()
                .all()
            )
            receipts = (
                conn.execute(select(OutboxDelivery.consumer).where(OutboxDelivery.message_id == mid))
                .scalars()
                .all()
            )
            total = conn.execute(select(func.count()).select_from(OutboxMessage)).scalar_one()
    finally:
        engine.dispose()
    return {**row, "deliveries": list(deliveries), "receipts": list(receipts), "total": total}


def drain(db_url: str, tmp_path: Path, procs: list[Proc]) -> str:
    b = start(tmp_path, "b", db_url, "drain", "--lease", "1")
    procs.append(b)
    assert b.wait_exit() == 0, b.output()
    return b.wait_ready()


def test_killed_between_commit_and_delivery(url: str, tmp_path: Path, procs: list[Proc]) -> None:
    a = start(tmp_path, "a", url, "commit-then-die")
    procs.append(a)
    line = a.wait_ready()
    assert a.wait_exit() == 0, a.output()
    m = re.fullmatch(r"committed ([0-9a-f-]{36})", line)
    assert m, line
    msg_id = m.group(1)

    before = message_row(url, msg_id)
    assert before["status"] == "pending" and before["attempts"] == 0 and before["locked_until"] is None
    assert before["deliveries"] == [] and before["receipts"] == []

    assert drain(url, tmp_path, procs) == "drained 1"
    after = message_row(url, msg_id)
    assert after["deliveries"] == ["B"]
    assert after["receipts"] == ["recorder"]
    assert after["status"] == "delivered" and after["attempts"] == 1 and after["delivered_at"] is not None
    assert after["total"] == 1


def test_killed_while_its_consumer_holds_the_message(url: str, tmp_path: Path, procs: list[Proc]) -> None:
    a = start(tmp_path, "a", url, "hang-in-consumer", "--lease", "1")
    procs.append(a)
    line = a.wait_ready()
    m = re.fullmatch(r"handed ([0-9a-f-]{36}) 1", line)
    assert m, line
    msg_id = m.group(1)

    # A holds the claim, and its consumer's row is written but not committed.
    held = message_row(url, msg_id)
    assert held["status"] == "pending" and held["attempts"] == 1 and held["locked_until"] is not None
    assert held["deliveries"] == [] and held["receipts"] == []

    a.popen.send_signal(signal.SIGKILL)
    assert a.wait_exit() == -signal.SIGKILL

    # B waits out A's lease, claims the message again and delivers it once.
    assert drain(url, tmp_path, procs) == "drained 1"
    after = message_row(url, msg_id)
    assert after["deliveries"] == ["B"]
    assert after["receipts"] == ["recorder"]
    assert after["status"] == "delivered" and after["attempts"] == 2 and after["locked_until"] is None
    assert after["total"] == 1


def dgov(db_url: str, tmp_path: Path, *args: str) -> str:
    env = {
        **os.environ,
        "DGOV_DATABASE_URL": db_url,
        "DGOV_DATA_DIR": str(tmp_path / "var"),
        "DGOV_ENV": "test",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [str(DGOV), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=WAIT, check=False
    )
    assert done.returncode == 0, f"dgov {' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def status_counts(out: str) -> dict[str, int]:
    return {s: int(n) for s, n in re.findall(r"^\W*(pending|delivered|dead)\W+(\d+)\W*$", out, re.MULTILINE)}


def test_the_outbox_cli_delivers_what_a_dead_process_left(
    url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    # No domain subscribes to this topic: `dgov outbox run --once` settles it as delivered to nobody.
    a = start(tmp_path, "a", url, "commit-then-die", "--topic", "test.outbox.cli")
    procs.append(a)
    assert a.wait_ready().startswith("committed ")
    assert a.wait_exit() == 0, a.output()

    assert status_counts(dgov(url, tmp_path, "outbox", "status")) == {"pending": 1}
    assert "delivered 1" in dgov(url, tmp_path, "outbox", "run", "--once")
    assert status_counts(dgov(url, tmp_path, "outbox", "status")) == {"delivered": 1}
    assert "delivered 0" in dgov(url, tmp_path, "outbox", "run", "--once")
