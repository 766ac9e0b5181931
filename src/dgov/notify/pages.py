"""The developer's mail/SMS viewer: in the embedded shape, messages "sent" appear here. Off in prod."""

from __future__ import annotations

from ipaddress import ip_address

from fastapi import APIRouter
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from dgov.kernel.errors import NotFound
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
