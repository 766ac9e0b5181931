"""Web-side glue shared by the documents API and pages: the context per process, the logged-in
person as a wallet holder, and reading an uploaded file within the size limit."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from dgov.documents.rules import Holder
from dgov.documents.service import DocumentsContext, context
from dgov.kernel.errors import FieldError, TooManyRequests, ValidationFailed
from dgov.web.deps import get_runtime


def ctx_of(request: Request) -> DocumentsContext:
    rt = get_runtime(request)
    ctx = rt.extras.get("documents")
    if not isinstance(ctx, DocumentsContext) or ctx.db is not rt.db:
        ctx = rt.extras["documents"] = context(rt.settings, rt.db, pool=rt.pool)
    return ctx


def limit_verification(request: Request, ctx: DocumentsContext) -> None:
    """Anonymous verification costs CPU: a client address gets a fixed number per minute, checked
    before the body is read."""
    address = request.client.host if request.client else "unknown"
    wait = ctx.verify_limiter.hit(address)
    if wait is not None:
        raise TooManyRequests(
            "Too many verifications from your address. Try again in {seconds} seconds.",
            params={"seconds": wait},
            extra={"retry_after": wait},
        )


def holder_of(login: Any) -> Holder | None:
    """The logged-in citizen as a wallet holder (their number comes from the account, never a form)."""
    number = getattr(login.account, "id_number", None) if login else None
    if not number or login.principal.kind != "citizen":
        return None
    return Holder(id_number=number, account_id=login.account.id)


async def read_upload(upload: Any, limit: int) -> tuple[bytes, str, str | None]:
    """The file's bytes (refusing before reading past the limit), its name and declared type."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ValidationFailed(errors=[FieldError(("file",), "Choose a file")])
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ValidationFailed(
            errors=[
                FieldError(
                    ("file",), "The file is larger than {limit} MB", {"limit": max(1, limit // (1024 * 1024))}
                )
            ]
        )
    return data, upload.filename, upload.content_type
