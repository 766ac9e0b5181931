"""Operator pages: officials and their roles (and, with the OIDC provider, relying-party clients).

Only operators logged in at level 2 pass `identity.official.manage`; the check is in the service layer,
these pages only choose what to show.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.identity import service
from dgov.identity.authz import can
from dgov.identity.deps import current_login, identity_context
from dgov.identity.models import Account, OfficialRole
from dgov.identity.roles import ROLES
from dgov.kernel.errors import DomainError
from dgov.kernel.i18n import gettext as _
from dgov.web.templating import page

router = APIRouter(include_in_schema=False)


def _field_errors(exc: DomainError) -> dict[str, str]:
    out = {str(e.loc[-1]): _(e.message, **e.params) for e in exc.errors}
    return out or {"username": _(exc.detail or exc.title)}


def _role_options() -> list[tuple[str, str]]:
    return [(code, _(name)) for code, name in ROLES.items()]


async def _officials(request: Request) -> list[tuple[Account, list[OfficialRole]]]:
    ctx = identity_context(request)
    async with ctx.db.uow(readonly=True) as uow:
        accounts = list(
            await uow.session.scalars(
                select(Account).where(Account.kind.in_(("official", "operator"))).order_by(Account.username)
            )
        )
        roles = list(await uow.session.scalars(select(OfficialRole)))
    by_account: dict[object, list[OfficialRole]] = {}
    for r in roles:
        by_account.setdefault(r.account_id, []).append(r)
    return [(a, by_account.get(a.id, [])) for a in accounts]


@router.get("/operator/officials")
async def officials(request: Request, created: str | None = None) -> Response:
    login = await current_login(request)
    if login is None:
        return RedirectResponse(
            "/login?" + urlencode({"next": request.url.path, "level": "2"}), status_code=303
        )
    if not can(login.principal, "identity.official.manage"):
        raise _forbidden(login.principal.level)
    return await page(
        request,
        "identity/operator_officials.html",
        {
            "officials": await _officials(request),
            "roles": ROLES,
            "role_options": _role_options(),
            "errors": {},
            "values": {},
            "created": created,
        },
    )


def _forbidden(level: int) -> DomainError:
    from dgov.kernel.errors import Forbidden

    if level < 2:
        return Forbidden("Operators must log in with their second factor (level 2)")
    return Forbidden()


@router.post("/operator/officials")
async def create_official(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return RedirectResponse(
            "/login?" + urlencode({"next": request.url.path, "level": "2"}), status_code=303
        )
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
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
        return await page(
            request,
            "identity/operator_officials.html",
            {
                "officials": await _officials(request),
                "roles": ROLES,
                "role_options": _role_options(),
                "errors": _field_errors(exc),
                "values": values,
                "created": None,
            },
            status=422,
        )
    return RedirectResponse(
        "/operator/officials?" + urlencode({"created": account.username or ""}), status_code=303
    )
