"""Webhook delivery survives a crash: real processes, killed for real, on a SQLite file and on PostgreSQL.

Process A (pubsub_worker.py) commits an event and dies right after the commit, or is SIGKILLed while its
webhook POST is in flight. Then `dgov outbox run --once` (a separate process, as an operator would run
it) delivers it. The receiver must get the event, signed, and the delivery must be settled once.
Every wait is bounded; nothing asserts on elapsed time.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pubsub_support import ON_CI
from sqlalchemy import create_engine, select

from dgov.exchange import webhooks
from dgov.exchange.pubsub_models import attempts_t, deliveries_t
from dgov.kernel import migrate
from dgov.kernel.config import to_sync_url
from dgov.kernel.keys import ensure_node_key

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("pubsub_worker.py")
DGOV = Path(sys.executable).with_name("dgov")
PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 user=postgres dbname=test")
PG_HOST_URL = os.environ.get("DGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
WAIT = 60.0


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if ON_CI:
            pytest.fail(f"PostgreSQL is not reachable and CI=true: {exc}")
        pytest.skip(f"PostgreSQL is not reachable: {exc}")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        db_url = f"sqlite+aiosqlite:///{tmp_path / 'crash.sqlite3'}"
        migrate.upgrade(db_url)
        yield db_url
        return
    name = f"dgov_pubsub_crash_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        db_url = f"{PG_HOST_URL}/{name}"
        migrate.upgrade(db_url)
        yield db_url
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Hook(http.server.ThreadingHTTPServer):
    """A webhook receiver in a thread. With `hold_first`, the first request is held open (never
    answered) until `release` is set; every other request gets 204."""

    daemon_threads = True

    def __init__(self, hold_first: bool) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.hold_first = hold_first
        self.arrived = threading.Event()
        self.release = threading.Event()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                first = not hook.requests
                hook.requests.append((self.path, dict(self.headers.items()), body))
                hook.arrived.set()
                if first and hook.hold_first:
                    hook.release.wait(WAIT)
                    return  # the connection is dropped unanswered
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/events"


@pytest.fixture
def hook(request: pytest.FixtureRequest) -> Iterator[Hook]:
    server = Hook(hold_first=getattr(request, "param", False))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


# The receiver is plain http on loopback: the worker processes allow it by setting, as a deployment would.
LOOPBACK_WEBHOOKS = {"DGOV_EXCHANGE_WEBHOOK_ALLOW_HTTP": "true", "DGOV_EXCHANGE_WEBHOOK_ALLOW": "127.0.0.1"}


def run_worker(url: str, tmp_path: Path, mode: str, receiver: str) -> tuple[subprocess.Popen[bytes], Path]:
    ready = tmp_path / f"{mode}.ready"
    env = {**os.environ, "PYTHONPATH": str(WORKER.parent), **LOOPBACK_WEBHOOKS}
    popen = subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            url,
            mode,
            "--receiver",
            receiver,
            "--keys",
            str(tmp_path / "var" / "keys"),
            "--ready",
            str(ready),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return popen, ready


def wait_ready(popen: subprocess.Popen[bytes], ready: Path) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if ready.exists():
            return ready.read_text().strip()
        if popen.poll() is not None and not ready.exists():
            out, errs = popen.communicate()
            pytest.fail(f"worker exited with {popen.returncode}\n{out.decode()}\n{errs.decode()}")
        time.sleep(0.02)
    popen.kill()
    pytest.fail("worker not ready in time")


def outbox_run_once(url: str, tmp_path: Path) -> str:
    env = {
        **os.environ,
        "DGOV_DATABASE_URL": url,
        "DGOV_DATA_DIR": str(tmp_path / "var"),
        "DGOV_ENV": "test",
        "DGOV_OUTBOX_LEASE_SECONDS": "1",
        "NO_COLOR": "1",
        **LOOPBACK_WEBHOOKS,
    }
    done = subprocess.run(
        [str(DGOV), "outbox", "run", "--once"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def delivery_state(url: str) -> tuple[list[tuple[str, int]], list[str]]:
    engine = create_engine(to_sync_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(deliveries_t.c.status, deliveries_t.c.attempts)).all()
            log = conn.execute(select(attempts_t.c.outcome).order_by(attempts_t.c.attempt)).scalars().all()
    finally:
        engine.dispose()
    return [(r.status, r.attempts) for r in rows], list(log)


def deliver_until_done(url: str, tmp_path: Path) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        outbox_run_once(url, tmp_path)
        rows, _log = delivery_state(url)
        if rows and all(status == "delivered" for status, _n in rows):
            return
        time.sleep(0.2)  # e.g. waiting out the dead worker's lease
    pytest.fail(f"not delivered in time: {delivery_state(url)}")


def test_killed_between_commit_and_delivery(url: str, tmp_path: Path, hook: Hook) -> None:
    ensure_node_key(tmp_path / "var" / "keys")
    popen, ready = run_worker(url, tmp_path, "commit-then-die", hook.url)
    line = wait_ready(popen, ready)
    assert popen.wait(timeout=WAIT) == 0
    event_id = re.fullmatch(r"committed ([0-9a-f-]{36})", line).group(1)  # type: ignore[union-attr]
    assert hook.requests == []
    assert delivery_state(url) == ([("pending", 0)], [])

    deliver_until_done(url, tmp_path)
    assert len(hook.requests) == 1
    _path, headers, body = hook.requests[0]
    assert json.loads(body)["id"] == event_id
    node_pem = ensure_node_key(tmp_path / "var" / "keys").public_pem()
    assert (
        webhooks.verify_delivery(url=hook.url, headers=headers, body=body, node_public_pem=node_pem)
        == event_id
    )
    assert delivery_state(url) == ([("delivered", 1)], ["delivered"])


@pytest.mark.parametrize("hook", [True], indirect=True)
def test_killed_while_its_webhook_post_is_in_flight(url: str, tmp_path: Path, hook: Hook) -> None:
    ensure_node_key(tmp_path / "var" / "keys")
    popen, ready = run_worker(url, tmp_path, "hang-in-delivery", hook.url)
    line = wait_ready(popen, ready)
    event_id = line.split()[1]
    assert hook.arrived.wait(WAIT), "the worker never POSTed"
    popen.send_signal(signal.SIGKILL)
    assert popen.wait(timeout=WAIT) == -signal.SIGKILL
    hook.release.set()
    # The killed attempt never settled: nothing in the delivery log, the delivery still pending.
    assert delivery_state(url) == ([("pending", 0)], [])

    deliver_until_done(url, tmp_path)
    # At least once: the receiver saw the killed worker's POST and the redelivery, with the same event id.
    assert [json.loads(b)["id"] for _p, _h, b in hook.requests] == [event_id, event_id]
    assert delivery_state(url) == ([("delivered", 1)], ["delivered"])
