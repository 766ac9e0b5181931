"""What one request may cost the server before a handler sees it: body size and body time.

Starlette buffers a JSON or form body whole before validation, so without a limit a 50 MB body costs
50 MB of memory per request before its 422 (issue 13 E). The limit is checked twice: the declared
`Content-Length` (refused before a byte is read) and the bytes actually received (a chunked body has no
length). Multipart forms carry uploads and get the larger limit; every other body the small one.
A client that stops sending mid-body holds a worker's memory and a connection: the body has a deadline.

Both answers are problem details (413, 408) written here, before routing, in the request's language.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dgov.kernel.i18n import gettext as _


class RequestLimitsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        max_multipart: int,
        body_timeout: float,
        respond: Callable[[Request, int, str, str], object],
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_multipart = max_multipart
        self.body_timeout = body_timeout
        self.respond = respond

    def limit_for(self, headers: Headers) -> int:
        multipart = headers.get("content-type", "").lower().startswith("multipart/form-data")
        return self.max_multipart if multipart else self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit_for(headers)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, send, 413)
            return
        guard = _Guard(receive, send, limit, self.body_timeout)
        await self.app(scope, guard.receive, guard.send)
        if guard.failure is not None and not guard.started:
            await self._refuse(scope, send, guard.failure)
        elif guard.replace_with is not None:
            await self._refuse(scope, send, guard.replace_with)

    async def _refuse(self, scope: Scope, send: Send, status: int) -> None:
        request = Request(scope)
        if status == 413:
            title = _("The request is too large")
            detail = _(
                "Send a smaller body: the limit is {limit} MB.",
                limit=self.limit_for(request.headers) // 2**20,
            )
        else:
            title = _("The request took too long to arrive")
            detail = _("The body was not received within {seconds} seconds.", seconds=int(self.body_timeout))
        response = self.respond(request, status, title, detail)
        # The client may still be sending: tell it the connection ends here rather than read the rest.
        response.headers["Connection"] = "close"  # type: ignore[attr-defined]
        await response(scope, _disconnected, send)  # type: ignore[operator]


class _Guard:
    """One request's body accounting. Raising from `receive` would not reach the middleware: frameworks
    turn any error while reading the body into their own 400. So the body "ends" (a disconnect), and the
    app's answer is swallowed and replaced by ours."""

    def __init__(self, receive: Receive, send: Send, limit: int, timeout: float) -> None:
        self._receive, self._send, self.limit = receive, send, limit
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + timeout
        self.received = 0
        self.failure: int | None = None  # 413 or 408 once the body broke a limit
        self.started = False
        self.replace_with: int | None = None  # the app started answering after a failure

    async def receive(self) -> Message:
        if self.failure is not None:
            return {"type": "http.disconnect"}
        try:
            message = await asyncio.wait_for(
                self._receive(), timeout=max(self.deadline - self.loop.time(), 0.001)
            )
        except TimeoutError:
            self.failure = 408
            return {"type": "http.disconnect"}
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.failure = 413
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.failure is not None:
            if message["type"] == "http.response.start" and not self.started:
                self.started = True
                self.replace_with = self.failure
            return  # the app's own answer, which ours replaces
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}
