"""Web-layer fixtures: the real app with the probe routes of `webprobe` added."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from webprobe import probe

from dgov.kernel.config import Settings
from dgov.web.app import create_app
from dgov.web.runtime import Runtime


def build_app(settings: Settings, runtime: Runtime) -> FastAPI:
    app = create_app(settings, runtime=runtime)
    # Routes may be added after the factory: the middleware stack is built at the first request.
    app.include_router(probe)
    return app


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> FastAPI:
    return build_app(settings, runtime)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def lenient_client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """Would return a 500 response even if the app re-raised after sending it (it no longer does:
    tests/web/test_resilience.py checks that with the strict client and a real server)."""
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
