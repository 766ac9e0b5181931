"""Identity pages: login (with the second-factor step), logout, registration and activation, password
reset, and the citizen's account (profile, second factor, sessions, connected applications, children).

Form field names are a public contract: `id_number` (or `username`), `password`, `code`, `approve`.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.identity import account_pages, operator_clients, operator_pages, service, sessions
from dgov.identity import login as login_uc
from dgov.identity.authz import can
from dgov.identity.deps import (
    clear_session_cookie,
    client_ip,
    current_login,
    identity_context,
    set_session_cookie,
)
from dgov.kernel.errors import Conflict, DomainError, Forbidden, TooManyRequests, ValidationFailed
from dgov.kernel.i18n import gettext as _
from dgov.web.pages import _safe_next
from dgov.web.templating import add_context_processor, add_template_package, page

router = APIRouter(include_in_schema=False)
add_template_package("dgov.identity")


async def _login_context(request: Request) -> dict[str, Any]:
    return {"login": await current_login(request)}


add_context_processor(_login_context)


def field_errors(exc: DomainError) -> dict[str, str]:
    """Field name → translated message, for inline errors and the error summary."""
    out: dict[str, str] = {}
    for e in exc.errors:
        out.setdefault(str(e.loc[-1]), _(e.message, **e.params))
    return out


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _login_url(next_url: str, level: int = 1) -> str:
    query = {"next": next_url}
    if level >= 2:
        query["level"] = "2"
    return "/login?" + urlencode(query)


# --- login -----------------------------------------------------------------------------------------


@router.get("/login")
async def login_form(
    request: Request, next: str | None = None, level: int = 1, official: int = 0
) -> Response:
    nxt = _safe_next(next)
    current = await current_login(request)
    if current is not None and current.principal.level >= level:
        return _redirect(nxt)
    return await page(
        request,
        "identity/login.html",
        {"next": nxt, "level": level, "errors": {}, "values": {}, "official": bool(official)},
    )


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await _form(request)
    nxt = _safe_next(form.get("next"))
    level = 2 if form.get("level") == "2" else 1
    official = "username" in form
    identifier = (form.get("username") if official else form.get("id_number")) or ""
    password = form.get("password") or ""
    values = {"id_number": form.get("id_number", ""), "username": form.get("username", "")}
    field = "username" if official else "id_number"
    errors: dict[str, str] = {}
    if not identifier.strip():
        errors[field] = (
            _("Enter your username") if official else _("Enter your personal identification number")
        )
    elif not official and not (identifier.strip().isdigit() and len(identifier.strip()) == 12):
        errors[field] = _("A personal identification number has exactly 12 digits")
    if not password:
        errors["password"] = _("Enter your password")
    ctx_vals = {"next": nxt, "level": level, "values": values, "official": official}
    if errors:
        if identifier.strip():  # something was typed, but not an ID number: audited like a failure
            await login_uc.record_malformed(identity_context(request), ip=client_ip(request), what=field)
        return await page(request, "identity/login.html", {**ctx_vals, "errors": errors}, status=422)
    ctx = identity_context(request)
    try:
        step = await login_uc.password_step(
            ctx,
            identifier=identifier,
            password=password,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            previous_token=request.cookies.get(sessions.COOKIE),
        )
    except TooManyRequests as exc:
        msg = _(exc.detail or exc.title, **exc.params)
        resp = await page(request, "identity/login.html", {**ctx_vals, "errors": {field: msg}}, status=429)
        resp.headers["Retry-After"] = str(exc.extra.get("retry_after", 60))
        return resp
    except login_uc.LoginFailed as exc:
        msg = _(exc.detail or exc.title)
        return await page(request, "identity/login.html", {**ctx_vals, "errors": {field: msg}}, status=401)
    if step.second_factor_required:
        target = "/login/second-factor?" + urlencode({"next": nxt})
    elif level >= 2:
        target = "/account/second-factor?" + urlencode({"next": nxt, "required": "1"})
    else:
        target = nxt
    response = _redirect(target)
    set_session_cookie(request, response, step.token)
    return response


@router.get("/login/second-factor")
async def second_factor_form(request: Request, next: str | None = None) -> Response:
    ctx = identity_context(request)
    pending = await sessions.resolve(ctx, request.cookies.get(sessions.COOKIE), pending=True)
    if pending is None:
        return _redirect(_login_url(_safe_next(next)))
    return await page(request, "identity/second_factor.html", {"next": _safe_next(next), "errors": {}})


@router.post("/login/second-factor")
async def second_factor_submit(request: Request) -> Response:
    form = await _form(request)
    nxt = _safe_next(form.get("next"))
    # Authenticator apps show "123 456": the space is for reading, not part of the code.
    code = "".join((form.get("code") or "").split())
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        errors = {"code": _("Enter the 6-digit code from your authenticator app")}
        await login_uc.record_malformed(identity_context(request), ip=client_ip(request), what="code")
        return await page(request, "identity/second_factor.html", {"next": nxt, "errors": errors}, status=422)
    ctx = identity_context(request)
    try:
        token = await login_uc.second_factor_step(
            ctx,
            pending_token=request.cookies.get(sessions.COOKIE) or "",
            code=code,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
    except (login_uc.LoginFailed, TooManyRequests) as exc:
        status = 429 if isinstance(exc, TooManyRequests) else 401
        msg = _(exc.detail or exc.title, **exc.params)
        if exc.detail == "Your login has expired; please start again":
            return _redirect(_login_url(nxt))
        return await page(
            request, "identity/second_factor.html", {"next": nxt, "errors": {"code": msg}}, status=status
        )
    response = _redirect(nxt)
    set_session_cookie(request, response, token)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await sessions.revoke_token(identity_context(request), request.cookies.get(sessions.COOKIE))
    response = _redirect("/")
    clear_session_cookie(request, response)
    return response


# --- registration, activation, password reset ------------------------------------------------------


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None


@router.get("/register")
async def register_form(request: Request) -> Response:
    return await page(request, "identity/register.html", {"errors": {}, "values": {}})


@router.post("/register")
async def register_submit(request: Request) -> Response:
    """Whatever the registry holds (no such person, a match, an account already there), the answer is the
    same redirect to the activation page: only the form's own checks come back as field errors."""
    form = await _form(request)
    birth = _parse_date(form.get("birth_date"))
    errors: dict[str, str] = {}
    status = 422
    if birth is None:
        errors["birth_date"] = _("Enter a date as YYYY-MM-DD")
    if form.get("password") != form.get("password_confirm"):
        errors["password_confirm"] = _("The two passwords are not the same")
    if not errors and birth is not None:
        try:
            await service.register_citizen(
                identity_context(request),
                id_number=form.get("id_number", ""),
                full_name=form.get("full_name", ""),
                birth_date=birth,
                sex=form.get("sex", ""),
                password=form.get("password", ""),
                ip=client_ip(request),
            )
        except TooManyRequests as exc:
            errors, status = {"id_number": _(exc.detail or exc.title, **exc.params)}, 429
        except (ValidationFailed, DomainError) as exc:
            errors = field_errors(exc) or {"id_number": _(exc.detail or exc.title)}
    if errors:
        values = {k: v for k, v in form.items() if "password" not in k}
        resp = await page(
            request, "identity/register.html", {"errors": errors, "values": values}, status=status
        )
        if status == 429:
            resp.headers["Retry-After"] = "3600"
        return resp
    return _redirect("/activate?" + urlencode({"id_number": form.get("id_number", "").strip()}))


