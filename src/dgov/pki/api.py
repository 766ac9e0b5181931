"""What validators fetch from the node: CA certificates, CRLs, OCSP (RFC 6960) and time stamps (RFC 3161).

All public and unauthenticated, as certificate status must be; the paths are the URLs written into
the certificates (CRL distribution points, authority information access), so they must stay stable.
Media types: RFC 5280 §4.2.1.13 / RFC 2585 (`application/pkix-crl`, `application/pkix-cert`),
RFC 6960 Appendix A (`application/ocsp-request|response`), RFC 3161 §3.4 (`application/timestamp-*`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response

from dgov.kernel.errors import DomainError, NotFound
from dgov.pki import material
from dgov.pki.agencies import agencies
from dgov.pki.revocation import CA_NAMES, crl_der, ocsp_response_der
from dgov.pki.service import current, ensure_initialised, list_certificates
from dgov.pki.tsa import respond_der
from dgov.web.deps import RuntimeDep
from dgov.web.runtime import Runtime

router = APIRouter(prefix="/pki", tags=["pki"])

# An OCSP request for one certificate is ~100 bytes and a time-stamp query ~60; anything far larger is
# not one of them.
MAX_BODY = 16 * 1024
NO_CACHE = {"Cache-Control": "no-cache"}


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported-media-type"
    title = "This media type is not accepted here"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload-too-large"
    title = "The request body is too large"


async def _body(request: Request, media_type: str) -> bytes:
    got = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if got != media_type:
        raise UnsupportedMediaType("Send the request as {media_type}", params={"media_type": media_type})
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise PayloadTooLarge()
    return body


@router.get("/root.pem", summary="The root CA certificate (PEM): the one trust anchor for dgov signatures")
async def root_pem(rt: RuntimeDep) -> Response:
    pem = await material.root_certificate_pem(rt.settings, rt.db)
    return Response(pem, media_type="application/x-pem-file")


@router.get(
    "/ca/{file_name}", summary="A CA or service certificate: root, issuing, tsa or ocsp (.pem or .cer)"
)
async def ca_certificate(file_name: str, rt: RuntimeDep) -> Response:
    name, _dot, ext = file_name.rpartition(".")
    if ext not in ("pem", "cer", "der"):
        raise NotFound("Unknown CA {ca}", params={"ca": file_name})
    cert = await material.ca_certificate(rt.settings, rt.db, name)
    if ext == "pem":
        return Response(cert.pem(), media_type="application/x-pem-file")
    return Response(cert.der, media_type="application/pkix-cert")


@router.get("/crl/{file_name}", summary="A fresh CRL of the root or issuing CA (DER)")
async def crl(file_name: str, rt: RuntimeDep) -> Response:
    name, _dot, ext = file_name.rpartition(".")
    if ext != "crl" or name not in CA_NAMES:
        raise NotFound("Unknown CA {ca}", params={"ca": file_name})
    await ensure_initialised(rt.settings, rt.db)
    async with rt.db.uow(readonly=True) as uow:
        der = await crl_der(uow.session, rt.settings, name)
    return Response(der, media_type="application/pkix-crl", headers=NO_CACHE)


async def _ocsp(rt: Runtime, request_der: bytes) -> Response:
    await ensure_initialised(rt.settings, rt.db)
    async with rt.db.uow(readonly=True) as uow:
        der = await ocsp_response_der(uow.session, rt.settings, request_der)
    return Response(der, media_type="application/ocsp-response", headers=NO_CACHE)


@router.post("/ocsp", summary="OCSP responder (RFC 6960), POST form")
async def ocsp_post(request: Request, rt: RuntimeDep) -> Response:
    return await _ocsp(rt, await _body(request, "application/ocsp-request"))


@router.get("/ocsp/{encoded:path}", summary="OCSP responder (RFC 6960 Appendix A.1), GET form")
async def ocsp_get(encoded: str, rt: RuntimeDep) -> Response:
    try:
        # Clients may or may not percent-encode the base64 ('+', '/', '='); accept both.
        request_der = base64.b64decode(unquote(encoded), validate=True)
    except (binascii.Error, ValueError):
        request_der = b""  # answered as malformedRequest, in OCSP's own terms
    return await _ocsp(rt, request_der)


@router.post("/tsa", summary="Time-stamping authority (RFC 3161)")
async def tsa(request: Request, rt: RuntimeDep) -> Response:
    body = await _body(request, "application/timestamp-query")
    signer = await material.tsa_signer(rt.settings, rt.db)
    return Response(respond_der(signer, body), media_type="application/timestamp-reply")


@router.get("/certificates", summary="Every certificate the node's CAs issued, with its status (JSON)")
async def certificates(rt: RuntimeDep) -> list[dict[str, Any]]:
    await ensure_initialised(rt.settings, rt.db)
    return [c.as_json() for c in await list_certificates(rt.db)]


@router.get("/agencies", summary="The agencies this node signs for, with their current certificate")
async def agency_list(rt: RuntimeDep) -> list[dict[str, Any]]:
    await ensure_initialised(rt.settings, rt.db)
    out = []
    async with rt.db.uow(readonly=True) as uow:
        for a in agencies():
            cert = await current(uow.session, "agency", a.code)
            out.append(
                {
                    "code": a.code,
                    "name": {"vi": a.name_vi, "en": a.name_en},
                    "certificate": cert.as_json() if cert else None,
                    "certificate_pem": cert.pem().decode("ascii") if cert else None,
                }
            )
    return out
