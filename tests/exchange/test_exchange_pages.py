"""The operator's exchange page: members, services, rights and recent traffic, for an operator at
level 2 only."""

from __future__ import annotations

from typing import Any

import pyotp
from exkit import AN, INSTANCE, POPULATION, PURPOSE
from httpx import AsyncClient

from dgov.exchange import ONE_STOP, call_service
from dgov.identity import SYSTEM
from dgov.identity import service as id_service
from dgov.identity.context import IdentityContext
from dgov.web.runtime import Runtime

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PASSWORD = "canbo-demo-2026!"


async def post(client: AsyncClient, path: str, data: dict[str, Any]) -> Any:
    if "csrftoken" not in client.cookies:
        await client.get("/login")
    return await client.post(path, data={**data, "csrftoken": client.cookies["csrftoken"]})


async def official(rt: Runtime, username: str, role: str, totp: str | None = None) -> None:
    ctx = IdentityContext(db=rt.db, secret=rt.secret, issuer=rt.settings.issuer)
    rt.extras["identity"] = ctx
    await id_service.add_official(
        ctx,
        SYSTEM,
        username=username,
        agency="DGOV",
        role=role,
        unit="*",
        password=PASSWORD,
        full_name="Quản trị",
        totp_secret=totp,
    )


async def test_operator_sees_directory_and_traffic(xrt: Runtime, client: AsyncClient) -> None:
    await call_service(
        xrt, client=f"{INSTANCE}/{ONE_STOP}", service=POPULATION, path=f"/records/{AN}", purpose=PURPOSE
    )
    assert (await client.get("/operator/exchange")).status_code == 303  # not logged in: to the login page

    await official(xrt, "quantri", "operator", totp=SEED)
    assert (await post(client, "/login", {"username": "quantri", "password": PASSWORD})).status_code == 303
    r = await post(client, "/login/second-factor", {"code": pyotp.TOTP(SEED).now(), "next": "/"})
    assert r.status_code == 303
    page = await client.get("/operator/exchange")
    assert page.status_code == 200
    html = page.text
    for expected in (
        "VN/GOV/UBND-00004",
        "VN/GOV/BCA/CSDLQGDC/population",
        "GET /records/{key}",
        PURPOSE,
        "VN/GOV/UBND-00004/MOTCUA",
    ):
        assert expected in html, expected
    assert AN not in html  # the traffic table never shows an ID number


async def test_an_official_is_refused(xrt: Runtime, client: AsyncClient) -> None:
    await official(xrt, "canbo.dancu", "registry_officer")
    await post(client, "/login", {"username": "canbo.dancu", "password": PASSWORD})
    assert (await client.get("/operator/exchange")).status_code == 403
