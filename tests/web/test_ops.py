"""Operational endpoints: liveness, readiness, metrics, OpenAPI, the docs page and vendored assets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient

from dgov.kernel import migrate
from dgov.kernel.config import Settings
from dgov.kernel.uow import Database
from dgov.web.app import create_app
from dgov.web.runtime import Runtime

PROBLEM = "application/problem+json"


async def test_healthz(client: AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_reports_head(client: AsyncClient, database_url: str) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    head = migrate.head_revision(database_url)
    assert head is not None
    assert r.json() == {"status": "ready", "database": "ok", "migrations": head}


async def _client_for(settings: Settings, url: str) -> AsyncIterator[AsyncClient]:
    own = settings.model_copy(update={"database_url": url})
    rt = Runtime.build(own)
    try:
        app = create_app(own, runtime=rt)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as c:
            yield c
    finally:
        await rt.close()


@pytest.fixture
async def unmigrated_client(settings: Settings, tmp_path: Path) -> AsyncIterator[AsyncClient]:
    async for c in _client_for(settings, f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"):
        yield c


@pytest.fixture
async def unreachable_client(settings: Settings, tmp_path: Path) -> AsyncIterator[AsyncClient]:
    async for c in _client_for(settings, f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite3'}"):
        yield c


async def test_readyz_is_503_on_an_unmigrated_database(unmigrated_client: AsyncClient) -> None:
    r = await unmigrated_client.get("/readyz")
    assert r.status_code == 503
    assert r.headers["content-type"].split(";")[0] == PROBLEM
    body = r.json()
    assert body["status"] == 503
    assert body["code"] == "service-unavailable"
    assert body["instance"] == "/readyz"
    assert "dgov migrate" in body["detail"]
    # Liveness does not depend on the database: the process is alive, just not ready.
    assert (await unmigrated_client.get("/healthz")).status_code == 200


async def test_readyz_is_503_when_the_database_cannot_be_opened(unreachable_client: AsyncClient) -> None:
    r = await unreachable_client.get("/readyz")
    assert r.status_code == 503
    assert r.headers["content-type"].split(";")[0] == PROBLEM


def metric_lines(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{")]


async def test_metrics_label_requests_by_route_template(client: AsyncClient) -> None:
    assert (await client.get("/vendor/htmx.min.js")).status_code == 200
    assert (await client.get("/lang/en", params={"next": "/"})).status_code == 303
    assert (await client.get("/people/079123456789/records")).status_code == 404
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    lines = metric_lines(r.text, "dgov_http_requests_total")
    assert any('route="/vendor/{name}"' in line and 'status="200"' in line for line in lines), lines
    assert any('route="/lang/{code}"' in line and 'status="303"' in line for line in lines), lines
    assert any('route="<unmatched>"' in line and 'status="404"' in line for line in lines), lines
    # Raw paths would make one time series per URL (and put ID numbers into the metrics store).
    assert "htmx.min.js" not in r.text
    assert "079123456789" not in r.text
    assert 'route="/lang/en"' not in r.text
    assert metric_lines(r.text, "dgov_http_request_seconds_bucket")


async def test_openapi_is_valid_openapi_3(client: AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    spec = r.json()
    assert re.fullmatch(r"3\.\d+\.\d+", spec["openapi"])
    assert spec["info"]["title"] == "dgov"
    assert isinstance(spec["paths"], dict)
    # Operational and page routes are not part of the API contract.
    assert not {"/healthz", "/readyz", "/metrics", "/docs", "/", "/lang/{code}"} & set(spec["paths"])


async def test_docs_page_loads_only_local_assets(client: AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "/vendor/swagger-ui-bundle.js" in r.text
    assert not re.search(r"https?://", r.text), "the docs page must not reference a CDN or any absolute URL"
    assert "<script>" not in r.text and " style=" not in r.text  # nothing inline: the CSP forbids it
    assets = re.findall(r'(?:src|href)="(/(?:static|vendor)/[^"]+)"', r.text)
    assert "/vendor/swagger-ui-bundle.js" in assets
    for asset in assets:
        a = await client.get(asset)
        assert a.status_code == 200, asset
        assert a.content, asset


async def test_vendor_serves_only_the_allow_list(client: AsyncClient) -> None:
    ok = await client.get("/vendor/htmx.min.js")
    assert ok.status_code == 200
    assert "javascript" in ok.headers["content-type"]
    assert "max-age" in ok.headers["cache-control"]
    for name in ["nope.js", "package.json", ".package-lock.json", "..%2Fpackage.json"]:
        r = await client.get(f"/vendor/{name}")
        assert r.status_code == 404, name


async def test_vendor_404_without_installed_assets(settings: Settings, db: Database, tmp_path: Path) -> None:
    own = settings.model_copy(update={"assets_dir": tmp_path})
    app = create_app(own, runtime=Runtime.build(own, db=db))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as c:
        r = await c.get("/vendor/htmx.min.js", headers={"Accept": "application/json"})
    assert r.status_code == 404
    assert r.json()["code"] == "not-found"


async def test_request_id_is_echoed_or_made(client: AsyncClient) -> None:
    made = (await client.get("/healthz")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    given = "req-2024.abc_DEF-1"
    assert (await client.get("/healthz", headers={"X-Request-Id": given})).headers["x-request-id"] == given
    for hostile in ["x" * 129, "a b", 'a"b', "a;b", "x/../y"]:
        echoed = (await client.get("/healthz", headers={"X-Request-Id": hostile})).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", echoed), hostile
