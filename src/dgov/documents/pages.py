"""Pages: the citizen's wallet "Kho giấy tờ" (/wallet) with uploads and downloads, and the public
verification pages (/verify to upload a PDF, /verify/{code} from the QR code)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.documents import service, signing
from dgov.documents.present import cert_status
from dgov.documents.uploads import ACCEPT
from dgov.documents.web_support import ctx_of, holder_of, limit_verification, read_upload
from dgov.identity import current_login
from dgov.kernel.errors import DomainError, Forbidden, ValidationFailed
from dgov.kernel.i18n import gettext as _
from dgov.web.templating import add_template_package, page

add_template_package("dgov.documents")
router = APIRouter(include_in_schema=False)


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("/login?next=" + quote(request.url.path), status_code=303)


def _errors(exc: DomainError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors:
        out.setdefault(str(e.loc[-1]), _(e.message, **e.params))
    if not out:
        out["file"] = _(exc.detail or exc.title, **exc.params)
    return out


def when(at: datetime | None) -> str:
    return signing.local_time(at) if at else ""


def size_text(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / (1024 * 1024):.1f} MB"


def _item_view(item: service.WalletItem) -> dict[str, Any]:
    d = item.document
    return {
        "code": d.code,
        "title": d.title,
        "issued": d.kind == "issued",
        "agency": d.agency_name,
        "added": when(item.added_at),
        "type": d.media_type.split("/")[1].upper(),
        "size": size_text(d.size),
        "status": d.status,
    }


async def _wallet_page(
    request: Request,
    login: Any,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    uploaded: str | None = None,
) -> Response:
    holder = holder_of(login)
    if holder is None:
        raise Forbidden("The wallet holds a citizen's documents; log in with your personal ID number")
    ctx = ctx_of(request)
    items = await service.wallet_items(ctx, login.principal, holder)
    log = await service.reads_of(ctx, login.principal, holder)
    return await page(
        request,
        "documents/wallet.html",
        {
            "issued": [_item_view(i) for i in items if i.source == "issued"],
            "uploads": [_item_view(i) for i in items if i.source != "issued"],
            "log": [{**e, "at": when(e["at"])} for e in log],
            "errors": errors or {},
            "accept": ACCEPT,
            "max_mb": ctx.max_upload_bytes // (1024 * 1024),
            "uploaded": uploaded,
        },
        status=status,
    )


@router.get("/wallet")
async def wallet_page(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return _login_redirect(request)
    return await _wallet_page(request, login, uploaded=request.query_params.get("uploaded"))


@router.post("/wallet/upload")
async def wallet_upload(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return _login_redirect(request)
    holder = holder_of(login)
    if holder is None:
        raise Forbidden("The wallet holds a citizen's documents; log in with your personal ID number")
    ctx = ctx_of(request)
    form = await request.form(max_files=1, max_fields=5, max_part_size=ctx.max_upload_bytes + 1024)
    title = form.get("title")
    try:
        data, filename, declared = await read_upload(form.get("file"), ctx.max_upload_bytes)
        doc = await service.upload(
            ctx,
            login.principal,
            holder=holder,
            data=data,
            filename=filename,
            declared_type=declared,
            title=title if isinstance(title, str) else None,
        )
    except ValidationFailed as exc:
        return await _wallet_page(request, login, errors=_errors(exc), status=422)
    return RedirectResponse(f"/wallet?uploaded={doc.code}", status_code=303)


def _file(info: service.DocumentInfo, data: bytes) -> Response:
    ext = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
    name = f"{info.code}.{ext.get(info.media_type, 'bin')}"
    return Response(
        data,
        media_type=info.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


def _asks_purpose(exc: ValidationFailed) -> bool:
    return any(e.loc == ("purpose",) for e in exc.errors)


async def _download(request: Request, code: str, purpose: str | None) -> Response:
    """The holder downloads their own document with no purpose. Anyone else states one in a form
    posted with its CSRF token: a purpose in a link (GET) would be chosen by whoever wrote the link,
    so a GET never carries one and only shows the form."""
    login = await current_login(request)
    if login is None:
        return _login_redirect(request)
    ctx = ctx_of(request)
    try:
        info, data = await service.read(
            ctx,
            login.principal,
            code,
            holder=holder_of(login),
            purpose=purpose or "",
            accessor_name=login.account.full_name,
        )
    except ValidationFailed as exc:
        if not _asks_purpose(exc):
            raise
        # Reached only once `read` has found the reader allowed: the form reveals nothing more.
        return await page(
            request,
            "documents/purpose.html",
            {
                "code": code,
                "purpose": purpose or "",
                "errors": _errors(exc) if purpose is not None else {},
            },
            status=422 if purpose is not None else 200,
        )
    return _file(info, data)


@router.get("/wallet/{code}/download")
async def wallet_download(request: Request, code: str) -> Response:
    return await _download(request, code, None)


@router.post("/wallet/{code}/download")
async def wallet_download_with_purpose(request: Request, code: str) -> Response:
    form = await request.form(max_files=0, max_fields=5)
    purpose = form.get("purpose")
    return await _download(request, code, purpose.strip() if isinstance(purpose, str) else "")


# --- verification (public) -------------------------------------------------------------------------


def _result_view(v: service.Verification) -> dict[str, Any]:
    sig = v.verdict.signature
    doc = v.document
    return {
        "valid": v.valid,
        "reasons": [_(r) for r in v.verdict.reasons],
        "agency": (sig.signer_organisation or sig.signer_subject) if sig else "",
        "signed_at": when(sig.signed_at) if sig else "",
        "cert_status": cert_status(sig) if sig else "",
        "timestamp_valid": bool(sig and sig.timestamp_valid),
        "dss": bool(sig and sig.revocation_info_embedded),
        "code": doc.code if doc else (sig.code if sig else None),
        "title": doc.title if doc else "",
        "status": doc.status if doc else None,
        "matches": v.matches_registered,
        "summary": v.summary,
        "sha256": v.verdict.sha256,
    }


@router.get("/verify")
async def verify_page(request: Request) -> Response:
    return await page(request, "documents/verify.html", {"errors": {}, "result": None, "code": None})


@router.post("/verify")
async def verify_submit(request: Request) -> Response:
    ctx = ctx_of(request)
    limit_verification(request, ctx)
    form = await request.form(max_files=1, max_fields=5, max_part_size=ctx.max_upload_bytes + 1024)
    expected = form.get("code")
    expected_code = expected.strip().upper() if isinstance(expected, str) and expected.strip() else None
    try:
        data, _name, _declared = await read_upload(form.get("file"), ctx.max_upload_bytes)
        result = _result_view(await service.verify(ctx, data))
    except ValidationFailed as exc:
        return await page(
            request,
            "documents/verify.html",
            {"errors": _errors(exc), "result": None, "code": expected_code},
            status=422,
        )
    if expected_code and result["code"] != expected_code:
        result["valid"] = False
        result["reasons"].append(_("This file is not the document with code {code}", code=expected_code))
    return await page(
        request, "documents/verify.html", {"errors": {}, "result": result, "code": expected_code}
    )


@router.get("/verify/{code}")
async def verify_code_page(request: Request, code: str) -> Response:
    info = await service.lookup(ctx_of(request), code)
    return await page(
        request,
        "documents/verify_code.html",
        {
            "doc": {
                "code": info.code,
                "title": info.title,
                "agency": info.agency_name,
                "status": info.status,
                "issued": when(info.created_at),
                "sha256": info.sha256,
            },
            "summary": service.public_summary(info),
            "errors": {},
        },
    )
