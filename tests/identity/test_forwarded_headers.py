"""Issue 12, defect 7: `dgov serve` believes X-Forwarded-For only from configured proxies (none by
default). uvicorn's own default trusts 127.0.0.1, so one client could rotate the address that the
per-address limits and audit records key on. The options `serve` passes are taken as they are and run
in a real uvicorn server on loopback, with a probe app that answers with the client address it sees."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from dgov import cli
from dgov.kernel.config import get_settings


async def probe(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    client = (scope.get("client") or ("", 0))[0].encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": client})


def serve_options(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What `dgov serve` hands to uvicorn, captured instead of starting the whole node."""
    captured: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *_a, **kw: captured.update(kw))
    get_settings.cache_clear()
    result = CliRunner().invoke(cli.app, ["serve"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return captured


async def client_seen(options: dict[str, Any]) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keep = {k: options[k] for k in ("proxy_headers", "forwarded_allow_ips")}
    server = uvicorn.Server(uvicorn.Config(probe, host="127.0.0.1", port=port, log_level="warning", **keep))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient() as c:
            r = await c.get(f"http://127.0.0.1:{port}/", headers={"X-Forwarded-For": "198.51.100.77"})
        return r.text
    finally:
        server.should_exit = True
        await task


async def test_x_forwarded_for_is_ignored_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DGOV_FORWARDED_ALLOW_IPS", raising=False)
    options = serve_options(monkeypatch)
    assert options["proxy_headers"] is False
    assert await client_seen(options) == "127.0.0.1"


async def test_a_configured_proxy_is_believed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGOV_FORWARDED_ALLOW_IPS", "127.0.0.1")
    options = serve_options(monkeypatch)
    assert options["proxy_headers"] is True and options["forwarded_allow_ips"] == "127.0.0.1"
    assert await client_seen(options) == "198.51.100.77"
