"""Shared by the documents tests: demo-like citizens and officials, logging in on the test client, and
sample files. A module of its own, not the conftest, so that `from docskit import …` never picks up
another folder's conftest."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from datetime import date
from typing import Any

from httpx import AsyncClient
from PIL import Image
from weasyprint import HTML

from dgov.documents import Holder
from dgov.identity import SYSTEM, Principal, RoleGrant
from dgov.identity import login as login_uc
from dgov.identity import service as id_service
from dgov.identity.context import IdentityContext
from dgov.web.runtime import Runtime

AN, BINH, CUONG = "001090012345", "001192034567", "079085001234"
PASSWORD = "dan-so-mot-lan-2026"
OFFICIAL_PASSWORD = "canbo-demo-2026!"


def identity_ctx(runtime: Runtime) -> IdentityContext:
    ctx = runtime.extras.get("identity")
    if ctx is None:
        ctx = runtime.extras["identity"] = IdentityContext(
            db=runtime.db, secret=runtime.secret, issuer=runtime.settings.issuer
        )
    assert isinstance(ctx, IdentityContext)
    return ctx


async def new_citizen(runtime: Runtime, id_number: str, name: str, born: date, sex: str = "M") -> Any:
    return await id_service.add_citizen(
        identity_ctx(runtime),
        SYSTEM,
        id_number=id_number,
        full_name=name,
        birth_date=born,
        sex=sex,
        password=PASSWORD,
    )


async def log_in(runtime: Runtime, http: AsyncClient, identifier: str, password: str = PASSWORD) -> None:
    step = await login_uc.password_step(
        identity_ctx(runtime), identifier=identifier, password=password, ip=None, user_agent=None
    )
    assert not step.second_factor_required
    http.cookies.set("dgov_session", step.token)


def citizen(account_id: Any, level: int = 1) -> Principal:
    return Principal(kind="citizen", account_id=account_id, level=level)


def holder(account: Any) -> Holder:
    return Holder(id_number=account.id_number, account_id=account.id)


def official(role: str, agency: str, unit: str, level: int = 2) -> Principal:

    return Principal(
        kind="official", account_id=uuid.uuid4(), level=level, roles=(RoleGrant(agency, role, unit),)
    )


# --- files ---------------------------------------------------------------------------------------------


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def jpeg_bytes() -> bytes:

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def pdf_bytes(text: str = "Giấy báo sinh") -> bytes:

    pdf = HTML(string=f"<p>{text}</p>").write_pdf()
    assert isinstance(pdf, bytes)
    return pdf


def exe_bytes() -> bytes:
    return (
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"
        + b"\x00" * 200
        + b"This program cannot be run in DOS mode"
    )
