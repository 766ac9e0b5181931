"""Errors → RFC 9457 problem details on the API, translated pages for people.

A request gets JSON when it is for an API path or prefers JSON over HTML; otherwise a page.
Every 4xx/5xx goes through here, unknown routes and CSRF failures included.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dgov.kernel.errors import DomainError, FieldError
from dgov.kernel.i18n import gettext as _
from dgov.web.middleware import is_api_path, set_security_headers
from dgov.web.templating import render

log = logging.getLogger("dgov.errors")

PROBLEM = "application/problem+json"

# PostgreSQL SQLSTATEs that mean "not now": read-only (a standby, or set so by an operator), disk full,
# out of memory, too many connections, shutting down, cannot connect now. Class 08 (connection) too.
_UNAVAILABLE_SQLSTATES = frozenset({"25006", "53100", "53200", "53300", "57P01", "57P02", "57P03"})


def database_unavailable_error(exc: BaseException) -> bool:
    """A database error that means "not now" rather than "this request is wrong": the disk is full, the
    file or server is read-only, the server went away or is restarting, the pool could not connect."""
    if not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        return True
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    return sqlstate in _UNAVAILABLE_SQLSTATES or sqlstate.startswith("08")


# Titles for plain HTTP statuses (msgids; translated at response time).
HTTP_TITLES = {
    400: "The request cannot be processed",
    401: "You need to log in",
    403: "You are not allowed to do this",
    404: "Not found",
    405: "This method is not allowed here",
    408: "The request took too long to arrive",
    409: "The request conflicts with the current state",
    413: "The upload is too large",
    415: "This type of content is not accepted",
    422: "Some fields are not valid",
    429: "Too many attempts; please wait and try again",
    500: "Something went wrong on our side",
    503: "The service is temporarily unavailable",
}

# Problem types for plain HTTP statuses, so clients can branch on `code` whatever raised the error.
HTTP_CODES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "validation-failed",
    429: "too-many-requests",
    500: "internal-error",
    503: "service-unavailable",
}


def wants_json(request: Request) -> bool:
    if is_api_path(request.url.path):
        return True
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept


def problem(
    request: Request,
    *,
    status: int,
    title: str,
    detail: str | None = None,
    code: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    if wants_json(request):
        body: dict[str, Any] = {
            "type": f"/problems/{code}" if code else "about:blank",
            "title": title,
            "status": status,
            "instance": request.url.path,
        }
        if detail:
            body["detail"] = detail
        if code:
            body["code"] = code
        if errors:
            body["errors"] = errors
        return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)
    response = render(
        request,
        "error.html",
        {"status": status, "title": title, "detail": detail, "errors": errors or []},
        status=status,
    )
    if headers:
        response.headers.update(headers)
    return response


def _field_errors(errors: list[FieldError]) -> list[dict[str, Any]]:
    return [{"loc": list(e.loc), "message": _(e.message, **e.params)} for e in errors]


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    detail = _(exc.detail, **exc.params) if exc.detail else None
    return problem(
        request,
        status=exc.status,
        title=_(exc.title),
        detail=detail,
        code=exc.code,
        errors=_field_errors(exc.errors) or None,
        # A throttled or busy answer says when to come back (RFC 9110 Retry-After, in seconds).
        headers={"Retry-After": str(exc.extra["retry_after"])} if "retry_after" in exc.extra else None,
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    title = _(HTTP_TITLES.get(exc.status_code, "The request cannot be processed"))
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail not in HTTP_TITLES.values() else None
    if detail and detail in {"Not Found", "Method Not Allowed"}:
        detail = None
    return problem(
        request,
        status=exc.status_code,
        title=title,
        detail=detail,
        code=HTTP_CODES.get(exc.status_code),
        headers=exc.headers,
    )


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "message": _(_pydantic_msgid(e)), "type": e.get("type")}
        for e in exc.errors()
    ]
    return problem(
        request, status=422, title=_("Some fields are not valid"), code="validation-failed", errors=errors
    )


def _pydantic_msgid(error: Any) -> str:
    kind = error.get("type", "")
    return {
        "missing": "This field is required",
        "string_too_short": "This value is too short",
        "string_too_long": "This value is too long",
        "int_parsing": "Enter a whole number",
        "date_from_datetime_parsing": "Enter a date as YYYY-MM-DD",
        "date_parsing": "Enter a date as YYYY-MM-DD",
        "string_pattern_mismatch": "This value is not in the expected format",
        "json_invalid": "The body is not valid JSON",
    }.get(kind, "This value is not valid")


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    response = problem(request, status=500, code=HTTP_CODES[500], title=_("Something went wrong on our side"))
    # ServerErrorMiddleware sits outside our middleware, so the security headers are set here too.
    https = bool(request.app.state.settings.https) or request.url.scheme == "https"
    set_security_headers(response.headers, https=https)
    return response


# How long a client should wait before retrying after the database failed (a restart, a failover, an
# operator freeing disk space): long enough not to hammer it, short enough for people.
RETRY_AFTER_SECONDS = 5


async def database_error(request: Request, exc: Exception) -> Response:
    if database_unavailable_error(exc):
        return await database_unavailable(request, exc)
    log.exception("database error", exc_info=exc)
    return problem(request, status=500, code=HTTP_CODES[500], title=_("Something went wrong on our side"))


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """The database refused to work (disk full, read-only, connection lost, server restarting): 503
    with Retry-After, so a client knows nothing happened and may try again — not a 500 that leaves it
    guessing. Handled by Starlette's ExceptionMiddleware, so the connection stays open (a handler for
    `Exception` runs in ServerErrorMiddleware, which re-raises and makes uvicorn drop the connection)."""
    log.error("database unavailable", extra={"error": type(exc).__name__, "path": request.url.path})
    return problem(
        request,
        status=503,
        code="database-unavailable",
        title=_("The service is temporarily unavailable"),
        detail=_(
            "The database cannot take requests right now. Nothing was changed; please try again shortly."
        ),
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def limit_problem(request: Request, status: int, title: str, detail: str) -> Response:
    return problem(
        request, status=status, code=HTTP_CODES.get(status, "request-too-large"), title=title, detail=detail
    )


class UnhandledErrorMiddleware:
    """The last net for an error no handler knew: a 500 problem, and the connection kept usable.

    Starlette hands an unknown exception to ServerErrorMiddleware, which answers and then re-raises it
    to the server; uvicorn then closes the keep-alive connection, so a client's next request fails with
    no answer and a POST's outcome is unknowable. Answering here, inside the app, ends the matter."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # the app's outermost boundary: every error becomes an answer
            if started:
                raise  # half a response is out: only closing the connection tells the client
            request = Request(scope)
            handler = database_error if isinstance(exc, DBAPIError) else server_error
            response = await handler(request, exc)
            await response(scope, receive, send)


async def csrf_failed(scope: Scope, send: Send, reason: Any) -> None:
    request = Request(scope)
    # The access log sits inside the CSRF check and never sees this request: record the refusal here.
    why = getattr(reason, "name", str(reason))
    log.warning("csrf rejected", extra={"method": scope["method"], "path": scope["path"], "reason": why})
    response = problem(
        request,
        status=403,
        code="csrf-failed",
        title=_("Your form has expired"),
        detail=_("Please go back, reload the page and submit the form again."),
    )
    await response(scope, _no_receive, send)


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(DBAPIError, database_error)
    # Kept for errors raised outside UnhandledErrorMiddleware (in the outer middleware themselves).
    app.add_exception_handler(Exception, server_error)
