"""The shell's own pages: home and the language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.kernel import i18n
from dgov.web.middleware import LANG_COOKIE
from dgov.web.templating import page

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    return await page(request, "home.html")


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect would let phishing pages borrow our address."""
    if not target:
        return "/"
    # Browsers read "\\" as "/" and drop tabs and newlines: "/\\evil" or "/<TAB>/evil" would leave the site.
    if not target.startswith("/") or "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return "/"
    return target


@router.get("/lang/{code}")
async def switch_language(code: str, request: Request, next: str | None = None) -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    if code in i18n.SUPPORTED:
        response.set_cookie(
            LANG_COOKIE,
            code,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.https,
        )
    return response
