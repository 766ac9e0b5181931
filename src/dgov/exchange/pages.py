"""The operator's exchange page: members, services, access rights and recent traffic."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.exchange import pubsub_pages
from dgov.exchange.overview import operator_overview
from dgov.identity import current_login
from dgov.web.deps import get_runtime
from dgov.web.templating import add_template_package, page

add_template_package("dgov.exchange")
router = APIRouter(include_in_schema=False)


@router.get("/operator/exchange")
async def exchange_overview(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return RedirectResponse(
            "/login?" + urlencode({"next": request.url.path, "level": "2"}), status_code=303
        )
    data = await operator_overview(get_runtime(request).db, login.principal)
    return await page(request, "exchange/operator.html", data)


router.include_router(pubsub_pages.router)