@router.get("/activate")
async def activate_form(request: Request, id_number: str = "") -> Response:
    return await page(request, "identity/activate.html", {"errors": {}, "values": {"id_number": id_number}})


@router.post("/activate")
async def activate_submit(request: Request) -> Response:
    form = await _form(request)
    try:
        await service.activate(
            identity_context(request),
            id_number=form.get("id_number", ""),
            code=form.get("code", ""),
            password=form.get("password", ""),
        )
    except ValidationFailed as exc:
        return await page(
            request,
            "identity/activate.html",
            {"errors": field_errors(exc), "values": {"id_number": form.get("id_number", "")}},
            status=422,
        )
    return _redirect("/login?" + urlencode({"activated": "1"}))


# --- in-person activation codes (one-stop shop) ----------------------------------------------------

IN_PERSON = "/can-bo/ma-kich-hoat"


@router.get(IN_PERSON)
async def in_person_form(request: Request) -> Response:
    login = await current_login(request)
    if login is None or login.principal.level < 2:
        return _redirect(_login_url(IN_PERSON, level=2))
    if not can(login.principal, "identity.activation_code.issue"):
        raise Forbidden()
    return await page(request, "identity/in_person_code.html", {"errors": {}, "values": {}, "issued": None})


@router.post(IN_PERSON)
async def in_person_submit(request: Request) -> Response:
    """The official has checked the identity card; the code is shown once, to be printed and handed over."""
    login = await current_login(request)
    if login is None or login.principal.level < 2:
        return _redirect(_login_url(IN_PERSON, level=2))
    if not can(login.principal, "identity.activation_code.issue"):
        raise Forbidden()  # before reading the form: who may not issue codes learns nothing from it
    form = await _form(request)
    values = {k: form.get(k, "") for k in ("id_number", "full_name", "birth_date", "sex")}
    birth = _parse_date(form.get("birth_date"))
    errors: dict[str, str] = {}
    issued = None
    if birth is None:
        errors["birth_date"] = _("Enter a date as YYYY-MM-DD")
    else:
        try:
            issued = await service.issue_in_person_code(
                identity_context(request),
                login.principal,
                id_number=values["id_number"],
                full_name=values["full_name"],
                birth_date=birth,
                sex=values["sex"],
            )
        except (ValidationFailed, Conflict) as exc:
            errors = field_errors(exc) or {"id_number": _(exc.detail or exc.title)}
    ctx = {"errors": errors, "values": values if errors else {}, "issued": issued, "person": values}
    return await page(request, "identity/in_person_code.html", ctx, status=422 if errors else 200)


