"""An outside validator's view: a real HTTP server on a free port serves the PKI, and pyhanko-certvalidator
fetches the issuing CA (AIA caIssuers), CRLs and OCSP responses from the URLs written in the certificates."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from io import BytesIO

import pytest
import uvicorn
from pki_support import sign, tiny_pdf
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import CertificateValidator
from pyhanko_certvalidator.errors import RevokedError

from dgov.kernel import clock
from dgov.kernel.clock import SystemClock
from dgov.kernel.config import Settings
from dgov.kernel.uow import Database
from dgov.pki import revoke_agency_certificate, signing_material, validation_context
from dgov.web.app import create_app
from dgov.web.runtime import Runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served(settings: Settings, db: Database) -> AsyncIterator[Settings]:
    """The node behind uvicorn, on the test's database, with public_url pointing at it."""
    port = free_port()
    live = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    app = create_app(live, runtime=Runtime.build(live, db=db))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield live
    server.should_exit = True
    await task


async def test_validator_fetches_status_over_http(served: Settings, db: Database) -> None:
    material = await signing_material(served, db, "BGDDT")
    signed = await sign(material, tiny_pdf("Bang tot nghiep"))
    embedded = PdfFileReader(BytesIO(signed)).embedded_signatures[0]

    fetching = await validation_context(served, db, fetch=True)
    status = await async_validate_pdf_signature(embedded, fetching)
    assert status.bottom_line, status.pretty_print_details()

    await revoke_agency_certificate(served, db, "BGDDT", reason="keyCompromise")
    fetching = await validation_context(served, db, fetch=True)
    with pytest.raises(RevokedError):
        await CertificateValidator(material.certificate, validation_context=fetching).async_validate_usage(
            {"non_repudiation"}
        )
    status = await async_validate_pdf_signature(embedded, fetching)
    assert status.revoked and not status.bottom_line


class _Ahead:
    """The node's clock running ahead of the validator's, as a busy node or a slow network looks."""

    def __init__(self, by: timedelta) -> None:
        self.by = by

    def now(self) -> datetime:
        return SystemClock().now() + self.by


async def test_status_fetched_after_the_context_was_made_is_accepted(served: Settings, db: Database) -> None:
    material = await signing_material(served, db, "BTC")
    fetching = await validation_context(served, db, fetch=True)
    previous = clock.set_clock(_Ahead(timedelta(seconds=30)))
    try:
        path = await CertificateValidator(
            material.certificate, validation_context=fetching
        ).async_validate_usage({"non_repudiation"})
    finally:
        clock.set_clock(previous)
    assert len(path) == 3
