"""The developer's mail/SMS viewer: in the embedded shape, messages "sent" appear here, to an operator,
when DGOV_DEV_MAILBOX=true. Never in prod."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.identity import current_login, is_operator
from dgov.kernel.errors import Forbidden, NotFound
from dgov.notify.inbox import inbox, mark_read
from dgov.notify.models import Notification
from dgov.web.deps import get_runtime
from dgov.web.templating import add_template_package, page

router = APIRouter(include_in_schema=False)
add_template_package("dgov.notify")


@router.get("/dev/messages")
async def messages(request: Request) -> Response:
    """Shows activation and password-reset codes, so it needs both an explicit DGOV_DEV_MAILBOX=true and
    an operator's login. Being on this machine proves nothing: behind a same-host proxy every visitor's
    request comes from 127.0.0.1."""
    rt = get_runtime(request)
    settings = request.app.state.settings
    if settings.env == "prod" or not settings.dev_mailbox:
        raise NotFound()
    login = await current_login(request)
    if login is None:
        return RedirectResponse(
            "/login?" + urlencode({"next": "/dev/messages", "official": "1"}), status_code=303
        )
    if not is_operator(login.principal):
        raise Forbidden()
    async with rt.db.uow(readonly=True) as uow:
        rows = list(
            await uow.session.scalars(select(Notification).order_by(Notification.created_at.desc()).limit(50))
        )
    return await page(request, "notify/messages.html", {"messages": rows})


@router.get("/hop-thu")
async def inbox_page(request: Request) -> Response:

    login = await current_login(request)
    if login is None:
        return RedirectResponse("/login?" + urlencode({"next": "/hop-thu"}), status_code=303)
    rows = await inbox(get_runtime(request).db, login.principal, getattr(login.account, "id_number", None))
    return await page(
        request, "notify/inbox.html", {"messages": rows, "unread": sum(1 for m in rows if m.read_at is None)}
    )


@router.post("/hop-thu/da-doc")
async def inbox_mark_read(request: Request) -> Response:

    login = await current_login(request)
    if login is None:
        return RedirectResponse("/login", status_code=303)
    await mark_read(get_runtime(request).db, login.principal, getattr(login.account, "id_number", None))
    return RedirectResponse("/hop-thu", status_code=303)
