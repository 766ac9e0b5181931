"""The officials' search page: a registry, a purpose (always), and an ID number or a name narrowed by
birth year and province. Searches are POSTed with the CSRF token, so no link elsewhere can make one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dgov.identity import IdNumberError, current_login, validate_id_number
from dgov.kernel.errors import ValidationFailed
from dgov.kernel.i18n import gettext as _
from dgov.registries import admin_units, service
from dgov.registries.api_support import reader_name, registries_context
from dgov.registries.definitions import Registry
from dgov.registries.definitions import registry as definition
from dgov.registries.pages_present import lang, rows_of
from dgov.registries.pages_support import form_errors, login_redirect, readable, record_url
from dgov.web.templating import page

router = APIRouter(include_in_schema=False)

PER_PAGE = 20
SUMMARY = ("full_name", "birth_date", "sex", "permanent_address")


def _province_options() -> list[tuple[str, str]]:
    try:
        units = admin_units.provinces()
    except admin_units.CODE_LIST_ERRORS:  # no code list: the field still takes a code
        units = []
    return [("", _("Any province"))] + [(u.code, f"{u.name} ({u.code})") for u in units]


async def _search_page(
    request: Request,
    regs: list[Registry],
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    results: list[dict[str, Any]] | None = None,
    page_no: int = 1,
    more: bool = False,
    status: int = 200,
) -> Response:
    return await page(
        request,
        "registries/search.html",
        {
            "registries": [(r.name, r.title(lang())) for r in regs],
            "provinces": _province_options(),
            "values": values,
            "errors": errors or {},
            "results": results,
            "page_no": page_no,
            "more": more,
        },
        status=status,
    )


@router.get("/registries")
async def search_form(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    regs = await readable(request, login.principal)
    return await _search_page(request, regs, {"registry": "population"})


def _search_form_errors(form: dict[str, str], names: set[str]) -> tuple[dict[str, str], int | None]:
    """The search form's field errors, and the birth year asked for."""
    errors: dict[str, str] = {}
    if form.get("registry") not in names:
        errors["registry"] = _("Choose a registry")
    if not form.get("purpose"):
        errors["purpose"] = _("State why you need this data")
    id_number = form.get("id_number", "")
    if id_number and form.get("registry") == "population":
        try:
            validate_id_number(id_number)
        except IdNumberError as exc:
            errors["id_number"] = _(exc.msgid)
    year: int | None = None
    if form.get("birth_year"):
        if form["birth_year"].isdigit() and 1800 <= int(form["birth_year"]) <= 2200:
            year = int(form["birth_year"])
        else:
            errors["birth_year"] = _("Enter a year such as 1990")
    if not id_number and not form.get("name") and "purpose" not in errors:
        errors["name"] = _("Search by ID number or by name")
    return errors, year


@router.post("/registries")
async def search(request: Request) -> Response:
    login = await current_login(request)
    if login is None:
        return login_redirect(request)
    regs = await readable(request, login.principal)
    form = {
        k: v.strip() for k, v in (await request.form()).items() if isinstance(v, str) and k != "csrftoken"
    }
    errors, year = _search_form_errors(form, {r.name for r in regs})
    id_number = form.get("id_number", "")
    page_no = int(form["page"]) if form.get("page", "").isdigit() and int(form["page"]) >= 1 else 1
    if errors:
        return await _search_page(request, regs, form, errors=errors, status=422)
    reg = definition(form["registry"])
    ctx = registries_context(request)
    try:
        found = await service.search(
            ctx,
            login.principal,
            reg.name,
            purpose=form["purpose"],
            key=id_number or None,
            name=form.get("name") or None,
            birth_year=year,
            province=form.get("province") or None,
            limit=PER_PAGE,
            offset=(page_no - 1) * PER_PAGE,
            channel="page",
            accessor_name=reader_name(login),
        )
    except ValidationFailed as exc:
        return await _search_page(request, regs, form, errors=form_errors(exc), status=422)
    name_field = reg.meta.get("index", {}).get("name", "")
    results = [
        {
            "key": v.key,
            "url": record_url(request, login.principal, reg.name, v.key, form["purpose"]),
            "title": str(v.data.get(name_field, "") or v.key),
            "rows": [r for r in rows_of(reg, v.data) if r.name in SUMMARY and r.name != name_field],
        }
        for v in found
    ]
    return await _search_page(
        request, regs, form, results=results, page_no=page_no, more=len(found) == PER_PAGE
    )
