"""Operator page for pub/sub: subscriptions with their delivery counts, dead letters (redeliver), recent
deliveries with their attempt logs, a form to subscribe a member and one to replay from an offset."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.exchange import pubsub, webhook_urls
from dgov.exchange import pubsub_subscriptions as subscriptions
from dgov.identity import Principal, current_login
from dgov.kernel.errors import DomainError, Forbidden, NotFound
from dgov.kernel.i18n import gettext as _
from dgov.web.deps import get_runtime
from dgov.web.templating import add_template_package, page

add_template_package("dgov.exchange")
router = APIRouter(include_in_schema=False)
PATH = "/operator/exchange/events"
FIELD_ORDER = ["member", "subsystem", "event_type", "url", "filters", "max_attempts", "from_offset"]


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("/login?" + urlencode({"next": request.url.path, "level": "2"}), status_code=303)


async def _principal(request: Request) -> Principal | None:
    login = await current_login(request)
    return None if login is None else login.principal


async def _render(
    request: Request,
    p: Principal,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    db = get_runtime(request).db
    try:
        subs = await subscriptions.list_subscriptions(db, p)
    except Forbidden:
        if p.level < 2:
            raise Forbidden("Operators must log in with their second factor (level 2)") from None
        raise
    dead = await subscriptions.list_deliveries(db, p, status="dead", limit=50)
    recent = await subscriptions.list_deliveries(db, p, limit=30)
    shown = request.query_params.get("delivery")
    attempts: list[subscriptions.AttemptView] = []
    if shown:
        try:
            attempts = await subscriptions.delivery_attempts(db, p, uuid.UUID(shown))
        except (ValueError, NotFound):
            shown = None
    return await page(
        request,
        "exchange/events.html",
        {
            "subscriptions": subs,
            "dead": dead,
            "recent": recent,
            "event_types": await pubsub.list_event_types(db),
            "shown": shown,
            "attempts": attempts,
            "errors": errors or {},
            "values": values or {"max_attempts": pubsub.DEFAULT_MAX_ATTEMPTS},
            "notice": notice,
            "order": FIELD_ORDER,
        },
        status=status,
    )


def _field_errors(exc: DomainError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors:
        out.setdefault(str(e.loc[0]), _(e.message, **e.params))
    return out or {"member": _(exc.detail or exc.title, **exc.params)}


@router.get(PATH)
async def events_page(request: Request) -> Response:
    p = await _principal(request)
    if p is None:
        return _login_redirect(request)
    return await _render(request, p)


@router.post(PATH)
async def subscribe(request: Request) -> Response:
    p = await _principal(request)
    if p is None:
        return _login_redirect(request)
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrftoken"}
    filters: dict[str, str] = {}
    errors: dict[str, str] = {}
    for line in values.get("filters", "").splitlines():
        if not line.strip():
            continue
        key, sep, val = line.partition("=")
        if not sep:
            errors["filters"] = _("Write each filter as key=value: {item}", item=line.strip())
            break
        filters[key.strip()] = val.strip()
    try:
        max_attempts = int(values.get("max_attempts") or pubsub.DEFAULT_MAX_ATTEMPTS)
    except ValueError:
        errors["max_attempts"] = _("Between 1 and 50 attempts")
        max_attempts = pubsub.DEFAULT_MAX_ATTEMPTS
    if errors:
        return await _render(request, p, errors=errors, values=values, status=422)
    try:
        sub = await subscriptions.add_subscription(
            get_runtime(request).db,
            p,
            member=values.get("member", ""),
            subsystem=values.get("subsystem", ""),
            event_type=values.get("event_type", ""),
            url=values.get("url", "").strip(),
            filters=filters,
            max_attempts=max_attempts,
            url_policy=webhook_urls.UrlPolicy.from_settings(get_runtime(request).settings),
        )
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        return await _render(request, p, errors=_field_errors(exc), values=values, status=422)
    notice = _("Subscription {id} created.", id=str(sub.id))
    return await _render(request, p, notice=notice)


@router.post(PATH + "/{sub_id}/replay")
async def replay(sub_id: uuid.UUID, request: Request) -> Response:
    p = await _principal(request)
    if p is None:
        return _login_redirect(request)
    form = await request.form()
    raw = str(form.get("from_offset", "")).strip()
    if not raw.isdigit():
        errors = {"from_offset": _("Give a stream offset (0 or more)")}
        return await _render(request, p, errors=errors, values={"from_offset": raw}, status=422)
    rt = get_runtime(request)
    n = await subscriptions.replay(rt.db, p, sub_id, from_offset=int(raw), node=rt.settings.node_name)
    return await _render(request, p, notice=_("{n} events queued for delivery again.", n=n))


@router.post(PATH + "/{sub_id}/disable")
async def disable(sub_id: uuid.UUID, request: Request) -> Response:
    p = await _principal(request)
    if p is None:
        return _login_redirect(request)
    await subscriptions.disable_subscription(get_runtime(request).db, p, sub_id)
    return RedirectResponse(PATH, status_code=303)


@router.post(PATH + "/deliveries/{delivery_id}/redeliver")
async def redeliver(delivery_id: uuid.UUID, request: Request) -> Response:
    p = await _principal(request)
    if p is None:
        return _login_redirect(request)
    rt = get_runtime(request)
    await subscriptions.redeliver(rt.db, p, delivery_id, node=rt.settings.node_name)
    return RedirectResponse(PATH + "?" + urlencode({"delivery": str(delivery_id)}), status_code=303)
