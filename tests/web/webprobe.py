"""Probe routes that exist only in the tests, so the error mapping, CSRF and logging can be exercised
before any domain brings routes of its own."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Form
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from dgov.kernel.errors import FieldError, ValidationFailed
from dgov.web.templating import render

# Something the 500 response must never show: it is in the exception message only.
SECRET_MARKER = "s3cret-internal-state-7f3a"

probe = APIRouter()


def _invalid() -> None:
    raise ValidationFailed(
        errors=[
            FieldError(("child", "given_name"), "This field is required"),
            FieldError(("child", "birth_date"), "Enter a date as YYYY-MM-DD"),
        ]
    )


@probe.get("/_probe/invalid")
async def page_invalid() -> None:
    _invalid()


@probe.get("/api/_probe/invalid")
async def api_invalid() -> None:
    _invalid()


@probe.get("/api/_probe/items")
async def api_items(count: int) -> dict[str, int]:
    return {"count": count}


@probe.get("/_probe/boom")
async def page_boom() -> None:
    raise RuntimeError(SECRET_MARKER)


@probe.get("/api/_probe/boom")
async def api_boom() -> None:
    raise RuntimeError(SECRET_MARKER)


@probe.get("/_probe/form")
async def form_page(request: Request) -> Response:
    # Rendering any template asks for the CSRF token, which is what sets the csrftoken cookie.
    return render(request, "home.html")


@probe.post("/_probe/form")
async def form_submit(name: Annotated[str, Form()]) -> dict[str, str]:
    return {"name": name}


@probe.post("/api/_probe/echo")
async def api_echo(payload: Annotated[dict[str, Any], Body()]) -> dict[str, object]:
    return {"received": payload}


@probe.post("/api/_probe/write")
async def api_write(request: Request) -> dict[str, str]:
    """A real, durable write that changes nothing (as /readyz does): fails for real on a read-only or
    full database."""
    runtime = request.app.state.runtime
    async with runtime.db.uow() as uow:
        await uow.session.execute(text("UPDATE alembic_version SET version_num = version_num"))
        await uow.commit()
    return {"status": "written"}
