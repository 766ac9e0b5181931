"""The citizen's account pages: profile, second factor, sessions, connected applications, children."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.identity import connections, service, sessions, totp
from dgov.identity.deps import clear_session_cookie, current_login, identity_context
from dgov.identity.sessions import Authenticated
from dgov.kernel.errors import NotFound, ValidationFailed
from dgov.kernel.i18n import gettext as _
from dgov.web.pages import _safe_next
from dgov.web.templating import page

router = APIRouter(include_in_schema=False)
ENROL_PURPOSE = "identity.totp-enrolment"


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _require_login(request: Request) -> Authenticated | RedirectResponse:
    login = await current_login(request)
    if login is None:
        return _redirect("/login?" + urlencode({"next": request.url.path}))
    return login


@router.get("/account")
async def account(request: Request, done: str | None = None) -> Response:
    login = await _require_login(request)
    if isinstance(login, RedirectResponse):
        return login
    ctx = identity_context(request)
    current_id = sessions.token_id(request.cookies.get(sessions.COOKIE, ""))
    return await page(
        request,
        "identity/account.html",
        {
            "account": login.account,
            "level": login.principal.level,
            "sessions": await sessions.active_sessions(ctx, login.principal),
            "current_session": current_id,
            "connections": await connections.connections_of(ctx, login.principal),
            "children": await service.children_of(ctx, login.account.id)
            if login.account.kind == "citizen"
            else [],
            "done": done,
        },
    )


@router.get("/account/second-factor")
async def totp_form(request: Request, next: str | None = None, required: str | None = None) -> Response:
    login = await _require_login(request)
    if isinstance(login, RedirectResponse):
        return login
    enrolment = service.start_totp_enrolment(login.account)
    # Bound to the account: a sealed secret from someone else's page must not enrol here.
    sealed = identity_context(request).box(ENROL_PURPOSE).seal(f"{login.account.id}:{enrolment.secret}")
    return await page(
        request,
        "identity/totp.html",
        {
            "enrolment": enrolment,
            "sealed": sealed,
            "next": _safe_next(next) if next else "/account",
            "required": bool(required),
            "errors": {},
            "has_factor": login.account.totp_secret is not None,
        },
    )


@router.post("/account/second-factor")
async def totp_submit(request: Request) -> Response:
    login = await _require_login(request)
    if isinstance(login, RedirectResponse):
        return login
    form = await request.form()
    ctx = identity_context(request)
    sealed = str(form.get("enrolment", ""))
    nxt = _safe_next(str(form.get("next", "/account")))
    try:
        owner, _sep, secret = ctx.box(ENROL_PURPOSE).open(sealed).partition(":")
    except ValueError:
        return _redirect("/account/second-factor")
    if owner != str(login.account.id) or not secret:
        return _redirect("/account/second-factor")
    try:
        await service.confirm_totp_enrolment(
            ctx, login.principal, secret=secret, code=str(form.get("code", ""))
        )
    except ValidationFailed:
        uri = totp.provisioning_uri(
            secret, account_name=login.account.id_number or login.account.username or ""
        )
        enrolment = service.TotpEnrolment(secret=secret, uri=uri, qr_svg=totp.qr_svg(uri))
        return await page(
            request,
            "identity/totp.html",
            {
                "enrolment": enrolment,
                "sealed": sealed,
                "next": nxt,
                "required": False,
                "errors": {"code": _("The code is not correct or has expired")},
                "has_factor": login.account.totp_secret is not None,
            },
            status=422,
        )
    # The factor now exists, but this session was opened with the password alone: log in again at level 2.
    await sessions.revoke_token(ctx, request.cookies.get(sessions.COOKIE))
    response = _redirect("/login?" + urlencode({"next": nxt, "level": "2"}))
    clear_session_cookie(request, response)
    return response


@router.post("/account/sessions/{prefix}/revoke")
async def revoke_session(prefix: str, request: Request) -> Response:
    login = await _require_login(request)
    if isinstance(login, RedirectResponse):
        return login
    await sessions.revoke_session(identity_context(request), login.principal, session_prefix=prefix)
    return _redirect("/account?done=session")


@router.post("/account/logout-everywhere")
async def logout_everywhere(request: Request) -> Response:
    login = await _require_login(request)
    if isinstance(login, RedirectResponse):
        return login
    await sessions.log_out_everywhere(identity_context(request), login.principal)
    response = _redirect("/")
    clear_session_cookie(request, response)
    return response


@router.post("/account/connections/{client_id}/revoke")
async def revoke_connection(client_id: str, request: Request) -> Response:
    login = await _require_login(request)
    if isinstance(login, RedirectResponse):
        return login
    try:
        await connections.revoke_connection(identity_context(request), login.principal, client_id=client_id)
    except NotFound:
        return _redirect("/account")
    return _redirect("/account?done=connection")
