"""Member-facing pub/sub API under /api/exchange/v1: a member's subsystem manages its own subscriptions,
looks at its deliveries and dead letters, redelivers and replays.

The caller is authenticated exactly as at the gateway: it names itself in `Information-Mediator-Client`
and signs the request (RFC 9421, covering @method, @target-uri, content-digest and that header) with its
subsystem's registered key; the nonce, `created` and revocation checks are the gateway's own. A
browser session is not accepted here (these paths carry no CSRF token): operators use the pages or
the command line, which call the same use cases. Errors are RFC 9457 problem details.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from dgov.exchange import httpsig, pubsub, pubsub_inbox, webhook_urls, webhooks
from dgov.exchange import pubsub_subscriptions as subscriptions
from dgov.exchange.gateway import gateway_for
from dgov.exchange.gateway_wire import (
    CLIENT_HEADER,
    XROAD_CLIENT_HEADER,
    Incoming,
    Refused,
    public_target_uri,
)
from dgov.identity import Principal
from dgov.kernel.errors import NotFound, Unauthenticated
from dgov.kernel.i18n import gettext as _
from dgov.web.deps import get_runtime

router = APIRouter(prefix="/api/exchange/v1", tags=["exchange events"])


def _target_uri(request: Request) -> str:
    """This node's public base URL and the raw path: what signatures name (see gateway_wire)."""
    scope = request.scope
    raw = scope.get("raw_path") or scope["path"].encode()
    return public_target_uri(get_runtime(request).settings.issuer, raw, scope.get("query_string", b""))


async def caller(request: Request) -> Principal:
    """The signed member subsystem, as a client principal named by its address."""
    headers = httpsig.headers_of(request.headers.items())
    if CLIENT_HEADER not in headers and XROAD_CLIENT_HEADER not in headers:
        raise Unauthenticated(
            "Name your subsystem in the Information-Mediator-Client header and sign the request",
        )
    gw = gateway_for(get_runtime(request))
    incoming = Incoming(
        method=request.method,
        target_uri=_target_uri(request),
        path=request.url.path,
        query={},
        headers=headers,
        body=await request.body(),
    )
    try:
        # The gateway's own checks (signature, digest, created, nonce, revocation), not a copy of them.
        client = await gw.authenticate(incoming)
    except Refused as r:
        error = NotFound if r.status == 404 else Unauthenticated
        raise error(r.detail, params=r.params, extra={"code": r.code}) from None
    return Principal(kind="client", client_id=str(client.address))


Caller = Annotated[Principal, Depends(caller)]


def _member_of(p: Principal) -> str | None:
    if p.kind == "client" and p.client_id and p.client_id.count("/") == 3:
        _inst, cls, code, _sub = p.client_id.split("/")
        return f"{cls}/{code}"
    return None


def _subsystem_of(p: Principal) -> str | None:
    return p.client_id.split("/")[3] if _member_of(p) and p.client_id else None


class NewSubscription(BaseModel):
    event_type: str = Field(max_length=100, examples=["person.born"])
    url: str = Field(max_length=1000, examples=["https://bhxh.example.vn/hooks/events"])
    filters: dict[str, str] = Field(default_factory=dict, examples=[{"province_code": "01"}])
    max_attempts: int = pubsub.DEFAULT_MAX_ATTEMPTS


class Replay(BaseModel):
    from_offset: int = Field(ge=0)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type="application/json")


@router.get("/event-types")
async def event_types(request: Request) -> Response:
    """The event types of this node, with the JSON Schema of their data."""
    rows = await pubsub.list_event_types(get_runtime(request).db)
    return _json(
        [
            {"name": t.name, "owner": t.owner, "description": t.description, "schema": t.schema}
            for t in rows
            if t.status == "active"
        ]
    )


@router.get("/subscriptions")
async def my_subscriptions(request: Request, p: Caller) -> Response:
    """The caller member's subscriptions (every subsystem of the member)."""
    db = get_runtime(request).db
    rows = await subscriptions.list_subscriptions(db, p, member=_member_of(p))
    return _json([s.as_json() for s in rows])


