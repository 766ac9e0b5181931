"""Anonymous verification cannot stall the node: pyHanko runs in the runtime's worker processes within a
time budget, files with too many signature fields are refused before any validation, and each client
address gets a limited number of verifications per minute (issue 12, defect 3)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import pytest
from docskit import AN
from httpx import ASGITransport, AsyncClient
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from dgov.documents import DocumentsContext, documents_context, store_issued, template, verify
from dgov.identity import SYSTEM
from dgov.kernel.config import Settings
from dgov.kernel.errors import ValidationFailed
from dgov.kernel.ratelimit import RateLimiter
from dgov.kernel.uow import Database
from dgov.web.app import create_app
from dgov.web.runtime import Runtime


def attack_pdf(signed: bytes, fields: int) -> bytes:
    """The attack found in testing: many signature fields, added in an update, all pointing at the one
    real signature. pyHanko validates each and compares every later revision for each: quadratic."""
    reader = PdfFileReader(io.BytesIO(signed))
    [sig_field] = [
        f.get_object() for f in reader.root["/AcroForm"]["/Fields"] if f.get_object().get("/FT") == "/Sig"
    ]
    value = sig_field.raw_get("/V")
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = w.root["/Pages"]["/Kids"][0]
    all_fields = w.root["/AcroForm"]["/Fields"]
    for i in range(fields):
        widget = generic.DictionaryObject(
            {
                generic.NameObject("/FT"): generic.NameObject("/Sig"),
                generic.NameObject("/T"): generic.TextStringObject(f"copy{i}"),
                generic.NameObject("/V"): value,
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
                generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(0)] * 4),
                generic.NameObject("/P"): page,
            }
        )
        all_fields.append(w.add_object(widget))
    w.update_container(all_fields)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


async def _issued(docs: DocumentsContext) -> bytes:
    t = template("birth-certificate")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN])
    return issued.pdf


@pytest.fixture
async def node(settings: Settings, db: Database) -> AsyncIterator[tuple[Runtime, AsyncClient]]:
    """The app with its own runtime, closed at the end (its worker processes stopped); the budget is
    generous, so the verdict comes back however busy the machine is."""
    generous = settings.model_copy(update={"documents_verify_timeout_seconds": 120})
    rt = Runtime.build(generous, db=db)
    app = create_app(generous, runtime=rt)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as c:
            yield rt, c
    finally:
        await rt.close()


async def test_healthz_answers_quickly_while_an_attack_pdf_is_verified(
    docs: DocumentsContext, node: tuple[Runtime, AsyncClient]
) -> None:
    _rt, client = node
    hostile = attack_pdf(await _issued(docs), 19)  # 20 fields, the cap: validated at length (≈ 2 s)
    job = asyncio.create_task(
        client.post("/api/documents/verify", content=hostile, headers={"content-type": "application/pdf"})
    )
    slowest, answered = 0.0, 0
    while not job.done():
        started = time.perf_counter()
        r = await client.get("/healthz")
        slowest = max(slowest, time.perf_counter() - started)
        assert r.status_code == 200
        answered += 1
        await asyncio.sleep(0.05)
    answer = await job
    assert answer.status_code == 200, answer.text
    assert answer.json()["valid"] is False and "not_covered" in answer.json()["reasons"]
    assert answered >= 5  # /healthz was asked many times while the file was being verified
    assert slowest < 0.5, f"/healthz waited {slowest:.2f} s"


async def test_too_many_signature_fields_are_refused_before_validation(docs: DocumentsContext) -> None:
    hostile = attack_pdf(await _issued(docs), 200)  # validating it all took minutes
    started = time.perf_counter()
    with pytest.raises(ValidationFailed) as info:
        await verify(docs, hostile)
    assert time.perf_counter() - started < 5
    [err] = info.value.errors
    assert err.loc == ("file",) and err.params == {"limit": 20}


async def test_the_time_budget_stops_a_slow_verification_and_the_pool_recovers(
    settings: Settings, db: Database, docs: DocumentsContext
) -> None:
    tight = settings.model_copy(update={"documents_verify_timeout_seconds": 0.3})
    rt = Runtime.build(tight, db=db)
    app = create_app(tight, runtime=rt)
    good = await _issued(docs)
    hostile = attack_pdf(good, 19)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client:
            for lang, words in (("vi", "giây"), ("en", "seconds")):
                r = await client.post(
                    "/api/documents/verify",
                    content=hostile,
                    headers={"content-type": "application/pdf", "accept-language": lang},
                )
                assert r.status_code == 422, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                [err] = r.json()["errors"]
                assert err["loc"] == ["file"] and words in err["message"] and "0.3" in err["message"]
            # The stopped worker left the pool usable: with a budget a genuine document fits in on a busy
            # machine, it verifies.
            tight.documents_verify_timeout_seconds = 30
            ok = await client.post(
                "/api/documents/verify", content=good, headers={"content-type": "application/pdf"}
            )
            assert ok.status_code == 200 and ok.json()["valid"] is True
    finally:
        await rt.close()


async def test_each_address_gets_a_limited_number_of_verifications(settings: Settings, db: Database) -> None:
    few = settings.model_copy(update={"documents_verify_per_minute": 3})
    rt = Runtime.build(few, db=db)
    app = create_app(few, runtime=rt)
    # The limiter on a clock standing still, so the wait it announces is exact.
    ctx = rt.extras["documents"] = documents_context(few, db, pool=rt.pool)
    ctx.verify_limiter = RateLimiter(limit=3, window_seconds=60, now=lambda: 1000.0)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client:
            for _ in range(3):
                r = await client.post("/api/documents/verify", content=b"hello")
                assert r.status_code == 422  # counted, then refused as not a PDF
            r = await client.post("/api/documents/verify", content=b"hello")
            assert r.status_code == 429 and r.json()["code"] == "too-many-requests"
            assert r.headers["retry-after"] == "60"
            # The upload page shares the same count.
            page = await client.get("/verify")
            token = page.cookies.get("csrftoken") or client.cookies["csrftoken"]
            r = await client.post(
                "/verify",
                data={"csrftoken": token},
                files={"file": ("a.pdf", b"%PDF-1.7", "application/pdf")},
            )
            assert r.status_code == 429
    finally:
        await rt.close()


def test_rate_limiter_window_slides() -> None:
    now = [1000.0]
    limiter = RateLimiter(limit=2, window_seconds=60, now=lambda: now[0])
    assert limiter.hit("a") is None and limiter.hit("a") is None
    assert limiter.hit("a") == 60
    assert limiter.hit("b") is None  # another address is not affected
    now[0] += 30
    assert limiter.hit("a") == 30  # a refused request is not counted
    now[0] += 30
    assert limiter.hit("a") is None


async def test_a_file_over_the_verification_size_budget_is_refused(docs: DocumentsContext) -> None:
    budget = docs.settings.documents_verify_max_bytes
    assert budget < docs.max_upload_bytes  # verification is held to less than an upload
    with pytest.raises(ValidationFailed) as info:
        await verify(docs, b"%PDF-1.7\n" + b"0" * budget)
    [err] = info.value.errors
    assert err.loc == ("file",) and err.params == {"limit": budget // (1024 * 1024)}
