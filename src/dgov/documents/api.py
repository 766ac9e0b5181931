"""Documents JSON API: public verification (RFC 9457 problems on bad input) and the templates list.

`POST /api/documents/verify` takes the PDF as `multipart/form-data` (field `file`) or as the raw body
with `Content-Type: application/pdf`. The answer: valid or not with reason codes, the signing agency,
when it was timestamped, the certificate's status, the document code and a summary of its content.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request

from dgov.documents import service
from dgov.documents.present import templates_json, verification_json
from dgov.documents.web_support import ctx_of, limit_verification, read_upload
from dgov.kernel.errors import FieldError, ValidationFailed

router = APIRouter(prefix="/api/documents", tags=["documents"])


@router.post("/verify", summary="Verify a signed PDF")
async def verify_api(request: Request) -> dict[str, Any]:
    ctx = ctx_of(request)
    limit_verification(request, ctx)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        data, _name, _declared = await read_upload(form.get("file"), ctx.max_upload_bytes)
    elif ctype.startswith("application/pdf") or ctype.startswith("application/octet-stream"):
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > ctx.max_upload_bytes:
                break
        data = bytes(body)
    else:
        raise ValidationFailed(
            "Send the PDF as multipart/form-data (field file) or as application/pdf",
            errors=[FieldError(("file",), "Choose a file")],
        )
    return verification_json(await service.verify(ctx, data))


@router.get("/verify/{code}", summary="The status of a registered issued document")
async def status_api(request: Request, code: str) -> dict[str, Any]:
    info = await service.lookup(ctx_of(request), code)
    return {
        "code": info.code,
        "title": info.title,
        "template": info.template,
        "agency": info.agency,
        "agency_name": info.agency_name,
        "status": info.status,
        "issued_at": info.created_at.isoformat(),
        "sha256": info.sha256,
        "summary": service.public_summary(info),
    }


@router.get("/templates", summary="Document templates: fields and a complete example each")
async def templates_api() -> list[dict[str, Any]]:
    return templates_json()