@router.post("/subscriptions", status_code=201)
async def create_subscription(body: NewSubscription, request: Request, p: Caller) -> Response:
    member, subsystem = _member_of(p) or "", _subsystem_of(p) or ""
    sub = await subscriptions.add_subscription(
        get_runtime(request).db,
        p,
        member=member,
        subsystem=subsystem,
        event_type=body.event_type,
        url=body.url,
        filters=body.filters,
        max_attempts=body.max_attempts,
        url_policy=webhook_urls.UrlPolicy.from_settings(get_runtime(request).settings),
    )
    return _json(sub.as_json(), 201)


@router.get("/subscriptions/{sub_id}")
async def one_subscription(sub_id: uuid.UUID, request: Request, p: Caller) -> Response:
    sub = await subscriptions.get_subscription(get_runtime(request).db, p, sub_id)
    return _json(sub.as_json())


@router.delete("/subscriptions/{sub_id}", status_code=204)
async def cancel_subscription(sub_id: uuid.UUID, request: Request, p: Caller) -> Response:
    await subscriptions.disable_subscription(get_runtime(request).db, p, sub_id)
    return Response(status_code=204)


@router.get("/subscriptions/{sub_id}/deliveries")
async def deliveries(
    sub_id: uuid.UUID,
    request: Request,
    p: Caller,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|dead)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Deliveries of a subscription, newest first; `status=dead` lists its dead letters."""
    rows = await subscriptions.list_deliveries(
        get_runtime(request).db, p, subscription_id=sub_id, status=status, limit=limit
    )
    return _json([d.as_json() for d in rows])


@router.post("/subscriptions/{sub_id}/replay")
async def replay(sub_id: uuid.UUID, body: Replay, request: Request, p: Caller) -> Response:
    """Deliver again every matching event from a stream offset on."""
    rt = get_runtime(request)
    n = await subscriptions.replay(rt.db, p, sub_id, from_offset=body.from_offset, node=rt.settings.node_name)
    return _json({"queued": n, "from_offset": body.from_offset, "detail": _("{n} events queued", n=n)}, 202)


@router.get("/deliveries/{delivery_id}/attempts")
async def attempts(delivery_id: uuid.UUID, request: Request, p: Caller) -> Response:
    """The delivery log: every attempt with its status code, duration and error."""
    rows = await subscriptions.delivery_attempts(get_runtime(request).db, p, delivery_id)
    return _json([a.as_json() for a in rows])


@router.post("/deliveries/{delivery_id}/redeliver", status_code=202)
async def redeliver(delivery_id: uuid.UUID, request: Request, p: Caller) -> Response:
    rt = get_runtime(request)
    await subscriptions.redeliver(rt.db, p, delivery_id, node=rt.settings.node_name)
    return _json({"queued": 1}, 202)


@router.post("/webhook-test", status_code=204, include_in_schema=False)
async def webhook_test(request: Request) -> Response:
    """A receiver for trying subscriptions out (the demo's point here): it checks the delivery's digest
    and signature against this node's key, answers 204 when they hold and 401 otherwise, keeps nothing."""
    rt = get_runtime(request)
    try:
        webhooks.verify_delivery(
            url=_target_uri(request),
            headers=dict(request.headers.items()),
            body=await request.body(),
            node_public_pem=rt.node_key.public_pem(),
        )
    except httpsig.SignatureError as exc:
        raise Unauthenticated(str(exc), extra={"code": exc.reason}) from None
    return Response(status_code=204)


@router.post("/inbox", include_in_schema=False)
async def inbox(request: Request) -> Response:
    """Where a subscription on another node delivers (federation): kept once when signed by a node this
    node trusts (`dgov exchange trust-node`), 401 otherwise."""
    rt = get_runtime(request)
    try:
        got = await pubsub_inbox.receive(
            rt.db, url=_target_uri(request), headers=dict(request.headers.items()), body=await request.body()
        )
    except httpsig.SignatureError as exc:
        raise Unauthenticated(str(exc), extra={"code": exc.reason}) from None
    return _json({"event_id": str(got.event_id), "new": got.new}, 200)
