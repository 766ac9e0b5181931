"""Security headers on every response, CSRF on every cookie-bearing form, no open redirect."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from webprobe import probe

from dgov.kernel import i18n
from dgov.kernel.config import Settings
from dgov.web.app import create_app
from dgov.web.runtime import Runtime

HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def assert_security_headers(r: Response, *, hsts: bool = False) -> None:
    csp = r.headers.get("content-security-policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, csp
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", csp
    assert directives.get("default-src") == "default-src 'self'", csp
    assert directives.get("object-src") == "object-src 'none'", csp
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("referrer-policy") == "strict-origin-when-cross-origin"
    assert r.headers.get("x-frame-options") == "DENY"
    if hsts:
        assert r.headers.get("strict-transport-security", "").startswith("max-age=")
    else:
        assert "strict-transport-security" not in r.headers


async def every_kind_of_response(client: AsyncClient) -> list[Response]:
    responses = [
        await client.get("/"),
        await client.get("/healthz"),
        await client.get("/openapi.json"),
        await client.get("/static/css/app.css"),
        await client.get("/vendor/htmx.min.js"),
        await client.get("/no/such/page"),
        await client.get("/api/no/such/thing"),
        await client.post("/api/_probe/invalid"),
        await client.get("/api/_probe/invalid"),
        await client.get("/api/_probe/items", params={"count": "x"}),
        await client.post("/_probe/form", data={"name": "x"}),  # CSRF failure
        await client.get("/lang/en"),
        await client.get("/_probe/boom"),
        await client.get("/api/_probe/boom"),
    ]
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 200, 200, 200, 200, 404, 404, 405, 422, 422, 403, 303, 500, 500]
    return responses


async def test_security_headers_on_every_response(lenient_client: AsyncClient) -> None:
    for r in await every_kind_of_response(lenient_client):
        assert_security_headers(r, hsts=False)


@pytest.fixture
async def https_setting_client(settings: Settings, runtime: Runtime) -> AsyncIterator[AsyncClient]:
    """Behind a TLS-terminating proxy the app sees plain http, so HSTS follows the setting."""
    app = create_app(settings.model_copy(update={"https": True}), runtime=runtime)
    app.include_router(probe)
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_hsts_when_the_https_setting_is_on(https_setting_client: AsyncClient) -> None:
    for r in await every_kind_of_response(https_setting_client):
        assert_security_headers(r, hsts=True)


async def test_hsts_when_the_request_came_over_https(app: FastAPI) -> None:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="https://testserver") as c:
        for r in [await c.get("/"), await c.get("/no/such/page"), await c.get("/_probe/boom")]:
            assert_security_headers(r, hsts=True)


async def test_csrf_cookie_is_secure_when_https(https_setting_client: AsyncClient) -> None:
    r = await https_setting_client.get("/_probe/form")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("csrftoken=")
    assert "Secure" in cookie and "SameSite=Lax" in cookie


# --- CSRF -----------------------------------------------------------------------------------------


async def test_login_csrf_post_without_any_cookie_is_rejected(client: AsyncClient) -> None:
    # The attacker's page posts a login form: the victim's browser has no cookie for us yet.
    r = await client.post("/_probe/form", data={"name": "attacker"}, headers=JSON)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "csrf-failed"
    assert body["status"] == 403
    assert body["instance"] == "/_probe/form"
    token = i18n.current_locale.set("vi")
    try:
        assert body["title"] == i18n.gettext("Your form has expired")
    finally:
        i18n.current_locale.reset(token)


async def test_csrf_refusal_is_logged(client: AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dgov.errors"):
        r = await client.post("/_probe/form", data={"name": "x"})
    assert r.status_code == 403
    [record] = [rec for rec in caplog.records if rec.getMessage() == "csrf rejected"]
    assert record.__dict__["path"] == "/_probe/form"
    assert record.__dict__["reason"] == "FORM_URLENCODED_MISMATCH"


async def test_csrf_failure_is_a_translated_page_for_people(client: AsyncClient) -> None:
    r = await client.post("/_probe/form", data={"name": "x"}, headers=HTML)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="vi">' in r.text
    client.cookies.set("dgov_lang", "en")
    r = await client.post("/_probe/form", data={"name": "x"}, headers=HTML)
    assert r.status_code == 403
    assert '<html lang="en">' in r.text
    assert "Your form has expired" in r.text


async def test_form_post_with_cookie_and_matching_field_passes(client: AsyncClient) -> None:
    page = await client.get("/_probe/form")
    assert page.status_code == 200
    cookie = client.cookies.get("csrftoken")
    assert cookie, page.headers
    r = await client.post("/_probe/form", data={"csrftoken": cookie, "name": "Nguyễn Văn An"})
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "Nguyễn Văn An"}


async def test_form_post_with_cookie_but_wrong_or_missing_field_is_rejected(client: AsyncClient) -> None:
    await client.get("/_probe/form")
    assert client.cookies.get("csrftoken")
    missing = await client.post("/_probe/form", data={"name": "x"}, headers=JSON)
    assert missing.status_code == 403
    assert missing.json()["code"] == "csrf-failed"
    wrong = await client.post("/_probe/form", data={"csrftoken": "forged", "name": "x"}, headers=JSON)
    assert wrong.status_code == 403


async def test_token_from_another_session_is_rejected(client: AsyncClient, app: FastAPI) -> None:
    # A token is only good with its own cookie (double submit): a stolen pair from the attacker's own
    # visit does not validate against the victim's cookie.
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as attacker:
        await attacker.get("/_probe/form")
        attacker_token = attacker.cookies.get("csrftoken")
    await client.get("/_probe/form")
    assert attacker_token and attacker_token != client.cookies.get("csrftoken")
    r = await client.post("/_probe/form", data={"csrftoken": attacker_token, "name": "x"})
    assert r.status_code == 403


async def test_htmx_header_token_passes(client: AsyncClient) -> None:
    await client.get("/_probe/form")
    token = client.cookies["csrftoken"]
    r = await client.post("/_probe/form", data={"name": "x"}, headers={"X-CSRFToken": token})
    assert r.status_code == 200, r.text


async def test_json_post_to_a_page_path_with_cookies_is_rejected(client: AsyncClient) -> None:
    await client.get("/_probe/form")
    r = await client.post("/_probe/form", json={"name": "x"})
    assert r.status_code == 403


async def test_api_paths_are_exempt(client: AsyncClient) -> None:
    # No cookie at all, as a machine client sends.
    r = await client.post("/api/_probe/echo", json={"a": 1})
    assert r.status_code == 200, r.text
    assert r.json() == {"received": {"a": 1}}
    # Even carrying a browser's cookies, an API path is not form-protected (it authenticates otherwise).
    await client.get("/_probe/form")
    assert client.cookies.get("csrftoken")
    r = await client.post("/api/_probe/echo", json={"b": 2})
    assert r.status_code == 200, r.text


# --- language switch --------------------------------------------------------------------------------


async def test_home_is_vietnamese_by_default(client: AsyncClient) -> None:
    r = await client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert r.status_code == 200
    # People get Vietnamese until they choose otherwise; the browser's language is only a hint for APIs.
    assert '<html lang="vi">' in r.text


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "https:/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
async def test_language_switch_never_redirects_off_site(client: AsyncClient, target: str) -> None:
    r = await client.get("/lang/en", params={"next": target})
    assert r.status_code == 303
    assert r.headers["location"] == "/"


async def test_language_switch_keeps_a_local_target_and_sets_the_cookie(client: AsyncClient) -> None:
    r = await client.get("/lang/en", params={"next": "/docs?x=1"})
    assert r.status_code == 303
    assert r.headers["location"] == "/docs?x=1"
    assert client.cookies.get("dgov_lang") == "en"
    assert '<html lang="en">' in (await client.get("/")).text
    await client.get("/lang/vi")
    assert '<html lang="vi">' in (await client.get("/")).text


async def test_unknown_language_sets_nothing(client: AsyncClient) -> None:
    r = await client.get("/lang/xx", params={"next": "/"})
    assert r.status_code == 303
    assert "dgov_lang" not in client.cookies
