"""Cross-cutting HTTP concerns: locale, security headers, CSRF, request ids, access logs and metrics.

Pure ASGI middleware (no BaseHTTPMiddleware) so streaming responses and background tasks behave.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

import asgi_csrf as asgi_csrf_module
from asgi_csrf import asgi_csrf
from prometheus_client import Counter, Histogram
from python_multipart import FormParser
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dgov.kernel import i18n

log = logging.getLogger("dgov.http")

LANG_COOKIE = "dgov_lang"
# identity.sessions.COOKIE, named here so the web layer's middleware imports no domain.
SESSION_COOKIE = "dgov_session"

# Machine-to-machine paths: they authenticate with tokens or signatures, not cookies, so CSRF
# (a cookie-riding attack) does not apply; every other unsafe request must carry the token.
API_PREFIXES = (
    "/api/",
    "/data/",
    "/r1/",
    "/pki/",
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/userinfo",
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


# Pages a relying party's own form may POST to (OIDC RP-Initiated Logout §2): no CSRF token of ours can
# be in that form. The handler never acts on such a POST without the person's confirmation, which goes to
# a CSRF-protected path.
CSRF_EXEMPT_PAGES = frozenset({"/oauth/logout"})

# Read by probes and scrapers, never by a person: they get JSON errors and no CSRF check (GET only anyway).
MACHINE_PATHS = frozenset({"/openapi.json", "/healthz", "/readyz", "/metrics"})


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in MACHINE_PATHS


class LocaleMiddleware:
    """Vietnamese unless the person chose English (cookie) or, for API clients, asked for it."""

    def __init__(self, app: ASGIApp, default: str = i18n.DEFAULT) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cookie = SimpleCookie(headers.get("cookie", ""))
        chosen = cookie[LANG_COOKIE].value if LANG_COOKIE in cookie else None
        if chosen not in i18n.SUPPORTED:
            chosen = (
                i18n.negotiate(headers.get("accept-language"), self.default)
                if is_api_path(scope["path"])
                else self.default
            )
        token = i18n.current_locale.set(chosen)
        scope.setdefault("state", {})["locale"] = chosen
        try:
            await self.app(scope, receive, send)
        finally:
            i18n.current_locale.reset(token)


def set_security_headers(headers: MutableHeaders, *, https: bool) -> None:
    """Shared with the 500 handler, whose response is sent from outside every middleware of ours."""
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if https:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                https = self.https or scope.get("scheme") == "https"
                set_security_headers(MutableHeaders(scope=message), https=https)
            await send(message)

        await self.app(scope, receive, send_with_headers)


REQUESTS = Counter("dgov_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "dgov_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class ObservabilityMiddleware:
    """Request id, one JSON access-log line per request, Prometheus counters by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        given = Headers(scope=scope).get("x-request-id", "")
        # A caller's id is kept for tracing across services, but only if it is short and plain: it is
        # echoed in a header and written to every log line of the request.
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_wrapped)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round(elapsed * 1000, 2),
                    "request_id": request_id,
                },
            )


class _ProtectUnlessApi:
    """asgi-csrf only protects cookie-less requests to paths "in" this set: we protect all but APIs,
    so a login form posted before any cookie exists is still checked (login CSRF)."""

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and not is_api_path(path)


class _MultipartCompat(FormParser):
    """asgi-csrf 0.11 builds its multipart parser with arguments python-multipart 0.0.2x no longer takes
    (`FileClass`, a no-argument `on_file`), so every multipart form failed with a server error. It looks
    only for the csrftoken field, which must come first; file parts are never read before it."""

    def __init__(self, content_type: str, on_field: Any, _on_file: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("FileClass", None)
        super().__init__(content_type, on_field, lambda *_: None, *args, **kwargs)


asgi_csrf_module.FormParser = _MultipartCompat


class CSRFMiddleware:
    """Double-submit CSRF tokens (asgi-csrf) on every unsafe request except machine-to-machine APIs.

    asgi-csrf copies the scope it passes on, so middleware that reads what routing wrote into the
    scope (the route template for metrics) must sit inside this one.
    """

    def __init__(
        self, app: ASGIApp, *, secret: str, https: bool, on_failure: Callable[[Scope, Send, Any], Any]
    ) -> None:
        self.app = asgi_csrf(
            _restore_authorization(app),
            signing_secret=secret,
            always_protect=_ProtectUnlessApi(),
            skip_if_scope=lambda scope: is_api_path(scope["path"]) or scope["path"] in CSRF_EXEMPT_PAGES,
            cookie_secure=https,
            cookie_samesite="Lax",
            send_csrf_failed=on_failure,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # asgi-csrf waves through any request with `Authorization: Bearer …`. A page that reads the session
        # cookie would then act on a cross-site form that merely adds a bogus bearer header, so while the
        # session cookie rides along the header is hidden from the check and handed back afterwards.
        if scope["type"] == "http" and not is_api_path(scope["path"]):
            headers = scope.get("headers") or []
            auth = [v for k, v in headers if k == b"authorization"]
            if auth and SESSION_COOKIE in SimpleCookie(Headers(scope=scope).get("cookie", "")):
                hidden = [(k, v) for k, v in headers if k != b"authorization"]
                scope = {**scope, "headers": hidden, _HIDDEN_AUTH: auth}
        await self.app(scope, receive, send)


_HIDDEN_AUTH = "dgov.csrf.hidden_authorization"


def _restore_authorization(app: ASGIApp) -> ASGIApp:
    """Inside the CSRF check: put back the Authorization header hidden from it (see CSRFMiddleware)."""

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        auth = scope.get(_HIDDEN_AUTH)
        if auth:
            scope = {**scope, "headers": [*scope["headers"], *((b"authorization", v) for v in auth)]}
            del scope[_HIDDEN_AUTH]
        await app(scope, receive, send)

    return inner
