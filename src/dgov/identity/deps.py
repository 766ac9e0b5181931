"""Web-side glue for identity: the context per process, the current session and principal per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from dgov.identity import sessions
from dgov.identity.authz import ANONYMOUS, Principal
from dgov.identity.context import IdentityContext, node_context
from dgov.identity.sessions import Authenticated
from dgov.web.deps import get_runtime


def identity_context(request: Request) -> IdentityContext:
    rt = get_runtime(request)
    ctx = rt.extras.get("identity")
    if ctx is None:
        ctx = rt.extras["identity"] = node_context(rt.db, secret=rt.secret, issuer=rt.settings.issuer)
    assert isinstance(ctx, IdentityContext)
    return ctx


async def current_login(request: Request) -> Authenticated | None:
    """The completed login behind the session cookie, resolved once per request."""
    if "dgov_login" not in request.state._state:
        ctx = identity_context(request)
        request.state.dgov_login = await sessions.resolve(ctx, request.cookies.get(sessions.COOKIE))
    login: Authenticated | None = request.state.dgov_login
    return login


async def current_principal(request: Request) -> Principal:
    login = await current_login(request)
    return login.principal if login else ANONYMOUS


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        sessions.COOKIE,
        token,
        httponly=True,
        samesite="lax",
        path="/",
        secure=request.app.state.settings.https,
        max_age=None,
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        sessions.COOKIE, path="/", secure=request.app.state.settings.https, httponly=True, samesite="lax"
    )


ContextDep = Annotated[IdentityContext, Depends(identity_context)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
LoginDep = Annotated[Authenticated | None, Depends(current_login)]
