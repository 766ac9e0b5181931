"""Dữ liệu của tôi: a citizen's own records across the registries, since when each value has held, and
everyone who read them."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dgov.identity import can, current_login
from dgov.kernel.errors import Forbidden, NotFound
from dgov.registries import service
from dgov.registries.api_support import registries_context
from dgov.registries.definitions import registry as definition
from dgov.registries.engine import RecordView
from dgov.registries.pages_present import label, lang, log_view, owner, rows_of, when
from dgov.registries.pages_support import login_redirect
from dgov.web.templating import page

router = APIRouter(include_in_schema=False)


def since_of(versions: list[RecordView]) -> dict[str, datetime]:
    """For each field of the newest version, since when it has held its value."""
    current = versions[0].data
    since: dict[str, datetime] = {}
    for name, value in current.items():
        at = versions[0].valid_from
        for older in versions[1:]:
            if older.data.get(name) != value:
                break
            at = older.valid_from
        since[name] = at
    return since


@router.get("/my-data")
async def my_data(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    p = login.principal
    id_number = login.account.id_number
    if not can(p, "registries.my_data.view") or not id_number:
        raise Forbidden("This page shows a citizen's own data; log in with your personal ID number")
    ctx = registries_context(request)
    cards = []
    for versions in await service.my_history(ctx, p, id_number):
        current = versions[0]
        try:
            reg = definition(current.registry)
        except NotFound:
            continue
        cards.append(
            {
                "title": reg.title(lang()),
                "owner": owner(reg),
                "key": current.key,
                "key_label": label(reg, reg.key_field),
                "version": current.version,
                "changed": when(current.valid_from),
                "rows": rows_of(reg, current.data, since_of(versions)),
            }
        )
    log = log_view(await service.access_log(ctx, p, id_number))
    return await page(
        request, "registries/my_data.html", {"cards": cards, "log": log, "id_number": id_number}
    )
