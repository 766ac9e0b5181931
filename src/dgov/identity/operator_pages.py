"""Operator pages: officials and their roles (and, with the OIDC provider, relying-party clients).

Only operators logged in at level 2 pass `identity.official.manage`; the check is in the service layer,
these pages only choose what to show. Every change is a POST with the CSRF token. Destructive ones
(disable, revoke a role, reset the second factor) first answer with a confirmation screen and act only on
the second POST, which carries `confirm=yes`: a stray click changes nothing, with or without JavaScript.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.identity import officials as officials_uc
from dgov.identity import service
from dgov.identity.authz import can
from dgov.identity.deps import current_login, identity_context
from dgov.identity.models import Account, OfficialRole
from dgov.identity.roles import ROLES
from dgov.identity.sessions import Authenticated
from dgov.kernel.errors import Conflict, DomainError, Forbidden, NotFound
from dgov.kernel.i18n import gettext as _
from dgov.web.templating import page

router = APIRouter(include_in_schema=False)
TEMPLATE = "identity/operator_officials.html"
LIST = "/operator/officials"
# What the list says after a change (`?done=…&account=…`); the name shown is looked up, never taken
# from the address, so a crafted link cannot make the page announce something that did not happen.
DONE = frozenset({"disabled", "enabled", "role_revoked", "role_granted", "second_factor", "password"})


def _field_errors(exc: DomainError, default: str = "username") -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors:
        out.setdefault(str(e.loc[-1]), _(e.message, **e.params))
    return out or {default: _(exc.detail or exc.title)}


def _role_options() -> list[tuple[str, str]]:
    return [(code, _(name)) for code, name in ROLES.items()]


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("/login?" + urlencode({"next": request.url.path, "level": "2"}), status_code=303)


def _forbidden(level: int) -> DomainError:
    if level < 2:
        return Forbidden("Operators must log in with their second factor (level 2)")
    return Forbidden()


async def _operator(request: Request) -> Authenticated | RedirectResponse:
    """The operator's login, a redirect to log in, or Forbidden. Checked before anything about an official
    is shown (even a confirmation screen names them); the use cases check again before they act."""
    login = await current_login(request)
    if login is None:
        return _login_redirect(request)
    if not can(login.principal, "identity.official.manage"):
        raise _forbidden(login.principal.level)
    return login


def _account_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound("No such official") from None


async def _form(request: Request) -> dict[str, str]:
    return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}


def _done(what: str, account: Account) -> RedirectResponse:
    return RedirectResponse(
        f"{LIST}?" + urlencode({"done": what, "account": str(account.id)}), status_code=303
    )


async def _officials(request: Request) -> list[tuple[Account, list[OfficialRole]]]:
    ctx = identity_context(request)
    async with ctx.db.uow(readonly=True) as uow:
        accounts = list(
            await uow.session.scalars(
                select(Account)
                .where(Account.kind.in_(officials_uc.OFFICIAL_KINDS))
                .order_by(Account.username)
            )
        )
        roles = list(await uow.session.scalars(select(OfficialRole).order_by(OfficialRole.id)))
    by_account: dict[object, list[OfficialRole]] = {}
    for r in roles:
        by_account.setdefault(r.account_id, []).append(r)
    return [(a, by_account.get(a.id, [])) for a in accounts]


async def _official(request: Request, account_id: uuid.UUID) -> tuple[Account, list[OfficialRole]]:
    async with identity_context(request).db.uow(readonly=True) as uow:
        account = await uow.session.get(Account, account_id)
        if account is None or account.kind not in officials_uc.OFFICIAL_KINDS:
            raise NotFound("No such official")
        return account, await service.roles_of(uow, account_id)


async def _list(
    request: Request,
    login: Authenticated,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    rows = await _officials(request)
    notice = None
    done, named = request.query_params.get("done"), request.query_params.get("account")
    if done in DONE and status == 200:
        notice = next(((done, a) for a, _roles in rows if str(a.id) == named), None)
    return await page(
        request,
        TEMPLATE,
        {
            "view": "list",
            "officials": rows,
            "me": login.principal.account_id,
            "roles": ROLES,
            "role_options": _role_options(),
            "errors": errors or {},
            "values": values or {},
            "created": request.query_params.get("created") if status == 200 else None,
            "notice": notice,
            "problem": problem,
        },
        status=status,
    )


async def _refused(request: Request, login: Authenticated, exc: DomainError) -> Response:
    """A change the current state does not allow (the last operator, one's own account): the list again,
    with the reason at the top."""
    if not isinstance(exc, Conflict):
        raise exc
    return await _list(request, login, problem=_(exc.detail or exc.title), status=409)


async def _view(request: Request, view: str, status: int = 200, **context: Any) -> Response:
    return await page(request, TEMPLATE, {"view": view, "roles": ROLES, **context}, status=status)


# --- the list and adding an official ---------------------------------------------------------------


@router.get("/operator/officials")
async def officials(request: Request) -> Response:
    login = await _operator(request)
    if isinstance(login, RedirectResponse):
        return login
    return await _list(request, login)


@router.post("/operator/officials")
async def create_official(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return _login_redirect(request)
    form = await _form(request)
    try:
        account = await service.add_official(
            identity_context(request),
            login.principal,
            username=form.get("username", ""),
            full_name=form.get("full_name") or None,
            agency=form.get("agency", ""),
            role=form.get("role", ""),
            unit=form.get("unit", ""),
            password=form.get("password", ""),
        )
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        values = {k: v for k, v in form.items() if k != "password"}
        return await _list(request, login, errors=_field_errors(exc), values=values, status=422)
    return RedirectResponse(f"{LIST}?" + urlencode({"created": account.username or ""}), status_code=303)


# --- disabling and enabling an account -------------------------------------------------------------


@router.post("/operator/officials/{account_id}/disable")
async def disable(account_id: str, request: Request) -> Response:
    login = await _operator(request)
    if isinstance(login, RedirectResponse):
        return login
    account, _roles = await _official(request, _account_id(account_id))
    if (await _form(request)).get("confirm") != "yes":
        return await _view(request, "confirm_disable", account=account)
    try:
        await officials_uc.disable_official(identity_context(request), login.principal, account_id=account.id)
    except DomainError as exc:
        return await _refused(request, login, exc)
    return _done("disabled", account)


@router.post("/operator/officials/{account_id}/enable")
async def enable(account_id: str, request: Request) -> Response:
    login = await _operator(request)
    if isinstance(login, RedirectResponse):
        return login
    account = await officials_uc.enable_official(
        identity_context(request), login.principal, account_id=_account_id(account_id)
    )
    return _done("enabled", account)


# --- roles -----------------------------------------------------------------------------------------


@router.post("/operator/officials/roles/{role_id}/revoke")
async def revoke_role(role_id: str, request: Request) -> Response:
    login = await _operator(request)
    if isinstance(login, RedirectResponse):
        return login
    async with identity_context(request).db.uow(readonly=True) as uow:
        # A number beyond the column's range would be a database error, not "no such grant".
        wellformed = role_id.isascii() and role_id.isdigit() and len(role_id) <= 9
        grant = await uow.session.get(OfficialRole, int(role_id)) if wellformed else None
    if grant is None:
        raise NotFound("No such role grant")
    account, _roles = await _official(request, grant.account_id)
    if (await _form(request)).get("confirm") != "yes":
        return await _view(request, "confirm_revoke", account=account, grant=grant)
    try:
        await officials_uc.revoke_role(identity_context(request), login.principal, role_id=grant.id)
    except DomainError as exc:
        return await _refused(request, login, exc)
    return _done("role_revoked", account)


@router.get("/operator/officials/{account_id}/roles")
async def grant_form(account_id: str, request: Request) -> Response:
    login = await _operator(request)
    if isinstance(login, RedirectResponse):
        return login
    account, grants = await _official(request, _account_id(account_id))
    return await _view(
        request, "grant", account=account, grants=grants, role_options=_role_options(), errors={}, values={}
    )


@router.post("/operator/officials/{account_id}/roles")
async def grant(account_id: str, request: Request) -> Response:
    login = await _operator(request)
    if isinstance(login, RedirectResponse):
        return login
    account, grants = await _official(request, _account_id(account_id))
    form = await _form(request)
    try:
        await service.grant_role(
            identity_context(request),
            login.principal,
            account_id=account.id,
            agency=form.get("agency", ""),
            role=form.get("role", ""),
            unit=form.get("unit", ""),
        )
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await _view(
            request,
            "grant",
            status=422,
            account=account,
            grants=grants,
            role_options=_role_options(),
            errors=_field_errors(exc, "role"),
            values=form,
        )
    return _done("role_granted", account)


# --- the second factor and the password ------------------------------------------------------------


@router.post("/operator/officials/{account_id}/second-factor/reset")
async def reset_second_factor(account_id: str, request: Request) -> Response:
    login = await _operator(request)
    if isinstance(login, RedirectResponse):
        return login
    account, _roles = await _official(request, _account_id(account_id))
    if (await _form(request)).get("confirm") != "yes":
        return await _view(request, "confirm_second_factor", account=account)
    try:
        await officials_uc.reset_second_factor(
            identity_context(request), login.principal, account_id=account.id
        )
    except DomainError as exc:
        return await _refused(request, login, exc)
    return _done("second_factor", account)


@router.get("/operator/officials/{account_id}/password")
async def password_form(account_id: str, request: Request) -> Response:
    login = await _operator(request)
    if isinstance(login, RedirectResponse):
        return login
    account, _roles = await _official(request, _account_id(account_id))
    return await _view(request, "password", account=account, errors={})


@router.post("/operator/officials/{account_id}/password")
async def reset_password(account_id: str, request: Request) -> Response:
    login = await _operator(request)
    if isinstance(login, RedirectResponse):
        return login
    account, _roles = await _official(request, _account_id(account_id))
    form = await _form(request)
    try:
        await officials_uc.reset_official_password(
            identity_context(request),
            login.principal,
            account_id=account.id,
            password=form.get("password", ""),
        )
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        # The typed password is never sent back, not even with its errors.
        return await _view(
            request, "password", status=422, account=account, errors=_field_errors(exc, "password")
        )
    return _done("password", account)
