"""Operator pages for OAuth/OIDC clients: list, register (the secret is shown once), disable."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.identity import clients
from dgov.identity.deps import current_login, identity_context
from dgov.identity.oidc.claims import USER_SCOPES
from dgov.kernel.errors import DomainError, Forbidden
from dgov.kernel.i18n import gettext as _
from dgov.web.templating import page

router = APIRouter(include_in_schema=False)
SCOPES = ("openid", "profile", "email", "phone", "vn_id_number", "offline_access")
FIELD_ORDER = ["client_id", "name", "redirect_uris", "scopes", "grant_types", "post_logout_redirect_uris"]


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("/login?" + urlencode({"next": request.url.path, "level": "2"}), status_code=303)


async def _render(
    request: Request,
    *,
    errors: dict[str, str],
    values: dict[str, object],
    created: object = None,
    status: int = 200,
) -> Response:
    login = await current_login(request)
    assert login is not None
    try:
        rows = await clients.list_clients(identity_context(request), login.principal)
    except Forbidden:
        if login.principal.level < 2:
            raise Forbidden("Operators must log in with their second factor (level 2)") from None
        raise
    return await page(
        request,
        "identity/operator_clients.html",
        {
            "clients": rows,
            "errors": errors,
            "values": values,
            "created": created,
            "scopes": SCOPES,
            "user_scopes": USER_SCOPES,
            "order": FIELD_ORDER,
        },
        status=status,
    )


@router.get("/operator/clients")
async def list_page(request: Request) -> Response:
    if await current_login(request) is None:
        return _login_redirect(request)
    return await _render(
        request, errors={}, values={"scopes": ["openid", "profile"], "grant_types": ["authorization_code"]}
    )


@router.post("/operator/clients")
async def create(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return _login_redirect(request)
    form = await request.form()
    text = {k: v for k, v in form.items() if isinstance(v, str)}
    scopes = [str(v) for v in form.getlist("scopes")]
    grants = [str(v) for v in form.getlist("grant_types")] or ["authorization_code"]
    redirects = [u.strip() for u in text.get("redirect_uris", "").splitlines() if u.strip()]
    logouts = [u.strip() for u in text.get("post_logout_redirect_uris", "").splitlines() if u.strip()]
    values: dict[str, object] = {**text, "scopes": scopes, "grant_types": grants}
    try:
        created = await clients.add_client(
            identity_context(request),
            login.principal,
            client_id=text.get("client_id") or None,
            name=text.get("name", ""),
            scopes=scopes,
            redirect_uris=redirects,
            grant_types=grants,
            public=text.get("public") == "1",
            post_logout_redirect_uris=logouts,
        )
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        errors = {str(e.loc[-1]): _(e.message, **e.params) for e in exc.errors} or {
            "client_id": _(exc.detail or exc.title)
        }
        return await _render(request, errors=errors, values=values, status=422)
    # The secret is shown on this response only (never stored in clear, never in a URL).
    return await _render(
        request,
        errors={},
        values={"scopes": ["openid", "profile"], "grant_types": ["authorization_code"]},
        created=created,
    )


@router.post("/operator/clients/{client_id}/disable")
async def disable(client_id: str, request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return _login_redirect(request)
    await clients.disable_client(identity_context(request), login.principal, client_id)
    return RedirectResponse("/operator/clients", status_code=303)
