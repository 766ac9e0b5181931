"""The operator's client pages and the `dgov identity add-client` contract."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from idkit import OFFICIAL_PASSWORD, TOTP_SEED, code_at, count

from dgov.identity.clients import secret_matches
from dgov.identity.models import OAuthClient
from dgov.kernel.clock import FrozenClock

pytestmark = pytest.mark.usefixtures("id_web_ctx")


async def post(client: AsyncClient, path: str, data: dict[str, Any]) -> Any:
    if "csrftoken" not in client.cookies:
        await client.get("/login")
    return await client.post(path, data={**data, "csrftoken": client.cookies["csrftoken"]})


async def operator_login(client: AsyncClient, clock: FrozenClock, *, second_factor: bool = True) -> None:
    r = await post(client, "/login", {"username": "quantri", "password": OFFICIAL_PASSWORD})
    assert r.status_code == 303
    if second_factor:
        r = await post(client, "/login/second-factor", {"code": code_at(TOTP_SEED, clock.now()), "next": "/"})
        assert r.status_code == 303


async def test_a_level_2_operator_registers_a_client_and_sees_its_secret_once(
    client: AsyncClient, make_official: Any, id_clock: FrozenClock, db: Any
) -> None:
    await make_official("quantri", role="operator", agency="DGOV", unit="*", totp=TOTP_SEED)
    await operator_login(client, id_clock)
    listing = await client.get("/operator/clients")
    assert listing.status_code == 200
    form = {
        "client_id": "so-y-te",
        "name": "Sở Y tế Hà Nội",
        "redirect_uris": "https://syt.hanoi.example/callback",
        "scopes": ["openid", "profile"],
        "grant_types": ["authorization_code"],
    }
    created = await post(client, "/operator/clients", form)
    assert created.status_code == 200
    secret = created.text.split('<p class="key"><code>')[1].split("</code>")[0]
    assert len(secret) >= 32
    again = await client.get("/operator/clients")
    assert "so-y-te" in again.text and secret not in again.text
    # The page showed the real secret: the stored digest matches it (and only it).
    async with db.uow(readonly=True) as uow:
        row = await uow.session.get(OAuthClient, "so-y-te")
    assert row is not None and row.secret_hash is not None
    assert secret_matches(row.secret_hash, secret) and not secret_matches(row.secret_hash, secret + "x")
    assert await count(db, OAuthClient) == 1


async def test_bad_client_input_gives_field_errors_and_writes_nothing(
    client: AsyncClient, make_official: Any, id_clock: FrozenClock, db: Any
) -> None:
    await make_official("quantri", role="operator", agency="DGOV", unit="*", totp=TOTP_SEED)
    await operator_login(client, id_clock)
    r = await post(
        client,
        "/operator/clients",
        {
            "client_id": "x",
            "name": "",
            "redirect_uris": "ftp://nope",
            "scopes": ["profile"],
            "grant_types": ["authorization_code"],
        },
    )
    assert r.status_code == 422
    for field in ("client_id", "name", "redirect_uris", "scopes"):
        assert f'id="{field}"' in r.text
    assert 'class="error-summary"' in r.text
    assert await count(db, OAuthClient) == 0


async def test_an_operator_without_the_second_factor_is_refused(
    client: AsyncClient, make_official: Any, id_clock: FrozenClock, db: Any
) -> None:
    await make_official("quantri", role="operator", agency="DGOV", unit="*")
    await operator_login(client, id_clock, second_factor=False)
    assert (await client.get("/operator/clients")).status_code == 403
    r = await post(
        client,
        "/operator/clients",
        {
            "name": "X",
            "redirect_uris": "https://x.example/cb",
            "scopes": ["openid"],
            "grant_types": ["authorization_code"],
        },
    )
    assert r.status_code == 403
    assert await count(db, OAuthClient) == 0


@pytest.mark.slow
def test_cli_add_client_prints_the_secret_alone_on_the_last_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGOV_")}
    env.update(DGOV_DATA_DIR=str(tmp_path / "var"), DGOV_LOG_JSON="false")

    def dgov(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dgov", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert dgov("init", "--no-demo").returncode == 0
    ok = dgov(
        "identity",
        "add-client",
        "--client-id",
        "agency-app",
        "--scopes",
        "openid profile",
        "--redirect-uri",
        "https://agency.example/cb",
        "--grant",
        "authorization_code",
        "--grant",
        "refresh_token",
    )
    assert ok.returncode == 0, ok.stderr
    secret = ok.stdout.strip().splitlines()[-1]
    assert len(secret) >= 32 and " " not in secret
    public = dgov(
        "identity",
        "add-client",
        "--client-id",
        "mobile-app",
        "--scopes",
        "openid",
        "--redirect-uri",
        "http://127.0.0.1:9000/cb",
        "--public",
    )
    assert public.returncode == 0 and "PKCE" in public.stdout
    bad = dgov("identity", "add-client", "--client-id", "bad-app", "--scopes", "openid")
    assert bad.returncode == 2 and "redirect_uris" in bad.stderr
    listed = dgov("identity", "list-clients", "--json")
    assert (
        '"agency-app"' in listed.stdout and '"mobile-app"' in listed.stdout and "bad-app" not in listed.stdout
    )
    assert secret not in listed.stdout
