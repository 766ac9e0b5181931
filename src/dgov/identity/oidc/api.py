"""The OpenID Connect provider's routes: discovery, JWKS, authorisation (with consent), token,
userinfo, revocation and RP-initiated logout.

Each route reads the request (async), then runs Authlib inside one unit of work (storage.run) and turns
the outcome into a response. Token, revocation and userinfo answer in the OAuth/OIDC JSON formats;
people get pages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.errors import InsecureTransportError, OAuth2Error
from fastapi import APIRouter
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, RedirectResponse, Response

from dgov.identity.clients import registered_scopes
from dgov.identity.context import IdentityContext
from dgov.identity.deps import clear_session_cookie, client_ip, current_login, identity_context
from dgov.identity.oidc import keys
from dgov.identity.oidc.authorize import Outcome, authorize
from dgov.identity.oidc.claims import pairwise_sub
from dgov.identity.oidc.server import OIDCServer, Request, discovery
from dgov.identity.oidc.storage import Store, run
from dgov.kernel.i18n import gettext as _
from dgov.web.deps import get_runtime
from dgov.web.errors import problem
from dgov.web.middleware import CSP
from dgov.web.templating import add_template_package, page

router = APIRouter(include_in_schema=False)
add_template_package("dgov.identity")

PUBLIC_CACHE = {"Cache-Control": "public, max-age=300"}
REALM = "dgov"


def oidc_server(request: StarletteRequest) -> OIDCServer:
    """One server per process (it holds configuration only; per-request state lives in the store)."""
    ctx = identity_context(request)
    extras = get_runtime(request).extras
    server = extras.get("identity.oidc")
    if not isinstance(server, OIDCServer) or server.ctx is not ctx:
        server = extras["identity.oidc"] = OIDCServer(ctx)
    return server


async def _params(request: StarletteRequest, source: str) -> dict[str, list[str]]:
    multi: dict[str, list[str]] = {}
    if source == "form":
        form = await request.form()
        pairs: list[tuple[str, Any]] = list(form.multi_items())
    else:
        pairs = list(request.query_params.multi_items())
    for key, value in pairs:
        if isinstance(value, str):
            multi.setdefault(key, []).append(value)
    return multi


def _oauth_request(request: StarletteRequest, ctx: IdentityContext, params: dict[str, list[str]]) -> Request:
    query = f"?{request.url.query}" if request.url.query else ""
    return Request(request.method, f"{ctx.issuer}{request.url.path}{query}", request.headers, params)


def _insecure(request: StarletteRequest) -> Response:
    return problem(
        request,
        status=400,
        code="oauth-needs-https",
        title=_("The request cannot be processed"),
        detail=_("This sign-in service must be reached over HTTPS."),
    )


# --- discovery and keys -----------------------------------------------------------------------------


@router.get("/.well-known/openid-configuration")
async def openid_configuration(request: StarletteRequest) -> Response:
    ctx = identity_context(request)
    return JSONResponse(discovery(ctx.issuer, await registered_scopes(ctx)), headers=PUBLIC_CACHE)


@router.get("/oauth/jwks")
async def jwks(request: StarletteRequest) -> Response:
    doc = await keys.published_jwks(identity_context(request))
    return JSONResponse(doc, headers=PUBLIC_CACHE, media_type="application/jwk-set+json")


# --- authorisation ----------------------------------------------------------------------------------


@router.api_route("/oauth/authorize", methods=["GET", "POST"])
async def authorize_endpoint(request: StarletteRequest) -> Response:
    ctx = identity_context(request)
    server = oidc_server(request)
    login = await current_login(request)
    decision: str | None = None
    if request.method == "POST":
        form = await request.form()
        decision = "approve" if "approve" in form else "deny"
    try:
        oreq = _oauth_request(request, ctx, await _params(request, "query"))
    except InsecureTransportError:
        return _insecure(request)
    outcome: Outcome = await run(
        ctx, "authorize", lambda _s: authorize(server, oreq, decision), ip=client_ip(request), login=login
    )
    if outcome.response is not None:
        return await _leave_site(request, outcome.response)
    if outcome.login_url is not None:
        response: Response = RedirectResponse(outcome.login_url, status_code=303)
        if outcome.end_session:
            clear_session_cookie(request, response)
        return response
    if outcome.error is not None:
        title, detail = outcome.error
        return problem(request, status=400, code="oauth-request-refused", title=_(title), detail=_(detail))
    # Translated here, in the request's context (the store's greenlet does not see the locale).
    lines = [
        (_(line.label, **dict(line.params)), _(line.value) if line.value_msgid else line.value)
        for line in outcome.consent["lines"]
    ]
    response = await page(request, "identity/consent.html", {**outcome.consent, "lines": lines})
    response.headers["Cache-Control"] = "no-store"
    # A form's redirect is checked against form-action too: approving leads on to the client's address.
    response.headers["Content-Security-Policy"] = CSP.replace(
        "form-action 'self'", f"form-action 'self' {outcome.consent['redirect_origin']}"
    )
    return response


async def _leave_site(request: StarletteRequest, response: Response) -> Response:
    """Hand the browser back to the client. Browsers check a form's whole redirect chain against the
    form page's CSP form-action: after our own login form (POST /login → /oauth/authorize → client),
    a plain redirect to the client would be blocked. A page that navigates on its own starts a new
    navigation instead. Only same-origin navigations need it; a client's own link gets the redirect."""
    location = response.headers.get("location")
    if (
        request.method != "GET"
        or location is None
        or request.headers.get("sec-fetch-site") != "same-origin"
        or request.headers.get("sec-fetch-mode", "navigate") != "navigate"
    ):
        return response
    page_response = await page(request, "identity/oidc_continue.html", {"target": location})
    page_response.headers["Cache-Control"] = "no-store"  # the page carries the code
    return page_response


