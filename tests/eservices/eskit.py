"""Helpers for the eservices tests (plain functions and constants; fixtures live in conftest.py)."""

from __future__ import annotations

import io
import uuid
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PdfFileWriter

from dgov.identity import SYSTEM, Principal, RoleGrant
from dgov.identity import login as login_uc
from dgov.identity.citizens import add_citizen
from dgov.identity.context import IdentityContext

AN_ACCOUNT = uuid.UUID("0190aaaa-0000-7000-8000-000000000001")
BINH_ACCOUNT = uuid.UUID("0190aaaa-0000-7000-8000-000000000002")
CUONG_ACCOUNT = uuid.UUID("0190aaaa-0000-7000-8000-000000000003")


def citizen(account: uuid.UUID, level: int = 2) -> Principal:
    return Principal(kind="citizen", account_id=account, level=level)


def official(agency: str, role: str, unit: str) -> Principal:
    return Principal(
        kind="official", account_id=uuid.uuid4(), level=2, roles=(RoleGrant(agency, role, unit),)
    )


CITIZEN_PASSWORD = "mat-khau-thu-nghiem-2026"


async def citizen_login(
    runtime: object, http: object, id_number: str, full_name: str, born: object, sex: str
) -> None:
    """Open a citizen account (the population registry must know the person) and log in (level 1)."""

    rt: Any = runtime
    ctx = rt.extras.get("identity")
    if ctx is None:
        ctx = rt.extras["identity"] = IdentityContext(db=rt.db, secret=rt.secret, issuer=rt.settings.issuer)
    await add_citizen(
        ctx,
        SYSTEM,
        id_number=id_number,
        full_name=full_name,
        birth_date=born,
        sex=sex,
        password=CITIZEN_PASSWORD,
    )
    step = await login_uc.password_step(
        ctx, identifier=id_number, password=CITIZEN_PASSWORD, ip=None, user_agent=None
    )
    assert not step.second_factor_required
    http.cookies.set("dgov_session", step.token)  # type: ignore[attr-defined]


def pdf_bytes(text: str = "Giay chung sinh") -> bytes:
    """A small real PDF, written by pyHanko (the documents domain checks the structure of uploads)."""

    w = PdfFileWriter()
    stream = generic.StreamObject(stream_data=f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())
    page = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(n) for n in (0, 0, 595, 842)]
            ),
            generic.pdf_name("/Contents"): w.add_object(stream),
            generic.pdf_name("/Resources"): generic.DictionaryObject(),
        }
    )
    w.insert_page(page)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()