@router.get("/password/forgot")
async def forgot_form(request: Request) -> Response:
    return await page(request, "identity/forgot.html", {"errors": {}, "values": {}, "sent": False})


@router.post("/password/forgot")
async def forgot_submit(request: Request) -> Response:
    form = await _form(request)
    id_number = form.get("id_number", "").strip()
    await service.request_password_reset(identity_context(request), id_number=id_number)
    return _redirect("/password/reset?" + urlencode({"id_number": id_number}))


@router.get("/password/reset")
async def reset_form(request: Request, id_number: str = "") -> Response:
    return await page(request, "identity/reset.html", {"errors": {}, "values": {"id_number": id_number}})


@router.post("/password/reset")
async def reset_submit(request: Request) -> Response:
    form = await _form(request)
    errors: dict[str, str] = {}
    if form.get("password") != form.get("password_confirm"):
        errors["password_confirm"] = _("The two passwords are not the same")
    else:
        try:
            await service.reset_password(
                identity_context(request),
                id_number=form.get("id_number", ""),
                code=form.get("code", ""),
                new_password=form.get("password", ""),
            )
        except ValidationFailed as exc:
            errors = field_errors(exc)
    if errors:
        return await page(
            request,
            "identity/reset.html",
            {"errors": errors, "values": {"id_number": form.get("id_number", "")}},
            status=422,
        )
    return _redirect("/login?" + urlencode({"reset": "1"}))


router.include_router(account_pages.router)
router.include_router(operator_pages.router)
router.include_router(operator_clients.router)
