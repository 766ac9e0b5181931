"""Every error leaves as RFC 9457 problem details for machines and as a translated page for people."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from httpx import AsyncClient, Response
from webprobe import SECRET_MARKER

from dgov.kernel import i18n

PROBLEM = "application/problem+json"
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def in_vi(msgid: str, **params: Any) -> str:
    token = i18n.current_locale.set("vi")
    try:
        return i18n.gettext(msgid, **params)
    finally:
        i18n.current_locale.reset(token)


def assert_problem(r: Response, *, status: int, instance: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["instance"] == instance
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    return body


async def test_unknown_route_with_json_accept_is_a_problem(client: AsyncClient) -> None:
    r = await client.get("/no/such/page", headers=JSON)
    body = assert_problem(r, status=404, instance="/no/such/page")
    assert body["title"] == in_vi("Not found")
    assert body["code"] == "not-found"
    assert body["type"] == "/problems/not-found"


async def test_unknown_api_route_is_a_problem_whatever_the_accept_header(client: AsyncClient) -> None:
    r = await client.get("/api/nothing-here", headers=HTML)
    body = assert_problem(r, status=404, instance="/api/nothing-here")
    assert body["code"] == "not-found"


async def test_api_problems_follow_accept_language(client: AsyncClient) -> None:
    r = await client.get("/api/nothing-here", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert assert_problem(r, status=404, instance="/api/nothing-here")["title"] == "Not found"


async def test_wrong_method_is_405_with_allow(client: AsyncClient) -> None:
    r = await client.post("/api/_probe/invalid", json={})
    body = assert_problem(r, status=405, instance="/api/_probe/invalid")
    assert body["code"] == "method-not-allowed"
    assert "GET" in r.headers["allow"]


async def test_domain_error_maps_to_422_with_field_errors(client: AsyncClient) -> None:
    body = assert_problem(await client.get("/api/_probe/invalid"), status=422, instance="/api/_probe/invalid")
    assert body["code"] == "validation-failed"
    assert body["type"] == "/problems/validation-failed"
    assert body["title"] == in_vi("Some fields are not valid")
    assert body["errors"] == [
        {"loc": ["child", "given_name"], "message": in_vi("This field is required")},
        {"loc": ["child", "birth_date"], "message": in_vi("Enter a date as YYYY-MM-DD")},
    ]


async def test_domain_error_in_english_for_an_english_client(client: AsyncClient) -> None:
    r = await client.get("/api/_probe/invalid", headers={"Accept-Language": "en"})
    body = assert_problem(r, status=422, instance="/api/_probe/invalid")
    assert body["title"] == "Some fields are not valid"
    assert [e["message"] for e in body["errors"]] == ["This field is required", "Enter a date as YYYY-MM-DD"]


async def test_request_validation_error_is_422_problem(client: AsyncClient) -> None:
    r = await client.get("/api/_probe/items", params={"count": "many"})
    body = assert_problem(r, status=422, instance="/api/_probe/items")
    assert body["code"] == "validation-failed"
    assert body["errors"] == [
        {"loc": ["query", "count"], "message": in_vi("Enter a whole number"), "type": "int_parsing"}
    ]
    missing = assert_problem(await client.get("/api/_probe/items"), status=422, instance="/api/_probe/items")
    assert missing["errors"][0]["type"] == "missing"
    assert missing["errors"][0]["message"] == in_vi("This field is required")


async def test_invalid_json_body_is_422_problem(client: AsyncClient) -> None:
    r = await client.post(
        "/api/_probe/echo", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    body = assert_problem(r, status=422, instance="/api/_probe/echo")
    assert [e["type"] for e in body["errors"]] == ["json_invalid"]
    assert body["errors"][0]["message"] == in_vi("The body is not valid JSON")


@pytest.mark.parametrize("path", ["/api/_probe/boom", "/_probe/boom"])
async def test_unhandled_exception_is_500_without_leaking(
    lenient_client: AsyncClient, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="dgov.errors"):
        r = await lenient_client.get(path, headers=JSON)
    body = assert_problem(r, status=500, instance=path)
    assert body["title"] == in_vi("Something went wrong on our side")
    assert SECRET_MARKER not in r.text
    assert "Traceback" not in r.text and "RuntimeError" not in r.text
    # ... but the operator's log has it.
    assert any(SECRET_MARKER in (rec.exc_text or "") + str(rec.exc_info) for rec in caplog.records)


async def test_unhandled_exception_page_for_browsers(lenient_client: AsyncClient) -> None:
    r = await lenient_client.get("/_probe/boom", headers=HTML)
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="vi">' in r.text
    assert SECRET_MARKER not in r.text and "Traceback" not in r.text


async def test_browser_gets_translated_html_404(client: AsyncClient) -> None:
    r = await client.get("/no/such/page", headers=HTML)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="vi">' in r.text
    assert in_vi("Not found") in r.text
    assert in_vi("Back to the home page") in r.text


async def test_browser_gets_english_page_after_choosing_english(client: AsyncClient) -> None:
    client.cookies.set("dgov_lang", "en")
    r = await client.get("/no/such/page", headers=HTML)
    assert r.status_code == 404
    assert '<html lang="en">' in r.text
    assert "Not found" in r.text


async def test_domain_error_page_lists_field_errors(client: AsyncClient) -> None:
    r = await client.get("/_probe/invalid", headers=HTML)
    assert r.status_code == 422
    assert '<html lang="vi">' in r.text
    assert in_vi("This field is required") in r.text
    assert "given_name" in r.text


async def test_default_accept_on_a_page_path_gets_html(client: AsyncClient) -> None:
    # httpx sends Accept: */*; like curl, it is a person until it says it wants JSON.
    r = await client.get("/no/such/page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
