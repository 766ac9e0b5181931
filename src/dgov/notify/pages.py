"""The developer's mail/SMS viewer: in the embedded shape, messages "sent" appear here. Off in prod."""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlencode

from fastapi import APIRouter
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.identity import current_login
from dgov.kernel.errors import NotFound
from dgov.notify.inbox import inbox, mark_read
from dgov.notify.models import Notification
from dgov.web.deps import get_runtime
from dgov.web.templating import add_template_package, page

router = APIRouter(include_in_schema=False)
add_template_package("dgov.notify")


def _from_this_machine(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


@router.get("/dev/messages")
async def messages(request: Request) -> Response:
    rt = get_runtime(request)
    # The page shows activation and password-reset codes: a node left at the default env (dev) but
    # reachable from a network must not hand them to anyone who asks, so only this machine sees them.
    if rt.settings.env == "prod" or not _from_this_machine(request):
        raise NotFound()
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
