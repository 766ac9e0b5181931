"""The wallet page, uploads through the form (CSRF, field errors), downloads, and the public
verification pages and API (RFC 9457 on bad input)."""

from __future__ import annotations

import re
from datetime import date

from docskit import AN, BINH, CUONG, exe_bytes, log_in, new_citizen, pdf_bytes
from httpx import AsyncClient

from dgov.documents import DocumentsContext, store_issued, template
from dgov.identity import SYSTEM
from dgov.web.runtime import Runtime


async def csrf(client: AsyncClient) -> str:
    if "csrftoken" not in client.cookies:
        await client.get("/verify")
    return str(client.cookies["csrftoken"])


async def upload(client: AsyncClient, name: str, data: bytes, ctype: str, title: str = "") -> object:
    token = await csrf(client)
    # The token goes first: asgi-csrf reads it from the first part of a multipart body.
    return await client.post(
        "/wallet/upload", data={"csrftoken": token, "title": title}, files={"file": (name, data, ctype)}
    )


async def test_wallet_page_lists_uploads_and_downloads(
    client: AsyncClient, runtime: Runtime, docs: DocumentsContext
) -> None:
    r = await client.get("/wallet")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")

    await new_citizen(runtime, AN, "Nguyễn Văn An", date(1990, 3, 15))
    t = template("birth-certificate")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN, BINH])
    await log_in(runtime, client, AN)
    r = await client.get("/wallet")
    assert r.status_code == 200
    assert "Trích lục khai sinh" in r.text and issued.document.code in r.text

    r = await upload(client, "giay-bao-sinh.pdf", pdf_bytes(), "application/pdf", "Giấy báo sinh")
    assert r.status_code == 303, r.text
    code = r.headers["location"].split("uploaded=")[1]
    page = (await client.get(r.headers["location"])).text
    assert "Giấy báo sinh" in page and code in page

    bad = await upload(client, "giay-to.pdf", exe_bytes(), "application/pdf")
    assert bad.status_code == 422
    assert 'id="file-error"' in bad.text and 'aria-invalid="true"' in bad.text
    assert 'href="#file"' in bad.text  # the error summary links to the field

    no_token = await client.post("/wallet/upload", files={"file": ("a.pdf", pdf_bytes(), "application/pdf")})
    assert no_token.status_code == 403

    dl = await client.get(f"/wallet/{issued.document.code}/download")
    assert dl.status_code == 200 and dl.content == issued.pdf
    assert (
        dl.headers["content-type"] == "application/pdf" and "attachment" in dl.headers["content-disposition"]
    )


async def test_another_citizen_cannot_download(
    client: AsyncClient, runtime: Runtime, docs: DocumentsContext
) -> None:
    await new_citizen(runtime, CUONG, "Lê Văn Cường", date(1985, 11, 2))
    t = template("residence-confirmation")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN])
    await log_in(runtime, client, CUONG)
    r = await client.get(f"/wallet/{issued.document.code}/download")
    assert r.status_code == 403
    assert issued.document.code not in (await client.get("/wallet")).text


async def test_verify_pages_and_api(client: AsyncClient, docs: DocumentsContext) -> None:
    t = template("birth-certificate")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN])
    code = issued.document.code

    page = await client.get(f"/verify/{code}")
    assert page.status_code == 200 and code in page.text and "001******345" in page.text
    assert "001216012345" not in page.text  # the public page never shows a full ID number
    assert (await client.get("/verify/TLKS-2026-NOSUCHCODE")).status_code == 404

    token = await csrf(client)
    ok = await client.post(
        "/verify",
        data={"csrftoken": token, "code": code},
        files={"file": ("kq.pdf", issued.pdf, "application/pdf")},
    )
    assert ok.status_code == 200 and "verify-valid" in ok.text and "Ủy ban nhân dân phường Ba Đình" in ok.text
    altered = bytearray(issued.pdf)
    altered[len(altered) // 3] ^= 1
    bad = await client.post(
        "/verify", data={"csrftoken": token}, files={"file": ("kq.pdf", bytes(altered), "application/pdf")}
    )
    assert bad.status_code == 200 and "verify-invalid" in bad.text

    api = await client.post(
        "/api/documents/verify", files={"file": ("kq.pdf", issued.pdf, "application/pdf")}
    )
    body = api.json()
    assert api.status_code == 200 and body["valid"] is True and body["code"] == code
    assert body["signature"]["certificate_status"] == "good" and body["signature"]["signed_at"]
    assert body["document"]["agency"] == "UBND-BADINH"
    raw = await client.post(
        "/api/documents/verify", content=bytes(altered), headers={"content-type": "application/pdf"}
    )
    assert raw.status_code == 200 and raw.json()["valid"] is False and raw.json()["reasons"]

    for kwargs in ({"content": b"hello"}, {"files": {"file": ("a.txt", b"hello", "text/plain")}}):
        problem = await client.post("/api/documents/verify", **kwargs)  # type: ignore[arg-type]
        assert problem.status_code == 422, problem.text
        assert problem.headers["content-type"].startswith("application/problem+json")
        assert problem.json()["errors"][0]["loc"] == ["file"]
    status = await client.get(f"/api/documents/verify/{code}")
    assert status.json()["status"] == "valid" and re.fullmatch(r"[0-9a-f]{64}", status.json()["sha256"])
