"""Errors that tell the truth and requests that cannot exhaust the server (issue 13, D and E).

- A database that cannot write (read-only here; a full disk raises the same errors) answers 503 with
  Retry-After and a clear message, and /readyz says so — on SQLite and PostgreSQL, for real.
- An unexpected error answers 500 and leaves the keep-alive connection usable (checked against a real
  uvicorn server over one TCP connection).
- A body over the limit is refused with 413 before it is read; a body that stalls gets 408.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import uvicorn
from httpx import ASGITransport, AsyncClient
from webprobe import probe

from dgov.kernel import migrate
from dgov.kernel.config import Settings
from dgov.web.app import create_app
from dgov.web.runtime import Runtime

PROBLEM = "application/problem+json"
PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_HOST_URL = os.environ.get("DGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")


def _pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _read_only_url(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp / "ro.sqlite3"
        migrate.upgrade(f"sqlite+aiosqlite:///{path}")
        yield f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"
        return
    name = f"dgov_ro_{os.getpid()}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_admin(f'CREATE DATABASE "{name}"')
    url = f"{PG_HOST_URL}/{name}"
    migrate.upgrade(url)
    # What an operator (or a standby) does: every new transaction is read-only.
    _pg_admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    try:
        yield url
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def read_only_client(settings: Settings, backend: str, tmp_path: Path) -> AsyncIterator[AsyncClient]:
    for url in _read_only_url(backend, tmp_path):
        own = settings.model_copy(update={"database_url": url})
        rt = Runtime.build(own)
        try:
            app = create_app(own, runtime=rt)
            app.include_router(probe)
            async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as c:
                yield c
        finally:
            await rt.close()


async def test_a_database_that_cannot_write_answers_503_with_retry_after(
    read_only_client: AsyncClient,
) -> None:
    r = await read_only_client.post("/api/_probe/write", headers={"Accept-Language": "vi"})
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].split(";")[0] == PROBLEM
    assert int(r.headers["retry-after"]) > 0
    body = r.json()
    assert body["code"] == "database-unavailable"
    assert "Không có thay đổi nào" in body["detail"] or "Nothing was changed" in body["detail"]
    # Readiness tells a load balancer to stop sending writes here; liveness stays up.
    ready = await read_only_client.get("/readyz")
    assert ready.status_code == 503
    assert (await read_only_client.get("/healthz")).status_code == 200
    # The app still answers reads.
    assert (await read_only_client.get("/")).status_code == 200


async def test_readyz_writes_for_real(client: AsyncClient) -> None:
    assert (await client.get("/readyz")).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _serve(settings: Settings, runtime: Runtime) -> AsyncIterator[int]:
    app = create_app(settings, runtime=runtime)
    app.include_router(probe)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


def _two_requests_on_one_connection(port: int, first: tuple[str, str, bytes | None]) -> tuple[int, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        method, path, body = first
        conn.request(method, path, body=body, headers={"Accept": "application/json"})
        r1 = conn.getresponse()
        r1.read()
        conn.request("GET", "/healthz")  # on the same TCP connection: fails if the server dropped it
        r2 = conn.getresponse()
        r2.read()
        return r1.status, r2.status
    finally:
        conn.close()


async def test_an_unexpected_error_keeps_the_connection_usable(settings: Settings, runtime: Runtime) -> None:
    async with _serve(settings, runtime) as port:
        first, second = await asyncio.to_thread(
            _two_requests_on_one_connection, port, ("GET", "/api/_probe/boom", None)
        )
    assert (first, second) == (500, 200)


async def test_a_body_over_the_limit_is_refused_before_it_is_read(
    client: AsyncClient, settings: Settings
) -> None:
    big = b"{" + b'"a":"' + b"x" * (settings.request_max_body_bytes + 10) + b'"}'
    r = await client.post("/api/_probe/items", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].split(";")[0] == PROBLEM
    assert r.json()["code"] == "too-large"


async def test_a_chunked_body_over_the_limit_is_cut_off(client: AsyncClient, settings: Settings) -> None:
    chunk = b"x" * 65536
    sent = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < settings.request_max_body_bytes * 4:
            sent += len(chunk)
            yield chunk

    r = await client.post("/api/_probe/echo", content=stream(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert sent < settings.request_max_body_bytes * 4, "the whole body was read"


async def test_a_login_form_of_50_mb_is_refused_at_once(client: AsyncClient) -> None:
    r = await client.post(
        "/login",
        content=b"a=" + b"x" * (50 * 2**20),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413


async def test_a_stalled_body_gets_408(settings: Settings, runtime: Runtime) -> None:
    own = settings.model_copy(update={"request_body_timeout_seconds": 0.5})
    async with _serve(own, runtime) as port:

        def stall() -> int:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(
                    b"POST /api/_probe/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100\r\n\r\n{"
                )
                data = s.recv(4096).decode("latin-1")
                return int(data.split(" ", 2)[1])

        status = await asyncio.to_thread(stall)
    assert status == 408


async def test_uploads_get_the_larger_multipart_limit(client: AsyncClient, settings: Settings) -> None:
    """A multipart body above the plain limit but below the upload limit reaches the handler."""
    size = settings.request_max_body_bytes + 1024
    r = await client.post(
        "/api/_probe/items?count=1",
        files={"file": ("a.bin", b"x" * size, "application/octet-stream")},
    )
    assert r.status_code != 413
    assert json.loads(r.text)