# --- token, revocation, userinfo ----------------------------------------------------------------


async def _endpoint(request: StarletteRequest, endpoint: str, source: str) -> Response:
    ctx = identity_context(request)
    server = oidc_server(request)
    try:
        oreq = _oauth_request(request, ctx, await _params(request, source))
    except InsecureTransportError:
        return JSONResponse({"error": "invalid_request", "error_description": "HTTPS is required"}, 400)

    def call(s: Store) -> Response:
        s.request = oreq
        if endpoint == "token":
            response: Response = server.create_token_response(oreq)
        else:
            response = server.create_endpoint_response(endpoint, oreq)
        return response

    return await run(ctx, endpoint, call, ip=client_ip(request))


@router.post("/oauth/token")
async def token_endpoint(request: StarletteRequest) -> Response:
    return await _endpoint(request, "token", "form")


@router.post("/oauth/revoke")
async def revoke_endpoint(request: StarletteRequest) -> Response:
    return await _endpoint(request, "revocation", "form")


@router.api_route("/oauth/userinfo", methods=["GET", "POST"])
async def userinfo_endpoint(request: StarletteRequest) -> Response:
    """OIDC Core §5.3.1: the client MUST be able to use GET or POST (the token in the header)."""
    response = await _endpoint(request, "userinfo", "form" if request.method == "POST" else "query")
    return bearer_challenge(response)


def bearer_challenge(response: Response) -> Response:
    """RFC 6750 §3: a request without any token gets a challenge with no error code (Authlib names the
    unregistered `missing_authorization`), and every challenge names the realm."""
    challenge = response.headers.get("www-authenticate")
    if challenge is None:
        if response.status_code == 403:  # Authlib sends insufficient_scope without its challenge
            response.headers["WWW-Authenticate"] = (
                f'Bearer realm="{REALM}", error="insufficient_scope", scope="openid"'
            )
        return response
    if 'error="missing_authorization"' in challenge:
        return Response(
            status_code=401,
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"', "Cache-Control": "no-store"},
        )
    if "realm=" not in challenge and challenge.startswith("Bearer"):
        response.headers["WWW-Authenticate"] = challenge.replace("Bearer", f'Bearer realm="{REALM}",', 1)
    return response


# --- RP-initiated logout ----------------------------------------------------------------------------


@router.api_route("/oauth/logout", methods=["GET", "POST"])
async def logout_endpoint(request: StarletteRequest) -> Response:
    """RP-Initiated Logout §2: the relying party sends the person here with GET or POST (a form on the
    RP's own site, so no CSRF token of ours: the path is exempt, and a POST here never counts as the
    person's own confirmation — that is `/oauth/logout/confirm`, which is CSRF-protected)."""
    source = "form" if request.method == "POST" else "query"
    return await _logout(request, await _params(request, source), confirmed=False)


@router.post("/oauth/logout/confirm")
async def logout_confirm_endpoint(request: StarletteRequest) -> Response:
    confirmed = "logout" in await request.form()
    return await _logout(request, await _params(request, "query"), confirmed=confirmed)


async def _logout(request: StarletteRequest, params: dict[str, list[str]], *, confirmed: bool) -> Response:
    ctx = identity_context(request)
    server = oidc_server(request)
    login = await current_login(request)
    try:
        oreq = _oauth_request(request, ctx, params)
    except InsecureTransportError:
        return _insecure(request)

    def call(s: Store) -> tuple[str, Response | None]:
        nonlocal oreq
        s.request = oreq
        try:
            req = server.validate_endpoint_request("end_session", oreq)
        except OAuth2Error as error:
            # A hint we did not issue (or cannot read): never redirect, but still offer to log out.
            server.audit_failure(oreq, error)
            oreq = Request(
                oreq.method,
                oreq.uri,
                oreq.headers,
                {k: v for k, v in params.items() if k in ("state", "ui_locales")},
            )
            s.request = oreq
            req = server.validate_endpoint_request("end_session", oreq)
        claims = req.id_token_claims
        hint_is_this_person = bool(
            claims
            and login is not None
            and req.client is not None
            and claims.get("sub") == pairwise_sub(ctx.secret, req.client.row.sector, login.account.id)
        )
        if login is not None and not hint_is_this_person and not confirmed:
            return "confirm", None
        return "done", server.create_endpoint_response("end_session", req)

    step, response = await run(ctx, "logout", call, ip=client_ip(request), login=login)
    if step == "confirm":
        query = urlencode([(k, v) for k, vs in params.items() for v in vs])
        page_response = await page(
            request,
            "identity/oidc_logout.html",
            {"confirm": True, "action": f"/oauth/logout/confirm?{query}"},
        )
        page_response.headers["Cache-Control"] = "no-store"
        return page_response
    request.state.dgov_login = None  # the session just ended: the page must not show it as logged in
    if response is None:
        response = await page(request, "identity/oidc_logout.html", {"confirm": False})
    clear_session_cookie(request, response)
    return response
