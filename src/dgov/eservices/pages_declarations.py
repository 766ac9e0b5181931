"""Citizens' page "Xác nhận": dossiers that name the logged-in person (a father not on record, a household
head) wait for them here; confirming or refusing is theirs alone (`declarations.decide`)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dgov.eservices import declarations
from dgov.eservices.pages_support import applicant_of, login_redirect, parse_uuid
from dgov.web.deps import get_runtime
from dgov.web.templating import page

router = APIRouter(include_in_schema=False)


@router.get("/xac-nhan")
async def declarations_page(request: Request) -> Response:
    me = await applicant_of(request)
    if me is None:
        return login_redirect(request)
    items = await declarations.for_person(get_runtime(request).db, me.principal, me.id_number)
    return await page(request, "eservices/declarations.html", {"items": items})


@router.post("/xac-nhan/{declaration_id}")
async def decide(request: Request, declaration_id: str) -> Response:
    me = await applicant_of(request)
    if me is None:
        return login_redirect(request)
    form = await request.form()
    answer = str(form.get("answer", ""))
    if answer not in ("confirm", "refuse"):
        return RedirectResponse("/xac-nhan", status_code=303)
    await declarations.decide(
        get_runtime(request).db,
        me.principal,
        me.id_number,
        parse_uuid(declaration_id),
        confirm=answer == "confirm",
    )
    return RedirectResponse("/xac-nhan", status_code=303)
