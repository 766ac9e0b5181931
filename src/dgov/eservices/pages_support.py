"""What the citizens' pages share: names of coded values, dates, the logged-in applicant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import segno
from starlette.requests import Request
from starlette.responses import RedirectResponse

from dgov.eservices.dossiers_citizen import Applicant
from dgov.identity import current_login
from dgov.kernel import clock
from dgov.kernel.errors import Forbidden, NotFound
from dgov.kernel.i18n import current_locale

FIELD_NAMES = {
    "civil_status": "Civil status",
    "residence": "Residence",
    "health_insurance": "Health insurance",
    "social_insurance": "Social insurance",
    "business": "Business",
    "judicial": "Judicial records",
    "construction": "Construction",
}
AGENCY_NAMES = {
    "BTP": "Ministry of Justice",
    "BCA": "Ministry of Public Security",
    "BHXH": "Vietnam Social Security",
    "BXD": "Ministry of Construction",
    "UBND": "People's Committees",
}
LEVEL_NAMES = {"full": "Fully online", "partial": "Partly online"}
STATUS_NAMES = {
    "draft": "Draft",
    "submitted": "Submitted",
    "received": "Received",
    "in_processing": "Being processed",
    "supplement_requested": "More information requested",
    "approved": "Approved",
    "rejected": "Rejected",
    "result_issued": "Result issued",
    "withdrawn": "Withdrawn by the applicant",
}
REGISTRY_NAMES = {
    "population": "National population database",
    "residence": "Residence database",
    "health_insurance": "Health insurance database",
    "civil_status": "Civil status database",
}


def lang() -> str:
    return current_locale.get()


def when(at: datetime | None) -> str:
    return at.astimezone(clock.VN_TZ).strftime("%d/%m/%Y %H:%M") if at else ""


def day(value: Any) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


async def applicant_of(request: Request) -> Applicant | None:
    login = await current_login(request)
    if login is None:
        return None
    if login.principal.kind != "citizen" or not login.account.id_number:
        raise Forbidden("Online public services are for citizens; log in with your personal ID number")
    return Applicant(login.principal, login.account.id_number, login.account.full_name)


def parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound() from None


def qr_svg(data: str) -> str:
    return segno.make(data, error="m").svg_inline(scale=3, omitsize=False)
